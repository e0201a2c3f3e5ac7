"""Guidance: ``guided = ref + w * (main - ref)``; objects differ only in how ``ref`` is made.

Every guidance object lists *terms*; each term names a reference prediction and
a weight ``w``. With several terms (e.g. auto-guidance and classifier-free
guidance together) the guided prediction is

    guided = main + sum_i (w_i - 1) * (main - ref_i)

which for a single term is exactly ``ref + w * (main - ref)``. References come
from one of three sources:

- ``'drop'``: the same network with some condition modalities removed (its
  ``<modality>_present`` flag set to False) — classifier-free guidance. All such
  references and the main prediction are evaluated in **one** forward of a
  stacked batch.
- ``'weak'``: a weaker conditional network (the generator's weak model) —
  auto-guidance.
- ``'perturbed'``: the main network with dropout switched on — zero-cost
  auto-guidance without a second model.

Each term's weight follows its guidance object's ``start``/``stop`` window (the
fraction of sampling steps where it applies) and ``schedule``.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from mdkit.registry import GUIDANCE

__all__ = ['BaseGuidance', 'NoGuidance', 'GuidanceTerm', 'SCALE_SCHEDULES', 'dropout_perturbed']


def _ramp(progress: float) -> float:
    return progress


def _cosine(progress: float) -> float:
    return 0.5 * (1.0 - math.cos(math.pi * progress))


#: Scale schedules ``f(p)``: the weight at progress ``p`` in [0, 1] through the
#: active window (0 = its first, noisiest step) is ``1 + (w - 1) * f(p)``.
SCALE_SCHEDULES: dict[str, Callable[[float], float]] = {
    'constant': lambda p: 1.0,
    'linear_increase': _ramp,
    'linear_decrease': lambda p: 1.0 - _ramp(p),
    'cosine_increase': _cosine,
    'cosine_decrease': lambda p: 1.0 - _cosine(p),
}


@dataclass(frozen=True)
class GuidanceTerm:
    """One reference prediction and the guidance object that weights it.

    Args:
        source (str): ``'drop'``, ``'weak'`` or ``'perturbed'``.
        scale (float): The term's guidance weight ``w`` before scheduling.
        owner (BaseGuidance): Gives the window and schedule.
        drop (tuple[str, ...]): Modalities removed for ``'drop'``.
        dropout (float): Dropout probability for ``'perturbed'``.
    """

    source: str
    scale: float
    owner: BaseGuidance
    drop: tuple = ()
    dropout: float = 0.0

    def weight(self, step_index: int, num_steps: int) -> float:
        """The weight at ``step_index`` of ``num_steps``; 1.0 (no effect) outside the window."""
        return self.owner.weight_at(self.scale, step_index, num_steps)


def _modal_null(cond: dict, drop: tuple) -> dict:
    """``cond`` with the ``<m>_present`` flags of the dropped modalities set to False."""
    out = dict(cond)
    for m in drop:
        out[f'{m}_present'] = torch.zeros_like(cond[f'{m}_present'])
    return out


def _stack_conds(conds: list) -> dict:
    out = {}
    for k, v in conds[0].items():
        out[k] = torch.cat([c[k] for c in conds], 0) if torch.is_tensor(v) else v
    return out


@contextmanager
def dropout_perturbed(network: nn.Module, p: float):
    """Run ``network`` with every dropout active at probability ``p``, then restore it.

    Covers ``nn.Dropout*`` modules and the attention-weight dropout of mdkit's
    ``MultiHeadAttention`` and torch's ``nn.MultiheadAttention``. Only
    dropout-bearing modules switch to training mode; normalisation layers keep
    their state.

    Raises:
        ValueError: ``network`` has no dropout to perturb.
    """
    from mdkit.models.fusion.attention import MultiHeadAttention
    saved = []
    for m in network.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            saved.append((m, 'p', m.p, m.training))
        elif isinstance(m, (MultiHeadAttention, nn.MultiheadAttention)):
            saved.append((m, 'dropout', m.dropout, m.training))
    if not saved:
        raise ValueError(f'{type(network).__name__} has no dropout layers; dropout-perturbed '
                         "auto-guidance needs them (use reference='weak' with a weak model "
                         'instead)')
    try:
        for m, attr, _, _ in saved:
            setattr(m, attr, float(p))
            m.training = True
        yield network
    finally:
        for m, attr, value, training in saved:
            setattr(m, attr, value)
            m.training = training


class BaseGuidance:
    """Common part of every guidance: scale, active window, schedule, evaluation.

    Subclasses implement :meth:`terms`; :meth:`wrap` evaluates them.

    Args:
        scale (float): Guidance weight ``w``; 1 returns the main prediction.
            Defaults to 1.0.
        start (float): Fraction of sampling steps after which guidance applies.
            Defaults to 0.0.
        stop (float): Fraction of sampling steps after which it stops. Defaults to 1.0.
        schedule (str | Callable): How the weight moves through the window:
            a name in :data:`SCALE_SCHEDULES` or ``f(progress) -> float``;
            the weight is ``1 + (w - 1) * f(p)``. Defaults to 'constant'.
    """

    def __init__(self, scale: float = 1.0, start: float = 0.0, stop: float = 1.0,
                 schedule: str | Callable = 'constant'):
        if not 0.0 <= start <= stop <= 1.0:
            raise ValueError(f'need 0 <= start <= stop <= 1, got start={start}, stop={stop}')
        if isinstance(schedule, str):
            if schedule not in SCALE_SCHEDULES:
                raise ValueError(f'unknown guidance schedule {schedule!r}; valid: '
                                 f'{", ".join(sorted(SCALE_SCHEDULES))} or a callable')
            self._schedule_fn = SCALE_SCHEDULES[schedule]
        elif callable(schedule):
            self._schedule_fn = schedule
        else:
            raise TypeError(f'schedule must be a name or a callable, got {type(schedule).__name__}')
        self.scale = float(scale)
        self.start = float(start)
        self.stop = float(stop)
        self.schedule = schedule

    # -- window and schedule -----------------------------------------------------------
    def active(self, step_index: int, num_steps: int) -> bool:
        """Whether guidance applies at ``step_index`` (0-based) of ``num_steps``."""
        frac = step_index / max(num_steps, 1)
        return self.start <= frac < self.stop

    def weight_at(self, scale: float, step_index: int, num_steps: int) -> float:
        """Scheduled weight for a term of weight ``scale``; 1.0 outside the window."""
        if scale == 1.0 or not self.active(step_index, num_steps):
            return 1.0
        # progress through the window's own steps: 0 at its first, 1 at its last
        first = math.ceil(self.start * num_steps)
        last = math.ceil(self.stop * num_steps) - 1
        p = 0.0 if last <= first else (step_index - first) / (last - first)
        return 1.0 + (scale - 1.0) * float(self._schedule_fn(min(max(p, 0.0), 1.0)))

    @staticmethod
    def combine(main: torch.Tensor, ref: torch.Tensor, scale: float) -> torch.Tensor:
        """``ref + scale * (main - ref)``."""
        return ref + scale * (main - ref)

    # -- what a subclass says ----------------------------------------------------------
    def terms(self) -> list:
        """list[GuidanceTerm]: The references this guidance needs and their weights."""
        raise NotImplementedError

    @property
    def needs_weak_model(self) -> bool:
        """bool: Whether a weak model must be passed to :meth:`wrap`."""
        return any(t.source == 'weak' for t in self.terms())

    # -- evaluation --------------------------------------------------------------------
    def wrap(self, denoiser, cond: dict, mask: torch.Tensor, weak_denoiser=None):
        """Return ``model_fn(x_t, t, step_index, num_steps)`` for a sampler.

        Args:
            denoiser (Callable): ``denoiser(x_t, t, mask, cond) -> (B, T, D)``.
            cond (dict): Condition dict with ``<modality>_present`` flags (B,).
            mask (Tensor): (B, T) bool valid frames.
            weak_denoiser (Callable | None): Weak model for ``'weak'`` terms.

        Raises:
            ValueError: A term needs a modality the condition lacks, or a weak
                model that was not given.
        """
        terms = self.terms()
        for term in terms:
            for m in term.drop:
                if f'{m}_present' not in cond:
                    have = sorted(k[:-len('_present')] for k in cond if k.endswith('_present'))
                    raise ValueError(f'{self!r} drops modality {m!r} but the condition only has '
                                     f'{have}; guide with those modalities')
            if term.source == 'weak' and weak_denoiser is None:
                raise ValueError(f'{self!r} needs a weak model, but the generator has none: set '
                                 '`weak_model` in the model config (see docs/guidance.md) or '
                                 "use AutoGuidance(reference='dropout')")
        nulls = {d: _modal_null(cond, d) for d in {t.drop for t in terms if t.source == 'drop'}}

        def model_fn(x_t, t, step_index=0, num_steps=1):
            weighted = [(term, term.weight(step_index, num_steps)) for term in terms]
            weighted = [(term, w) for term, w in weighted if w != 1.0]
            drops = list(dict.fromkeys(term.drop for term, _ in weighted if term.source == 'drop'))
            k = 1 + len(drops)
            if k == 1:
                main = denoiser(x_t, t, mask, cond)
                refs = {}
            else:  # main and every condition-dropped reference in one stacked forward
                out = denoiser(x_t.repeat(k, 1, 1), t.repeat(k), mask.repeat(k, 1),
                               _stack_conds([cond] + [nulls[d] for d in drops]))
                main, *rest = out.chunk(k, 0)
                refs = {('drop', d): r for d, r in zip(drops, rest)}
            guided = main
            for term, w in weighted:
                key = ('drop', term.drop) if term.source == 'drop' else (term.source,
                                                                        term.dropout)
                if key not in refs:
                    if term.source == 'weak':
                        refs[key] = weak_denoiser(x_t, t, mask, cond)
                    else:
                        with dropout_perturbed(denoiser, term.dropout) as net:
                            refs[key] = net(x_t, t, mask, cond)
                guided = guided + (w - 1.0) * (main - refs[key])
            return guided

        return model_fn

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, start={self.start}, '
                f'stop={self.stop}, schedule={self.schedule!r})')


@GUIDANCE.register_module()
class NoGuidance(BaseGuidance):
    """The conditional prediction as is.

    Example:
        >>> g = GUIDANCE.build(dict(type='NoGuidance'))
    """

    def __init__(self):
        super().__init__(scale=1.0)

    def terms(self) -> list:
        """No reference: the main prediction only."""
        return []

"""Classifier-free guidance, auto-guidance and their combination (see :mod:`.base`)."""
from __future__ import annotations

from collections.abc import Callable

from mdkit.registry import GUIDANCE
from mdkit.utils.registry_utils import build_from_cfg_checked

from .base import BaseGuidance, GuidanceTerm

__all__ = ['ClassifierFreeGuidance', 'AutoGuidance', 'CombinedGuidance']


def _modalities(value, name: str) -> tuple:
    items = (value, ) if isinstance(value, str) else tuple(value)
    if not items or not all(isinstance(m, str) and m for m in items):
        raise ValueError(f'{name} must name one or more modalities (e.g. "text" or '
                         f'("text", "video")), got {value!r}')
    return items


@GUIDANCE.register_module()
class ClassifierFreeGuidance(BaseGuidance):
    """Classifier-free guidance: the reference is the same network without some conditions.

    With ``modality_scales`` each modality gets its own reference (that
    modality removed, the others kept) and weight, so text and video can be
    balanced: ``guided = main + sum_m (w_m - 1) * (main - ref_without_m)``.
    Main and every reference come from one forward of a stacked batch.

    Args:
        scale (float): Guidance weight for the ``null`` reference. Defaults to 2.5.
        null (str | tuple[str, ...]): Modalities removed in the reference
            (``'text'``, ``'video'`` or both). Defaults to 'text'.
        modality_scales (dict[str, float] | None): Per-modality weights; when
            given, ``scale`` and ``null`` are not used. Defaults to None.
        start (float): Start fraction of steps. Defaults to 0.0.
        stop (float): Stop fraction of steps. Defaults to 1.0.
        schedule (str | Callable): Scale schedule. Defaults to 'constant'.

    Example:
        >>> g = GUIDANCE.build(dict(type='ClassifierFreeGuidance', scale=2.5))
        >>> g2 = GUIDANCE.build(dict(type='ClassifierFreeGuidance',
        ...                          modality_scales=dict(text=2.5, video=1.5)))
    """

    def __init__(self, scale: float = 2.5, null: str | tuple = 'text',
                 modality_scales: dict | None = None, start: float = 0.0, stop: float = 1.0,
                 schedule: str | Callable = 'constant'):
        super().__init__(scale, start, stop, schedule)
        self.null = _modalities(null, 'null')
        if modality_scales is not None:
            if not isinstance(modality_scales, dict) or not modality_scales:
                raise ValueError('modality_scales must be a non-empty dict like '
                                 f'dict(text=2.5, video=1.5), got {modality_scales!r}')
            _modalities(tuple(modality_scales), 'modality_scales')
            modality_scales = {m: float(w) for m, w in modality_scales.items()}
        self.modality_scales = modality_scales

    def terms(self) -> list:
        """One ``'drop'`` term, or one per modality with ``modality_scales``."""
        if self.modality_scales is None:
            return [GuidanceTerm('drop', self.scale, self, drop=self.null)]
        return [GuidanceTerm('drop', w, self, drop=(m, )) for m, w in self.modality_scales.items()]

    def __repr__(self) -> str:
        what = (f'modality_scales={self.modality_scales}' if self.modality_scales else
                f'scale={self.scale}, null={self.null}')
        return (f'ClassifierFreeGuidance({what}, start={self.start}, stop={self.stop}, '
                f'schedule={self.schedule!r})')


@GUIDANCE.register_module()
class AutoGuidance(BaseGuidance):
    """Auto-guidance: the reference is a weaker *conditional* version of the model.

    ``reference='weak'`` uses the generator's weak model (trained in the same
    run for fewer iterations, or loaded from an earlier checkpoint; see the
    generator's ``weak_model``). ``reference='dropout'`` needs no second model:
    the reference is the main network with dropout on at probability
    ``dropout`` (one extra forward per step, no training cost).

    Args:
        scale (float): Guidance weight. Defaults to 2.0.
        reference (str): ``'weak'`` or ``'dropout'``. Defaults to 'weak'.
        dropout (float): Dropout probability of the ``'dropout'`` reference.
            Defaults to 0.1.
        start (float): Start fraction of steps. Defaults to 0.0.
        stop (float): Stop fraction of steps. Defaults to 1.0.
        schedule (str | Callable): Scale schedule. Defaults to 'constant'.

    Example:
        >>> g = GUIDANCE.build(dict(type='AutoGuidance', scale=2.0))
        >>> g2 = GUIDANCE.build(dict(type='AutoGuidance', reference='dropout', dropout=0.2))
    """

    REFERENCES = ('weak', 'dropout')

    def __init__(self, scale: float = 2.0, reference: str = 'weak', dropout: float = 0.1,
                 start: float = 0.0, stop: float = 1.0, schedule: str | Callable = 'constant'):
        super().__init__(scale, start, stop, schedule)
        if reference not in self.REFERENCES:
            raise ValueError(f'AutoGuidance reference must be one of {self.REFERENCES}, '
                             f'got {reference!r}')
        if not 0.0 < dropout < 1.0:
            raise ValueError(f'dropout must be in (0, 1), got {dropout}')
        self.reference = reference
        self.dropout = float(dropout)

    def terms(self) -> list:
        """One ``'weak'`` or ``'perturbed'`` term."""
        if self.reference == 'weak':
            return [GuidanceTerm('weak', self.scale, self)]
        return [GuidanceTerm('perturbed', self.scale, self, dropout=self.dropout)]

    def __repr__(self) -> str:
        return (f'AutoGuidance(scale={self.scale}, reference={self.reference!r}, '
                f'start={self.start}, stop={self.stop}, schedule={self.schedule!r})')


@GUIDANCE.register_module()
class CombinedGuidance(BaseGuidance):
    """Several guidances at once, e.g. auto-guidance plus per-modality CFG.

    ``guided = main + sum_i (w_i - 1) * (main - ref_i)`` over the terms of all
    parts; each part keeps its own window and schedule. Condition-dropped
    references of all parts share one stacked forward with the main prediction.

    Args:
        guidances (list[dict | BaseGuidance]): The parts.

    Example:
        >>> g = GUIDANCE.build(dict(type='CombinedGuidance', guidances=[
        ...     dict(type='AutoGuidance', scale=1.5),
        ...     dict(type='ClassifierFreeGuidance', scale=2.0)]))
    """

    def __init__(self, guidances: list):
        super().__init__(scale=1.0)
        if not guidances:
            raise ValueError('CombinedGuidance needs at least one guidance in `guidances`')
        self.guidances = [g if isinstance(g, BaseGuidance) else
                          build_from_cfg_checked(g, GUIDANCE, expected_type=BaseGuidance)
                          for g in guidances]

    def terms(self) -> list:
        """The terms of every part, in order."""
        return [term for g in self.guidances for term in g.terms()]

    def __repr__(self) -> str:
        return f'CombinedGuidance({self.guidances!r})'

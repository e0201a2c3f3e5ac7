"""Guidance objects: ``guided = ref + w * (main - ref)``; they differ in how ``ref`` is made."""
from __future__ import annotations

import torch

from mdkit.registry import GUIDANCE

__all__ = ['BaseGuidance', 'NoGuidance', 'ClassifierFreeGuidance']


class BaseGuidance:
    """Common part of every guidance: scale and the active window of sampling steps.

    Args:
        scale (float): Guidance weight ``w``; 1 returns the main prediction.
            Defaults to 1.0.
        start (float): Fraction of sampling steps after which guidance applies.
            Defaults to 0.0.
        stop (float): Fraction of sampling steps after which it stops. Defaults to 1.0.
    """

    def __init__(self, scale: float = 1.0, start: float = 0.0, stop: float = 1.0):
        if not 0.0 <= start <= stop <= 1.0:
            raise ValueError(f'need 0 <= start <= stop <= 1, got start={start}, stop={stop}')
        self.scale = float(scale)
        self.start = float(start)
        self.stop = float(stop)

    def active(self, step_index: int, num_steps: int) -> bool:
        """Whether guidance applies at ``step_index`` (0-based) of ``num_steps``."""
        frac = step_index / max(num_steps, 1)
        return self.scale != 1.0 and self.start <= frac < self.stop

    @staticmethod
    def combine(main: torch.Tensor, ref: torch.Tensor, scale: float) -> torch.Tensor:
        """``ref + scale * (main - ref)``."""
        return ref + scale * (main - ref)

    def wrap(self, denoiser, cond: dict, mask: torch.Tensor):
        """Return ``model_fn(x_t, t, step_index, num_steps)`` for a sampler."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f'{type(self).__name__}(scale={self.scale}, start={self.start}, stop={self.stop})'


@GUIDANCE.register_module()
class NoGuidance(BaseGuidance):
    """The conditional prediction as is.

    Example:
        >>> g = GUIDANCE.build(dict(type='NoGuidance'))
    """

    def __init__(self):
        super().__init__(scale=1.0)

    def wrap(self, denoiser, cond, mask):
        """Plain conditional model function."""

        def model_fn(x_t, t, step_index=0, num_steps=1):
            return denoiser(x_t, t, mask, cond)

        return model_fn


@GUIDANCE.register_module()
class ClassifierFreeGuidance(BaseGuidance):
    """Classifier-free guidance: the reference is the same network without text.

    Main and reference predictions come from one forward of a doubled batch.

    Args:
        scale (float): Guidance weight. Defaults to 2.5.
        start (float): Start fraction of steps. Defaults to 0.0.
        stop (float): Stop fraction of steps. Defaults to 1.0.

    Example:
        >>> g = GUIDANCE.build(dict(type='ClassifierFreeGuidance', scale=2.5))
    """

    def __init__(self, scale: float = 2.5, start: float = 0.0, stop: float = 1.0):
        super().__init__(scale, start, stop)

    def wrap(self, denoiser, cond, mask):
        """Model function evaluating conditional and text-free predictions together."""
        null = {k: v for k, v in cond.items()}
        null['text_present'] = torch.zeros_like(cond['text_present'])
        both = {}
        for k in cond:
            both[k] = torch.cat([cond[k], null[k]], 0) if torch.is_tensor(cond[k]) else cond[k]
        mask2 = torch.cat([mask, mask], 0)

        def model_fn(x_t, t, step_index=0, num_steps=1):
            if not self.active(step_index, num_steps):
                return denoiser(x_t, t, mask, cond)
            out = denoiser(torch.cat([x_t, x_t], 0), torch.cat([t, t], 0), mask2, both)
            main, ref = out.chunk(2, 0)
            return self.combine(main, ref, self.scale)

        return model_fn

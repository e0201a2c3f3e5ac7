"""DPM-Solver++(2M): a deterministic second-order multistep sampler (Lu et al. 2022).

The probability-flow ODE is integrated in the half-log-SNR
``lambda = log(alpha / sigma)`` (``alpha = sqrt(ab)``, ``sigma = sqrt(1 - ab)``)
with the data (x0) prediction, which is the variant the paper recommends for
few steps and guided sampling. Each step costs one network evaluation; the
second-order correction reuses the x0 prediction of the previous step.
"""
from __future__ import annotations

import math

import torch

from mdkit.registry import DIFFUSION_SCHEDULERS

from .ddpm_scheduler import DDPMScheduler
from .samplers import BaseDiffusionSampler

__all__ = ['DPMSolverMultistepSampler']


@DIFFUSION_SCHEDULERS.register_module()
class DPMSolverMultistepSampler(BaseDiffusionSampler):
    """DPM-Solver++(2M) sampler (Lu et al. 2022, Algorithm 2), deterministic.

    With ``x0_i`` the (optionally clipped) x0 prediction at step ``i`` (timestep
    ``t_i``) and ``h_i = lambda_{i+1} - lambda_i``, the step to ``t_{i+1}`` is::

        D = x0_i                                               (first order, = DDIM eta=0)
        D = (1 + 1 / (2 r)) * x0_i - 1 / (2 r) * x0_{i-1},     r = h_{i-1} / h_i   (2M)
        x_{i+1} = sigma_{i+1} / sigma_i * x_i - alpha_{i+1} * (exp(-h_i) - 1) * D

    The first step of every :meth:`sample` call is first order (there is no
    previous prediction yet); the multistep state is reset at the start of
    each call, so one sampler object can be reused. The last step goes to
    clean data (``t = -1``: ``alpha = 1``, ``sigma = 0``, ``lambda = +inf``);
    there the 2M correction is undefined (``r -> 0``), so that step is always
    first order and returns the x0 prediction. Keep the default ``'trailing'``
    spacing: spacings that end at ``t = 0`` put a large lambda jump at the end,
    where the 2M extrapolation overshoots. Scalar coefficients are computed in
    float64.

    Args:
        scheduler (dict | DDPMScheduler): Training schedule (config or object).
        timestep_spacing (str): ``'trailing'``, ``'leading'`` or ``'linspace'``
            (see :class:`BaseDiffusionSampler`). Defaults to 'trailing'.
        clip_denoised (bool): Clamp the predicted x0. Defaults to False.

    Example:
        >>> sampler = DIFFUSION_SCHEDULERS.build(
        ...     dict(type='DPMSolverMultistepSampler', scheduler=dict(type='DDPMScheduler')))
    """

    def __init__(self, scheduler: dict | DDPMScheduler, timestep_spacing: str = 'trailing',
                 clip_denoised: bool = False):
        super().__init__(scheduler, timestep_spacing, clip_denoised)
        self.reset()

    def reset(self) -> None:
        """Forget the previous step (called at the start of every :meth:`sample`)."""
        # (timestep the previous step ended at, its starting lambda, its x0 prediction)
        self._prev: tuple[int, float, torch.Tensor] | None = None

    def _alpha_sigma_lambda(self, t: int) -> tuple[float, float, float]:
        """``(alpha, sigma, lambda)`` in float64; ``(1, 0, +inf)`` for ``t < 0``."""
        ab = self._alpha_bar(t)
        if ab >= 1.0:
            return 1.0, 0.0, math.inf
        alpha, sigma = math.sqrt(ab), math.sqrt(1.0 - ab)
        return alpha, sigma, math.log(alpha) - math.log(sigma)

    def sample(self, model_fn, shape, **kwargs) -> torch.Tensor:
        """Run the solver; see :meth:`BaseDiffusionSampler.sample` (the state is reset first)."""
        self.reset()
        try:
            return super().sample(model_fn, shape, **kwargs)
        finally:
            self.reset()  # do not keep the last prediction alive

    def step(self, model_output, x_t, t, t_prev, generator=None):
        """One DPM-Solver++ step from ``t`` to ``t_prev``; see :meth:`BaseDiffusionSampler.step`.

        The second-order update is used when the previous call of :meth:`step`
        ended at ``t`` (the same trajectory) with a prediction of the same shape.
        """
        clip = self.clip_denoised or self.scheduler.clip_sample
        x0, _ = self.scheduler.pred_to_x0_eps(model_output, x_t, t, clip=clip)
        alpha_t, sigma_t, lam_t = self._alpha_sigma_lambda(t)
        alpha_s, sigma_s, lam_s = self._alpha_sigma_lambda(t_prev)
        prev, self._prev = self._prev, None
        if t_prev < 0 or sigma_s == 0.0:
            # lambda_s = +inf: exp(-h) = 0 and sigma_s = 0, the first-order step gives x0
            return alpha_s * x0, x0
        h = lam_s - lam_t
        # first order: sigma_s / sigma_t * x_t + alpha_s * (1 - exp(-h)) * x0
        c_x = sigma_s / sigma_t
        c_d = -alpha_s * math.expm1(-h)
        d = x0
        if prev is not None and prev[0] == t and prev[2].shape == x0.shape:
            h_last = lam_t - prev[1]
            half_inv_r = 0.5 * h / h_last  # 1 / (2 r), r = h_last / h
            d = (1.0 + half_inv_r) * x0 - half_inv_r * prev[2]
        self._prev = (int(t_prev), lam_t, x0)
        return c_x * x_t + c_d * d, x0

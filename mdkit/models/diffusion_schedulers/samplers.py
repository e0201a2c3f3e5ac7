"""Samplers on a trained :class:`DDPMScheduler` schedule: DDIM and ancestral DDPM.

All samplers share :meth:`BaseDiffusionSampler.sample`, which takes a model
function ``model_fn(x_t, t, step_index, num_steps) -> model_output`` (output
of the training ``prediction_type``). Guidance objects plug in by wrapping the
model function; the sampler never sees conditions.

Sampling runs on a subsequence of the training timesteps (``num_steps`` of
them, chosen by ``timestep_spacing``); each step goes from ``t`` to the next
timestep of the subsequence, and the last step goes to "t = -1", i.e.
``alphas_cumprod = 1`` (clean data).
"""
from __future__ import annotations

import sys
from collections.abc import Callable

import torch

from mdkit.registry import DIFFUSION_SCHEDULERS
from mdkit.utils.registry_utils import build_from_cfg_checked

from .ddpm_scheduler import DDPMScheduler

__all__ = ['BaseDiffusionSampler', 'DDIMSampler', 'DDPMSampler', 'TIMESTEP_SPACINGS',
           'ModelFn']

#: Valid ``timestep_spacing`` names.
TIMESTEP_SPACINGS = ('leading', 'trailing', 'linspace')

#: ``model_fn(x_t (B, T, D), t (B,) long, step_index, num_steps) -> (B, T, D)``.
ModelFn = Callable[[torch.Tensor, torch.Tensor, int, int], torch.Tensor]


def _randn(shape, generator: torch.Generator | None, device: torch.device,
           dtype: torch.dtype) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device, then moved."""
    gen_device = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=gen_device, dtype=dtype).to(device)


class BaseDiffusionSampler:
    """Common part of the samplers: schedule, timestep subsequence and the loop.

    Subclasses implement :meth:`step`.

    Args:
        scheduler (dict | DDPMScheduler): The training schedule (config or object).
        timestep_spacing (str): How ``num_steps`` timesteps are picked out of
            ``num_train_timesteps`` N: ``'trailing'`` (``N-1, N-1-N/n, ...``,
            always starts at the noisiest step), ``'leading'``
            (``(n-1)*(N//n), ..., N//n, 0``, the DDIM paper/diffusers default)
            or ``'linspace'`` (``linspace(N-1, 0, n)`` rounded).
            Defaults to 'trailing'.
        clip_denoised (bool): Clamp the predicted x0 at every step to the
            schedule's ``clip_sample_range``; the schedule's own
            ``clip_sample`` also turns this on. Defaults to False.
    """

    def __init__(self, scheduler: dict | DDPMScheduler, timestep_spacing: str = 'trailing',
                 clip_denoised: bool = False):
        if isinstance(scheduler, dict):
            scheduler = build_from_cfg_checked(scheduler, DIFFUSION_SCHEDULERS,
                                               expected_type=DDPMScheduler)
        if not isinstance(scheduler, DDPMScheduler):
            raise TypeError(f'{type(self).__name__} needs a DDPMScheduler (or its config) as '
                            f'scheduler, got {type(scheduler).__name__}')
        if timestep_spacing not in TIMESTEP_SPACINGS:
            raise ValueError(f'Unknown timestep_spacing {timestep_spacing!r}; valid: '
                             f'{", ".join(repr(s) for s in TIMESTEP_SPACINGS)}')
        self.scheduler = scheduler
        self.timestep_spacing = timestep_spacing
        self.clip_denoised = bool(clip_denoised)

    @property
    def num_train_timesteps(self) -> int:
        """int: N of the training schedule."""
        return self.scheduler.num_train_timesteps

    @property
    def prediction_type(self) -> str:
        """str: The training schedule's prediction type."""
        return self.scheduler.prediction_type

    def _check_num_steps(self, num_steps) -> int:
        n_train = self.num_train_timesteps
        if isinstance(num_steps, bool) or not isinstance(num_steps, int):
            raise ValueError(f'num_steps must be an int in [1, {n_train}] '
                             f'(num_train_timesteps), got {num_steps!r}')
        if not 1 <= num_steps <= n_train:
            raise ValueError(f'num_steps must be in [1, {n_train}] (num_train_timesteps of the '
                             f'training schedule), got {num_steps}')
        return num_steps

    def timesteps(self, num_steps: int) -> list[int]:
        """The descending training timesteps visited by ``num_steps`` sampling steps.

        Args:
            num_steps (int): Number of sampling steps n, ``1 <= n <= N``.

        Returns:
            list[int]: n distinct timesteps in ``[0, N)``, descending.

        Raises:
            ValueError: ``num_steps`` is not an int in ``[1, N]``.
        """
        n = self._check_num_steps(num_steps)
        big_n = self.num_train_timesteps
        if self.timestep_spacing == 'leading':
            ts = torch.arange(n, dtype=torch.long) * (big_n // n)
        elif self.timestep_spacing == 'trailing':
            k = torch.arange(n, dtype=torch.float64)
            ts = torch.round(big_n - k * (big_n / n)) - 1
        else:
            ts = torch.round(torch.linspace(big_n - 1, 0, n, dtype=torch.float64))
        out = sorted({int(v) for v in ts.tolist()}, reverse=True)
        if len(out) != n:  # cannot happen for 1 <= n <= N; guards future spacings
            raise RuntimeError(f'timestep_spacing={self.timestep_spacing!r} gave {len(out)} '
                               f'distinct timesteps for num_steps={n}')
        return out

    def _alpha_bar(self, t: int) -> float:
        """``alphas_cumprod[t]`` as a float; 1 for ``t < 0`` (clean data)."""
        return 1.0 if t < 0 else float(self.scheduler.alphas_cumprod[t])

    def step(self, model_output: torch.Tensor, x_t: torch.Tensor, t: int, t_prev: int,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One reverse step from timestep ``t`` to ``t_prev`` (``-1`` = clean data).

        Args:
            model_output (Tensor): (B, T, D) network output at ``(x_t, t)``.
            x_t (Tensor): (B, T, D) current sample.
            t (int): Current timestep.
            t_prev (int): Next (smaller) timestep, or -1 at the last step.
            generator (torch.Generator | None): Noise generator. Defaults to None.

        Returns:
            tuple[Tensor, Tensor]: ``(x_prev, pred_x0)``, each (B, T, D).
        """
        raise NotImplementedError

    def sample(self, model_fn: ModelFn, shape, *, mask: torch.Tensor | None = None,
               num_steps: int = 50, generator: torch.Generator | None = None,
               device: torch.device | str | None = None, dtype: torch.dtype | None = None,
               x_T: torch.Tensor | None = None, callback: Callable | None = None,
               progress: bool = False) -> torch.Tensor:
        """Run the reverse process from the prior to data.

        The autograd mode is left to the caller (wrap in ``torch.no_grad()``
        for plain sampling).

        Args:
            model_fn (ModelFn): ``model_fn(x_t, t, step_index, num_steps)`` with
                ``x_t`` (B, T, D), ``t`` (B,) long; returns (B, T, D) of the
                training ``prediction_type``. Arguments are passed positionally.
            shape (Sequence[int]): Output shape (B, T, D).
            mask (Tensor | None): (B, T) bool, True at valid frames. Padded
                frames are zeroed in ``x_T``, after every step and in the
                output. Defaults to None (all valid).
            num_steps (int): Sampling steps, ``1 <= num_steps <= N``. Defaults to 50.
            generator (torch.Generator | None): Generator for the prior and the
                step noise; same generator state gives the same samples.
                Defaults to None.
            device (torch.device | str | None): Device of the samples. Defaults
                to that of ``x_T``, else ``mask``, else CPU.
            dtype (torch.dtype | None): Dtype of the samples (the update runs
                in it). Defaults to that of ``x_T``, else torch's default dtype.
            x_T (Tensor | None): (B, T, D) starting noise. Defaults to None
                (drawn from N(0, I) with ``generator``).
            callback (Callable | None): Called after every step as
                ``callback(step_index, t, x_prev, pred_x0)``. Defaults to None.
            progress (bool): Show a progress bar. Defaults to False.

        Returns:
            Tensor: (B, T, D) samples x0, zero at padded frames.
        """
        steps = self.timesteps(num_steps)
        shape = tuple(int(s) for s in shape)
        if device is None:
            device = x_T.device if x_T is not None else (
                mask.device if mask is not None else torch.device('cpu'))
        device = torch.device(device)
        if dtype is None:
            dtype = x_T.dtype if x_T is not None else torch.get_default_dtype()

        keep = None
        if mask is not None:
            if mask.ndim != 2 or tuple(mask.shape) != shape[:2]:
                raise ValueError(f'mask must have shape (B, T) = {shape[:2]}, '
                                 f'got {tuple(mask.shape)}')
            keep = mask.to(device=device, dtype=torch.bool)
            keep = keep.reshape(keep.shape + (1, ) * (len(shape) - 2))

        def apply_mask(x):
            return x if keep is None else x.masked_fill(~keep, 0.0)

        if x_T is None:
            x = _randn(shape, generator, device, dtype)
        else:
            if tuple(x_T.shape) != shape:
                raise ValueError(f'x_T has shape {tuple(x_T.shape)}, expected {shape}')
            x = x_T.to(device=device, dtype=dtype)
        x = apply_mask(x)

        bar = None
        if progress:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(len(steps), file=sys.stdout)  # the current stdout, not import's
        batch = shape[0]
        for i, t in enumerate(steps):
            t_prev = steps[i + 1] if i + 1 < len(steps) else -1
            t_batch = torch.full((batch, ), t, dtype=torch.long, device=device)
            out = model_fn(x, t_batch, i, len(steps))
            x, pred_x0 = self.step(out, x, t, t_prev, generator=generator)
            x = apply_mask(x)
            if callback is not None:
                callback(i, t, x, apply_mask(pred_x0))
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.file.write('\n')
            bar.file.flush()
        return x

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scheduler={self.scheduler!r}, '
                f'timestep_spacing={self.timestep_spacing!r}, clip_denoised={self.clip_denoised})')


@DIFFUSION_SCHEDULERS.register_module()
class DDIMSampler(BaseDiffusionSampler):
    """DDIM sampler (Song et al. 2021): deterministic for ``eta=0``, DDPM-like for ``eta=1``.

    Step from ``t`` to ``s`` (``ab_s = 1`` at the last step)::

        x0, eps = pred_to_x0_eps(out, x_t, t)
        sigma = eta * sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s))
        x_s = sqrt(ab_s) * x0 + sqrt(1 - ab_s - sigma^2) * eps + sigma * z

    Args:
        scheduler (dict | DDPMScheduler): Training schedule (config or object).
        eta (float): Stochasticity, 0 (deterministic) to 1 (ancestral).
            Defaults to 0.0.
        timestep_spacing (str): ``'trailing'``, ``'leading'`` or ``'linspace'``
            (see :class:`BaseDiffusionSampler`). Defaults to 'trailing'.
        clip_denoised (bool): Clamp the predicted x0. Defaults to False.

    Example:
        >>> sampler = DIFFUSION_SCHEDULERS.build(
        ...     dict(type='DDIMSampler', scheduler=dict(type='DDPMScheduler'), eta=0.0))
    """

    def __init__(self, scheduler: dict | DDPMScheduler, eta: float = 0.0,
                 timestep_spacing: str = 'trailing', clip_denoised: bool = False):
        super().__init__(scheduler, timestep_spacing, clip_denoised)
        if eta < 0:
            raise ValueError(f'eta must be >= 0, got {eta}')
        self.eta = float(eta)

    def step(self, model_output, x_t, t, t_prev, generator=None):
        """One DDIM step from ``t`` to ``t_prev``; see :meth:`BaseDiffusionSampler.step`."""
        clip = self.clip_denoised or self.scheduler.clip_sample
        x0, eps = self.scheduler.pred_to_x0_eps(model_output, x_t, t, clip=clip)
        ab_t, ab_s = self._alpha_bar(t), self._alpha_bar(t_prev)
        var = (1.0 - ab_s) / (1.0 - ab_t) * (1.0 - ab_t / ab_s) if ab_t < 1.0 else 0.0
        sigma = self.eta * max(var, 0.0)**0.5
        x_prev = ab_s**0.5 * x0 + max(1.0 - ab_s - sigma**2, 0.0)**0.5 * eps
        if sigma > 0.0:
            x_prev = x_prev + sigma * _randn(x_t.shape, generator, x_t.device, x_t.dtype)
        return x_prev, x0

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', eta={self.eta})'


@DIFFUSION_SCHEDULERS.register_module()
class DDPMSampler(BaseDiffusionSampler):
    """Ancestral DDPM sampler (Ho et al. 2020) on a respaced schedule.

    With ``n < N`` steps the schedule is respaced (Nichol & Dhariwal 2021):
    between consecutive visited timesteps ``t > s`` the step uses
    ``beta = 1 - ab_t / ab_s`` and samples the Gaussian posterior
    ``q(x_s | x_t, x0_hat)``::

        mean = sqrt(ab_s) * beta / (1 - ab_t) * x0
               + sqrt(ab_t / ab_s) * (1 - ab_s) / (1 - ab_t) * x_t
        var  = (1 - ab_s) / (1 - ab_t) * beta     ('fixed_small')  or  beta ('fixed_large')

    The last step returns the mean (no noise).

    Args:
        scheduler (dict | DDPMScheduler): Training schedule (config or object).
        variance_type (str): ``'fixed_small'`` (posterior variance) or
            ``'fixed_large'`` (beta). Defaults to 'fixed_small'.
        timestep_spacing (str): ``'trailing'``, ``'leading'`` or ``'linspace'``
            (see :class:`BaseDiffusionSampler`). Defaults to 'trailing'.
        clip_denoised (bool): Clamp the predicted x0. Defaults to False.

    Example:
        >>> sampler = DIFFUSION_SCHEDULERS.build(
        ...     dict(type='DDPMSampler', scheduler=dict(type='DDPMScheduler')))
    """

    VARIANCE_TYPES = ('fixed_small', 'fixed_large')

    def __init__(self, scheduler: dict | DDPMScheduler, variance_type: str = 'fixed_small',
                 timestep_spacing: str = 'trailing', clip_denoised: bool = False):
        super().__init__(scheduler, timestep_spacing, clip_denoised)
        if variance_type not in self.VARIANCE_TYPES:
            raise ValueError(f'Unknown variance_type {variance_type!r}; valid: '
                             f'{", ".join(repr(v) for v in self.VARIANCE_TYPES)}')
        self.variance_type = variance_type

    def step(self, model_output, x_t, t, t_prev, generator=None):
        """One ancestral step from ``t`` to ``t_prev``; see :meth:`BaseDiffusionSampler.step`."""
        clip = self.clip_denoised or self.scheduler.clip_sample
        x0, _ = self.scheduler.pred_to_x0_eps(model_output, x_t, t, clip=clip)
        ab_t, ab_s = self._alpha_bar(t), self._alpha_bar(t_prev)
        beta = 1.0 - ab_t / ab_s
        alpha = ab_t / ab_s
        mean = (ab_s**0.5 * beta / (1.0 - ab_t)) * x0 \
            + (alpha**0.5 * (1.0 - ab_s) / (1.0 - ab_t)) * x_t
        if t_prev < 0:
            return mean, x0
        var = beta if self.variance_type == 'fixed_large' else (1.0 - ab_s) / (1.0 - ab_t) * beta
        noise = _randn(x_t.shape, generator, x_t.device, x_t.dtype)
        return mean + max(var, 0.0)**0.5 * noise, x0

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', variance_type={self.variance_type!r})'

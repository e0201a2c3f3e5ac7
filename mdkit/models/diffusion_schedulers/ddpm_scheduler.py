"""The training noise schedule: betas, cumulative alphas and the prediction-type algebra.

For a timestep ``t`` (0-based, ``0 <= t < num_train_timesteps``) with
``ab = alphas_cumprod[t]``, the forward process is
``x_t = sqrt(ab) * x0 + sqrt(1 - ab) * eps``. A network predicts one of
``eps`` (``'epsilon'``), ``x0`` (``'sample'``) or
``v = sqrt(ab) * eps - sqrt(1 - ab) * x0`` (``'v_prediction'``);
:meth:`DDPMScheduler.pred_to_x0_eps` turns any of them into both ``x0`` and
``eps``, which is all the samplers need.
"""
from __future__ import annotations

import math

import torch

from mdkit.registry import DIFFUSION_SCHEDULERS

__all__ = ['DDPMScheduler', 'make_betas', 'BETA_SCHEDULES', 'PREDICTION_TYPES']

#: Valid ``beta_schedule`` names.
BETA_SCHEDULES = ('linear', 'scaled_linear', 'cosine')
#: Valid ``prediction_type`` names.
PREDICTION_TYPES = ('epsilon', 'sample', 'v_prediction')


def _cosine_alpha_bar(u: torch.Tensor, s: float) -> torch.Tensor:
    """Un-normalised cosine ``alpha_bar`` at fractions ``u = t / T`` (Nichol & Dhariwal 2021)."""
    return torch.cos((u + s) / (1.0 + s) * math.pi / 2) ** 2


def make_betas(num_train_timesteps: int, beta_schedule: str = 'linear',
               beta_start: float = 1e-4, beta_end: float = 0.02,
               cosine_s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Per-step noise variances ``betas`` of a named schedule.

    Args:
        num_train_timesteps (int): Number of training steps N.
        beta_schedule (str): ``'linear'`` (``linspace(beta_start, beta_end)``,
            Ho et al. 2020), ``'scaled_linear'`` (``linspace`` of the square
            roots, squared) or ``'cosine'`` (Nichol & Dhariwal 2021; ignores
            ``beta_start``/``beta_end``). Defaults to 'linear'.
        beta_start (float): First beta of the linear schedules. Defaults to 1e-4.
        beta_end (float): Last beta of the linear schedules. Defaults to 0.02.
        cosine_s (float): Offset ``s`` of the cosine schedule. Defaults to 0.008.
        max_beta (float): Upper clip of the cosine betas. Defaults to 0.999.

    Returns:
        Tensor: (N,) float64 betas.

    Raises:
        ValueError: Unknown schedule name (the message lists the valid ones).
    """
    n = num_train_timesteps
    if beta_schedule == 'linear':
        return torch.linspace(beta_start, beta_end, n, dtype=torch.float64)
    if beta_schedule == 'scaled_linear':
        return torch.linspace(beta_start**0.5, beta_end**0.5, n, dtype=torch.float64)**2
    if beta_schedule == 'cosine':
        u = torch.arange(n + 1, dtype=torch.float64) / n
        f = _cosine_alpha_bar(u, cosine_s)
        return (1.0 - f[1:] / f[:-1]).clamp(max=max_beta)
    raise ValueError(f'Unknown beta_schedule {beta_schedule!r}; valid schedules: '
                     f'{", ".join(repr(s) for s in BETA_SCHEDULES)}')


@DIFFUSION_SCHEDULERS.register_module()
class DDPMScheduler:
    """DDPM noise schedule with the forward process and prediction-type conversions.

    The tables (``betas``, ``alphas``, ``alphas_cumprod``) are float64 CPU
    tensors; every method returns coefficients cast to the device and dtype of
    its input tensor, so the schedule itself never needs moving.

    Args:
        num_train_timesteps (int): Number of diffusion steps N. Defaults to 1000.
        beta_schedule (str): ``'linear'``, ``'scaled_linear'`` or ``'cosine'``.
            Defaults to 'linear'.
        beta_start (float): First beta (linear schedules). Defaults to 1e-4.
        beta_end (float): Last beta (linear schedules). Defaults to 0.02.
        prediction_type (str): What the network predicts: ``'epsilon'``,
            ``'sample'`` (x0) or ``'v_prediction'``. Defaults to 'epsilon'.
        clip_sample (bool): Whether samplers clamp the predicted x0 to
            ``[-clip_sample_range, clip_sample_range]``. Training-time
            conversions never clip. Defaults to False.
        clip_sample_range (float): Clamp bound for ``clip_sample``. Defaults to 1.0.

    Example:
        >>> scheduler = DIFFUSION_SCHEDULERS.build(
        ...     dict(type='DDPMScheduler', beta_schedule='cosine', prediction_type='sample'))
    """

    def __init__(self, num_train_timesteps: int = 1000, beta_schedule: str = 'linear',
                 beta_start: float = 1e-4, beta_end: float = 0.02,
                 prediction_type: str = 'epsilon', clip_sample: bool = False,
                 clip_sample_range: float = 1.0):
        if isinstance(num_train_timesteps, bool) or not isinstance(num_train_timesteps, int) \
                or num_train_timesteps < 1:
            raise ValueError(f'num_train_timesteps must be a positive int, '
                             f'got {num_train_timesteps!r}')
        if beta_schedule not in BETA_SCHEDULES:
            raise ValueError(f'Unknown beta_schedule {beta_schedule!r}; valid schedules: '
                             f'{", ".join(repr(s) for s in BETA_SCHEDULES)}')
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f'Unknown prediction_type {prediction_type!r}; valid types: '
                             f'{", ".join(repr(s) for s in PREDICTION_TYPES)}')
        if beta_schedule != 'cosine' and not 0.0 < beta_start <= beta_end < 1.0:
            raise ValueError(f'need 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, '
                             f'beta_end={beta_end}')
        if clip_sample_range <= 0:
            raise ValueError(f'clip_sample_range must be positive, got {clip_sample_range}')
        self.num_train_timesteps = num_train_timesteps
        self.beta_schedule = beta_schedule
        self.beta_start = float(beta_start)
        self.beta_end = float(beta_end)
        self.prediction_type = prediction_type
        self.clip_sample = bool(clip_sample)
        self.clip_sample_range = float(clip_sample_range)

        self.betas = make_betas(num_train_timesteps, beta_schedule, beta_start, beta_end)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        self._cache: dict = {}

    # -- tables --------------------------------------------------------------------------
    def table(self, name: str, device: torch.device | str | None = None,
              dtype: torch.dtype | None = None) -> torch.Tensor:
        """One schedule table on a device and dtype (cached).

        Args:
            name (str): ``'betas'``, ``'alphas'``, ``'alphas_cumprod'``,
                ``'sqrt_alphas_cumprod'`` or ``'sqrt_one_minus_alphas_cumprod'``.
            device (torch.device | str | None): Target device. Defaults to CPU.
            dtype (torch.dtype | None): Target dtype. Defaults to float64.

        Returns:
            Tensor: (N,) table.
        """
        device = torch.device('cpu' if device is None else device)
        dtype = torch.float64 if dtype is None else dtype
        key = (name, str(device), dtype)
        if key not in self._cache:
            ab = self.alphas_cumprod
            values = dict(betas=self.betas, alphas=self.alphas, alphas_cumprod=ab,
                          sqrt_alphas_cumprod=ab.sqrt(),
                          sqrt_one_minus_alphas_cumprod=(1.0 - ab).sqrt())
            if name not in values:
                raise KeyError(f'Unknown schedule table {name!r}; valid: {", ".join(values)}')
            # cast on the CPU first: some devices (MPS) have no float64
            self._cache[key] = values[name].to(dtype).to(device)
        return self._cache[key]

    def _coef(self, name: str, t, like: torch.Tensor) -> torch.Tensor:
        """Table values at ``t`` shaped to broadcast against ``like`` (B, ...)."""
        table = self.table(name, like.device, like.dtype)
        if not torch.is_tensor(t):
            t = torch.as_tensor(t, dtype=torch.long)
        t = t.to(device=like.device, dtype=torch.long)
        self._check_t(t)
        values = table[t]
        if values.ndim == 0:
            return values
        if values.ndim != 1 or values.shape[0] != like.shape[0]:
            raise ValueError(f'timesteps must be a scalar or shape (B,)=({like.shape[0]},), '
                             f'got {tuple(t.shape)}')
        return values.reshape((-1, ) + (1, ) * (like.ndim - 1))

    def _check_t(self, t: torch.Tensor) -> None:
        if t.device.type == 'cpu' and t.numel() and (
                int(t.min()) < 0 or int(t.max()) >= self.num_train_timesteps):
            raise ValueError(f'timesteps must lie in [0, {self.num_train_timesteps - 1}], got '
                             f'min {int(t.min())}, max {int(t.max())}')

    # -- forward process -------------------------------------------------------------------
    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
        """Sample ``x_t = sqrt(ab_t) * x0 + sqrt(1 - ab_t) * noise``.

        Args:
            x0 (Tensor): (B, T, D) clean data (any trailing shape).
            noise (Tensor): Standard normal noise, same shape as ``x0``.
            t (Tensor | int): (B,) long timesteps or one int for all.

        Returns:
            Tensor: (B, T, D) noised data ``x_t``.
        """
        a = self._coef('sqrt_alphas_cumprod', t, x0)
        b = self._coef('sqrt_one_minus_alphas_cumprod', t, x0)
        return a * x0 + b * noise

    def get_target(self, x0: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
        """The regression target of ``prediction_type``.

        Args:
            x0 (Tensor): (B, T, D) clean data.
            noise (Tensor): (B, T, D) the noise used in :meth:`add_noise`.
            t (Tensor | int): (B,) long timesteps or one int.

        Returns:
            Tensor: (B, T, D) ``noise``, ``x0`` or ``v``.
        """
        if self.prediction_type == 'epsilon':
            return noise
        if self.prediction_type == 'sample':
            return x0
        a = self._coef('sqrt_alphas_cumprod', t, x0)
        b = self._coef('sqrt_one_minus_alphas_cumprod', t, x0)
        return a * noise - b * x0

    def pred_to_x0_eps(self, model_output: torch.Tensor, x_t: torch.Tensor, t,
                       clip: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted ``x0`` and ``eps`` from a network output of ``prediction_type``.

        Args:
            model_output (Tensor): (B, T, D) network prediction.
            x_t (Tensor): (B, T, D) the noised input the network saw.
            t (Tensor | int): (B,) long timesteps or one int.
            clip (bool): Clamp x0 to ``[-clip_sample_range, clip_sample_range]``
                and recompute eps from the clamped x0. Defaults to False.

        Returns:
            tuple[Tensor, Tensor]: ``(x0, eps)``, each (B, T, D).
        """
        a = self._coef('sqrt_alphas_cumprod', t, x_t)
        b = self._coef('sqrt_one_minus_alphas_cumprod', t, x_t)
        if self.prediction_type == 'epsilon':
            eps = model_output
            x0 = (x_t - b * eps) / a
        elif self.prediction_type == 'sample':
            x0 = model_output
            eps = (x_t - a * x0) / b
        else:
            x0 = a * x_t - b * model_output
            eps = b * x_t + a * model_output
        if clip:
            x0 = x0.clamp(-self.clip_sample_range, self.clip_sample_range)
            eps = (x_t - a * x0) / b
        return x0, eps

    def snr(self, t) -> torch.Tensor:
        """Signal-to-noise ratio ``ab / (1 - ab)`` at ``t`` (float64 on the CPU)."""
        ab = self.alphas_cumprod[torch.as_tensor(t, dtype=torch.long).cpu()]
        return ab / (1.0 - ab)

    def sample_timesteps(self, batch_size: int, generator: torch.Generator | None = None,
                         device: torch.device | str | None = None) -> torch.Tensor:
        """Uniform training timesteps.

        Args:
            batch_size (int): B.
            generator (torch.Generator | None): Random generator. Defaults to None.
            device (torch.device | str | None): Output device. Defaults to the
                generator's device, else CPU.

        Returns:
            Tensor: (B,) long timesteps in ``[0, num_train_timesteps)``.
        """
        gen_device = generator.device if generator is not None else device
        t = torch.randint(0, self.num_train_timesteps, (batch_size, ), generator=generator,
                          device=gen_device)
        return t if device is None else t.to(device)

    def __len__(self) -> int:
        return self.num_train_timesteps

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_train_timesteps={self.num_train_timesteps}, '
                f'beta_schedule={self.beta_schedule!r}, prediction_type={self.prediction_type!r}, '
                f'clip_sample={self.clip_sample})')

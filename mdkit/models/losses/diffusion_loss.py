"""The denoising regression loss on the network's own output."""
from __future__ import annotations

import torch
from torch import nn

from mdkit.registry import MODELS

from .utils import check_loss_type, check_mask, elementwise_loss, masked_mean, zero_padding

__all__ = ['MaskedDiffusionLoss']


@MODELS.register_module()
class MaskedDiffusionLoss(nn.Module):
    """Masked regression between the denoiser output and the schedule's target.

    The mean runs over valid frames and every feature dim of those frames
    (``mask.sum() * D`` entries, one weight per frame across the batch);
    padded frames count for nothing, whatever they hold. The target is detached.

    With ``snr_gamma`` set, each sample is weighted by its noise level as in
    Min-SNR-gamma (Hang et al. 2023): the x0-space weight ``min(SNR_t, gamma)``
    expressed for the network's target, i.e. ``min(SNR, gamma)`` for x0
    (``'sample'``), ``min(SNR, gamma) / SNR`` for noise and
    ``min(SNR, gamma) / (SNR + 1)`` for v. Low-noise timesteps keep a capped
    weight and high-noise ones count in proportion to their SNR. The generator
    asks for the weights through :meth:`sample_weights`.

    Args:
        loss_type (str): ``'mse'``, ``'l1'`` or ``'smooth_l1'``. Defaults to 'mse'.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        beta (float): Smooth-L1 threshold. Defaults to 1.0.
        snr_gamma (float | None): Cap of the Min-SNR weighting; None weights
            every timestep alike. Defaults to None.

    Example:
        >>> loss = MODELS.build(dict(type='MaskedDiffusionLoss', loss_type='mse'))
        >>> min_snr = MODELS.build(dict(type='MaskedDiffusionLoss', snr_gamma=5.0))
    """

    def __init__(self, loss_type: str = 'mse', loss_weight: float = 1.0, beta: float = 1.0,
                 snr_gamma: float | None = None):
        super().__init__()
        self.loss_type = check_loss_type(loss_type)
        self.loss_weight = float(loss_weight)
        self.beta = float(beta)
        if snr_gamma is not None and (isinstance(snr_gamma, bool) or not snr_gamma > 0):
            raise ValueError(f'MaskedDiffusionLoss: snr_gamma must be a positive number or None, '
                             f'got {snr_gamma!r} (5.0 is the usual value)')
        self.snr_gamma = None if snr_gamma is None else float(snr_gamma)

    def sample_weights(self, scheduler, t: torch.Tensor) -> torch.Tensor | None:
        """Per-sample weights of noise levels ``t`` under ``scheduler``.

        Args:
            scheduler (DDPMScheduler): The training schedule (``snr`` and
                ``prediction_type``).
            t (Tensor): (B,) long timesteps.

        Returns:
            Tensor | None: (B,) float32 weights on ``t``'s device, or None
            without ``snr_gamma``.
        """
        if self.snr_gamma is None:
            return None
        snr = scheduler.snr(t).clamp(min=1e-12)
        weight = snr.clamp(max=self.snr_gamma)
        if scheduler.prediction_type == 'epsilon':
            weight = weight / snr
        elif scheduler.prediction_type == 'v_prediction':
            weight = weight / (snr + 1.0)
        return weight.to(device=t.device, dtype=torch.float32)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                weight: torch.Tensor | None = None) -> torch.Tensor:
        """Weighted masked loss.

        Args:
            pred (Tensor): (B, T, D) network output.
            target (Tensor): (B, T, D) regression target (eps, x0 or v).
            mask (Tensor): (B, T) bool, True at valid frames.
            weight (Tensor | None): (B,) per-sample weights (e.g. from
                :meth:`sample_weights`). Defaults to None (all 1).

        Returns:
            Tensor: Scalar loss.
        """
        if pred.shape != target.shape:
            raise ValueError(f'pred {tuple(pred.shape)} and target {tuple(target.shape)} '
                             'must have the same shape')
        mask = check_mask(mask, pred)
        values = elementwise_loss(zero_padding(pred, mask), zero_padding(target.detach(), mask),
                                  self.loss_type, self.beta)
        if weight is not None:
            if tuple(weight.shape) != (pred.shape[0], ):
                raise ValueError(f'weight must have shape (B,) = ({pred.shape[0]},), got '
                                 f'{tuple(weight.shape)}')
            values = values * weight.to(values.dtype).reshape(-1, 1, 1)
        return self.loss_weight * masked_mean(values, mask)

    def extra_repr(self) -> str:
        return (f'loss_type={self.loss_type!r}, loss_weight={self.loss_weight}, '
                f'snr_gamma={self.snr_gamma}')

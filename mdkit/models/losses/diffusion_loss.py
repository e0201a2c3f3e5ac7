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

    Args:
        loss_type (str): ``'mse'``, ``'l1'`` or ``'smooth_l1'``. Defaults to 'mse'.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        beta (float): Smooth-L1 threshold. Defaults to 1.0.

    Example:
        >>> loss = MODELS.build(dict(type='MaskedDiffusionLoss', loss_type='mse'))
    """

    def __init__(self, loss_type: str = 'mse', loss_weight: float = 1.0, beta: float = 1.0):
        super().__init__()
        self.loss_type = check_loss_type(loss_type)
        self.loss_weight = float(loss_weight)
        self.beta = float(beta)

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Weighted masked loss.

        Args:
            pred (Tensor): (B, T, D) network output.
            target (Tensor): (B, T, D) regression target (eps, x0 or v).
            mask (Tensor): (B, T) bool, True at valid frames.

        Returns:
            Tensor: Scalar loss.
        """
        if pred.shape != target.shape:
            raise ValueError(f'pred {tuple(pred.shape)} and target {tuple(target.shape)} '
                             'must have the same shape')
        mask = check_mask(mask, pred)
        values = elementwise_loss(zero_padding(pred, mask), zero_padding(target.detach(), mask),
                                  self.loss_type, self.beta)
        return self.loss_weight * masked_mean(values, mask)

    def extra_repr(self) -> str:
        return f'loss_type={self.loss_type!r}, loss_weight={self.loss_weight}'

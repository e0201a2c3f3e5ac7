"""Masked reductions and element-wise penalties shared by the losses."""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    'LOSS_TYPES', 'check_loss_type', 'elementwise_loss', 'masked_mean', 'check_mask',
    'zero_padding'
]

#: Valid ``loss_type`` names.
LOSS_TYPES = ('mse', 'l1', 'smooth_l1')


def check_loss_type(loss_type: str) -> str:
    """Return ``loss_type`` or raise a ValueError listing the valid names."""
    if loss_type not in LOSS_TYPES:
        raise ValueError(f'Unknown loss_type {loss_type!r}; valid: '
                         f'{", ".join(repr(t) for t in LOSS_TYPES)}')
    return loss_type


def elementwise_loss(pred: torch.Tensor, target: torch.Tensor, loss_type: str = 'mse',
                     beta: float = 1.0) -> torch.Tensor:
    """Unreduced penalty of ``pred - target``.

    Args:
        pred (Tensor): Prediction, any shape.
        target (Tensor): Target, same shape.
        loss_type (str): ``'mse'`` (squared error), ``'l1'`` or ``'smooth_l1'``
            (Huber with threshold ``beta``). Defaults to 'mse'.
        beta (float): Smooth-L1 threshold. Defaults to 1.0.

    Returns:
        Tensor: Element-wise loss, same shape as ``pred``.
    """
    check_loss_type(loss_type)
    if loss_type == 'mse':
        return (pred - target)**2
    if loss_type == 'l1':
        return (pred - target).abs()
    return F.smooth_l1_loss(pred, target, reduction='none', beta=beta)


def check_mask(mask: torch.Tensor, x: torch.Tensor, name: str = 'pred') -> torch.Tensor:
    """Validate a (B, T) frame mask against ``x`` (B, T, ...) and return it as bool.

    Args:
        mask (Tensor): (B, T) valid-frame mask (bool or 0/1).
        x (Tensor): (B, T, ...) tensor the mask applies to.
        name (str): Name of ``x`` in the error message. Defaults to 'pred'.

    Returns:
        Tensor: (B, T) bool mask on ``x``'s device.
    """
    if mask.ndim != 2 or tuple(mask.shape) != tuple(x.shape[:2]):
        raise ValueError(f'mask must have shape (B, T) = {tuple(x.shape[:2])} to match {name} '
                         f'{tuple(x.shape)}, got {tuple(mask.shape)}')
    return mask.to(device=x.device, dtype=torch.bool)


def zero_padding(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Replace invalid frames by zeros with ``torch.where``.

    Unlike multiplying by the mask, NaN/inf at invalid frames vanish from both
    the value and the gradient (which is exactly zero there).

    Args:
        x (Tensor): (B, T, ...) values.
        mask (Tensor): (B, T) bool, True at valid frames.

    Returns:
        Tensor: (B, T, ...) values, zero at invalid frames.
    """
    keep = mask.reshape(mask.shape + (1, ) * (x.ndim - 2))
    return torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over valid frames and all trailing dims.

    Entries at invalid frames are selected away (not multiplied by zero), so
    NaN/inf there do not reach the value; to keep them out of the gradient too,
    pass the inputs of the element-wise loss through :func:`zero_padding`
    first. An empty mask gives a zero that still carries ``values``' ``grad_fn``.

    Args:
        values (Tensor): (B, T, ...) element-wise loss.
        mask (Tensor): (B, T) bool, True at valid frames.

    Returns:
        Tensor: Scalar mean over the ``mask.sum() * prod(values.shape[2:])`` valid entries.
    """
    keep = mask.reshape(mask.shape + (1, ) * (values.ndim - 2)).expand_as(values)
    total = torch.where(keep, values, torch.zeros_like(values)).sum()
    count = keep.sum().clamp(min=1).to(values.dtype)
    return total / count

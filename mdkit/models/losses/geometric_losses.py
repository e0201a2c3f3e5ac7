"""Geometric losses on joints recovered from features through a motion codec.

Every loss here decodes ``pred_x0`` and ``gt_x0`` (B, T, D) into world joints
(B, T, J, 3) with ``codec.decode`` (differentiable) and compares them on valid
frames only. Before decoding, padded frames are replaced by zeros (the mean
pose when ``normalized=True``) so that padding content can neither change the
loss nor produce NaN gradients; with the usual prefix masks (padding at the
end) the valid frames are decoded exactly as the unpadded clip. Half-precision
inputs are decoded in float32 (the root is integrated by a cumulative sum).

The ground truth is detached: gradients reach ``pred_x0`` only.
"""
from __future__ import annotations

import torch
from torch import nn

from mdkit.registry import MODELS

from .utils import check_loss_type, check_mask, elementwise_loss, masked_mean, zero_padding

__all__ = ['BaseGeometricLoss', 'JointPositionLoss', 'JointVelocityLoss',
           'JointAccelerationLoss', 'FootContactLoss']


class BaseGeometricLoss(nn.Module):
    """Common part of the codec-based losses: arguments, checks and decoding.

    ``uses_codec = True`` tells the generator to call
    ``loss(pred_x0, gt_x0, mask, codec)`` instead of ``loss(pred, target, mask)``.

    Args:
        loss_type (str): ``'mse'``, ``'l1'`` or ``'smooth_l1'``. Defaults to 'mse'.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        beta (float): Smooth-L1 threshold (metres). Defaults to 1.0.
    """

    uses_codec = True

    def __init__(self, loss_type: str = 'mse', loss_weight: float = 1.0, beta: float = 1.0):
        super().__init__()
        self.loss_type = check_loss_type(loss_type)
        self.loss_weight = float(loss_weight)
        self.beta = float(beta)

    def _prepare(self, pred_x0: torch.Tensor, gt_x0: torch.Tensor, mask: torch.Tensor, codec):
        """Check inputs; return the bool mask and the padding-free float features."""
        if codec is None or not hasattr(codec, 'decode'):
            raise TypeError(f'{type(self).__name__} needs a motion codec (e.g. HumanML3DCodec) '
                            f'as `codec`, got {type(codec).__name__}')
        if pred_x0.shape != gt_x0.shape:
            raise ValueError(f'pred_x0 {tuple(pred_x0.shape)} and gt_x0 {tuple(gt_x0.shape)} '
                             'must have the same shape')
        if pred_x0.ndim != 3 or pred_x0.shape[-1] != codec.dim:
            raise ValueError(f'{type(self).__name__} expects (B, T, D={codec.dim}) features for '
                             f'{codec!r}, got {tuple(pred_x0.shape)}')
        mask = check_mask(mask, pred_x0, 'pred_x0')
        dtype = pred_x0.dtype
        if dtype in (torch.float16, torch.bfloat16) or not dtype.is_floating_point:
            dtype = torch.float32
        pred = zero_padding(pred_x0.to(dtype), mask)
        gt = zero_padding(gt_x0.detach().to(dtype), mask)
        return mask, pred, gt

    def forward(self, pred_x0: torch.Tensor, gt_x0: torch.Tensor, mask: torch.Tensor, codec,
                normalized: bool = True) -> torch.Tensor:
        """Weighted loss.

        Args:
            pred_x0 (Tensor): (B, T, D) predicted clean features.
            gt_x0 (Tensor): (B, T, D) ground-truth features.
            mask (Tensor): (B, T) bool, True at valid frames.
            codec (BaseMotionCodec): Codec that decodes the features (with
                statistics when ``normalized=True``).
            normalized (bool): Whether the features are normalised by the
                codec's mean/std. Defaults to True.

        Returns:
            Tensor: Scalar loss.
        """
        mask, pred, gt = self._prepare(pred_x0, gt_x0, mask, codec)
        return self.loss_weight * self._loss(pred, gt, mask, codec, normalized)

    def _loss(self, pred, gt, mask, codec, normalized) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f'loss_type={self.loss_type!r}, loss_weight={self.loss_weight}'


@MODELS.register_module()
class JointPositionLoss(BaseGeometricLoss):
    """Error of the decoded world joint positions, averaged over valid frames, joints and xyz.

    Args:
        loss_type (str): ``'mse'``, ``'l1'`` or ``'smooth_l1'``. Defaults to 'mse'.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        beta (float): Smooth-L1 threshold (metres). Defaults to 1.0.

    Example:
        >>> loss = MODELS.build(dict(type='JointPositionLoss', loss_weight=1.0))
    """

    def _loss(self, pred, gt, mask, codec, normalized):
        pred_j = codec.decode(pred, normalized=normalized)
        gt_j = codec.decode(gt, normalized=normalized)
        return masked_mean(elementwise_loss(pred_j, gt_j, self.loss_type, self.beta), mask)


def _frame_pairs(mask: torch.Tensor) -> torch.Tensor:
    """(B, T) frame mask -> (B, T-1) mask of pairs ``(t, t+1)`` with both frames valid."""
    return mask[:, 1:] & mask[:, :-1]


def _differences(x: torch.Tensor, mask: torch.Tensor, order: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``order``-th finite differences along T, and the mask of runs of valid frames they span.

    ``x`` is (B, T, ...) and ``mask`` (B, T); the results are (B, T - order, ...) and
    (B, T - order).
    """
    for _ in range(order):
        x = x[:, 1:] - x[:, :-1]
        mask = _frame_pairs(mask)
    return x, mask


class _JointDifferenceLoss(BaseGeometricLoss):
    """Error of the ``order``-th frame differences of the decoded joints."""

    order = 1

    def _loss(self, pred, gt, mask, codec, normalized):
        pred_d, valid = _differences(codec.decode(pred, normalized=normalized), mask, self.order)
        gt_d, _ = _differences(codec.decode(gt, normalized=normalized), mask, self.order)
        return masked_mean(elementwise_loss(pred_d, gt_d, self.loss_type, self.beta), valid)


@MODELS.register_module()
class JointVelocityLoss(_JointDifferenceLoss):
    """Error of per-frame joint displacements ``j[t+1] - j[t]`` (metres per frame).

    Averaged over pairs of consecutive valid frames, joints and xyz.

    Args:
        loss_type (str): ``'mse'``, ``'l1'`` or ``'smooth_l1'``. Defaults to 'mse'.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        beta (float): Smooth-L1 threshold (metres). Defaults to 1.0.

    Example:
        >>> loss = MODELS.build(dict(type='JointVelocityLoss', loss_weight=1.0))
    """

    order = 1


@MODELS.register_module()
class JointAccelerationLoss(_JointDifferenceLoss):
    """Error of joint second differences ``j[t+1] - 2 j[t] + j[t-1]`` (metres per frame²).

    Averaged over runs of three consecutive valid frames, joints and xyz. It
    penalises frame-to-frame noise far more than smooth motion: for white
    noise of variance s² per frame the squared second difference is 6 s², three
    times the squared first difference, while for smooth motion it is much
    smaller than the squared first difference. Against
    :class:`JointVelocityLoss` it therefore asks for smooth output without
    asking as much for less motion.

    Args:
        loss_type (str): ``'mse'``, ``'l1'`` or ``'smooth_l1'``. Defaults to 'mse'.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        beta (float): Smooth-L1 threshold (metres). Defaults to 1.0.

    Example:
        >>> loss = MODELS.build(dict(type='JointAccelerationLoss', loss_weight=1.0))
    """

    order = 2


@MODELS.register_module()
class FootContactLoss(BaseGeometricLoss):
    """Foot sliding: predicted foot displacement where the ground truth says the foot is planted.

    The contact labels are the last feature block (``codec.slices['foot_contact']``,
    ordered like ``codec.skeleton.foot_joints``: left ankle, left toe, right
    ankle, right toe) of the de-normalised ground truth, thresholded at 0.5.
    The label of frame ``t`` describes the move from ``t`` to ``t + 1``, so it
    gates the predicted displacement ``j[t+1] - j[t]`` of that foot joint.
    The penalty (displacement against zero) is averaged over pairs of
    consecutive valid frames, the 4 foot joints and xyz, counting non-contact
    entries as zero (MDM's convention).

    Args:
        loss_type (str): ``'mse'``, ``'l1'`` or ``'smooth_l1'``. Defaults to 'mse'.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        beta (float): Smooth-L1 threshold (metres). Defaults to 1.0.
        contact_threshold (float): Contact label value above which a foot is
            planted. Defaults to 0.5.

    Example:
        >>> loss = MODELS.build(dict(type='FootContactLoss', loss_weight=1.0))
    """

    def __init__(self, loss_type: str = 'mse', loss_weight: float = 1.0, beta: float = 1.0,
                 contact_threshold: float = 0.5):
        super().__init__(loss_type, loss_weight, beta)
        self.contact_threshold = float(contact_threshold)

    def _loss(self, pred, gt, mask, codec, normalized):
        gt_raw = codec.denormalize(gt) if normalized else gt
        contact = gt_raw[..., codec.slices['foot_contact']] > self.contact_threshold  # (B, T, 4)
        feet = list(codec.skeleton.foot_joints)
        if contact.shape[-1] != len(feet):
            raise ValueError(f'{len(feet)} foot joints but {contact.shape[-1]} contact labels '
                             f'in {codec!r}')
        pred_feet = codec.decode(pred, normalized=normalized)[..., feet, :]  # (B, T, 4, 3)
        vel = pred_feet[:, 1:] - pred_feet[:, :-1]  # (B, T-1, 4, 3)
        values = elementwise_loss(vel, torch.zeros_like(vel), self.loss_type, self.beta)
        on = contact[:, :-1, :, None].expand_as(values)
        values = torch.where(on, values, torch.zeros_like(values))
        return masked_mean(values, _frame_pairs(mask))

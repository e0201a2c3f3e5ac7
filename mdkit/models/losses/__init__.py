"""Training losses (``nn.Module`` s in ``MODELS``, each with ``loss_weight``)."""
from .diffusion_loss import MaskedDiffusionLoss
from .geometric_losses import (
    BaseGeometricLoss,
    FootContactLoss,
    JointPositionLoss,
    JointVelocityLoss,
)
from .utils import LOSS_TYPES, elementwise_loss, masked_mean

__all__ = [
    'MaskedDiffusionLoss', 'BaseGeometricLoss', 'JointPositionLoss', 'JointVelocityLoss',
    'FootContactLoss', 'LOSS_TYPES', 'elementwise_loss', 'masked_mean'
]

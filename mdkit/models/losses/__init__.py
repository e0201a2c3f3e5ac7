"""Training losses (``nn.Module`` s in ``MODELS``, each with ``loss_weight``)."""
from .dash import (
    BaseAlignmentLoss,
    CKALoss,
    CosineAlignmentLoss,
    DASHLoss,
    GramMatchingLoss,
    MMDLoss,
    MomentMatchingLoss,
    build_projector,
    cosine_alignment,
    gram_matching,
    linear_cka,
    mmd_rbf,
    moment_matching,
    resample_valid,
)
from .diffusion_loss import MaskedDiffusionLoss
from .geometric_losses import (
    BaseGeometricLoss,
    FootContactLoss,
    JointAccelerationLoss,
    JointPositionLoss,
    JointVelocityLoss,
)
from .utils import LOSS_TYPES, elementwise_loss, masked_mean

__all__ = [
    'MaskedDiffusionLoss', 'BaseGeometricLoss', 'JointPositionLoss', 'JointVelocityLoss',
    'JointAccelerationLoss', 'FootContactLoss', 'LOSS_TYPES', 'elementwise_loss', 'masked_mean',
    'BaseAlignmentLoss', 'MomentMatchingLoss', 'MMDLoss', 'GramMatchingLoss', 'CKALoss',
    'CosineAlignmentLoss',
    'DASHLoss', 'resample_valid', 'build_projector', 'moment_matching', 'mmd_rbf',
    'gram_matching', 'linear_cka', 'cosine_alignment'
]

"""Motion representation: skeletons, rotations, kinematics, HumanML3D features, codecs."""
from .codecs import BaseMotionCodec, HumanML3DCodec, KITCodec, load_mean_std
from .features import (
                       feature_slices,
                       features_to_joints,
                       foot_contacts,
                       joints_to_features,
                       normalize_placement,
                       retarget_joints,
)
from .kinematics import forward_kinematics, gaussian_filter1d, inverse_kinematics
from .skeletons import HUMANML3D_SKELETON, KIT_SKELETON, SkeletonDef, get_skeleton

__all__ = [
    'BaseMotionCodec', 'HumanML3DCodec', 'KITCodec', 'load_mean_std', 'feature_slices',
    'features_to_joints', 'foot_contacts', 'joints_to_features', 'normalize_placement',
    'retarget_joints', 'forward_kinematics', 'gaussian_filter1d', 'inverse_kinematics',
    'HUMANML3D_SKELETON', 'KIT_SKELETON', 'SkeletonDef', 'get_skeleton'
]

"""Motion representation: skeletons, rotations, kinematics, features, codecs, mocap I/O."""
from .asf_amc import read_asf, read_asf_amc
from .bvh import read_bvh
from .codecs import BaseMotionCodec, HumanML3DCodec, KITCodec, load_mean_std
from .features import (
                       feature_slices,
                       features_to_joints,
                       foot_contacts,
                       joints_to_features,
                       normalize_placement,
                       retarget_joints,
)
from .joint_maps import BUILTIN_JOINT_MAPS, EndSite, JointMap, Lerp, get_joint_map, validate_joints
from .kinematics import forward_kinematics, gaussian_filter1d, inverse_kinematics
from .mocap import MocapClip, load_mocap, load_trial, resample
from .skeletons import HUMANML3D_SKELETON, KIT_SKELETON, SkeletonDef, get_skeleton

__all__ = [
    'BaseMotionCodec', 'HumanML3DCodec', 'KITCodec', 'load_mean_std', 'feature_slices',
    'features_to_joints', 'foot_contacts', 'joints_to_features', 'normalize_placement',
    'retarget_joints', 'forward_kinematics', 'gaussian_filter1d', 'inverse_kinematics',
    'HUMANML3D_SKELETON', 'KIT_SKELETON', 'SkeletonDef', 'get_skeleton', 'read_asf',
    'read_asf_amc', 'read_bvh', 'BUILTIN_JOINT_MAPS', 'EndSite', 'JointMap', 'Lerp',
    'get_joint_map', 'validate_joints', 'MocapClip', 'load_mocap', 'load_trial', 'resample'
]

"""Skeleton definitions for the HumanML3D (22-joint SMPL) and KIT-ML (21-joint MMM) chains.

A :class:`SkeletonDef` holds everything the feature representation needs:
joint names, parents, kinematic chains (lists of joint indices from a root
outwards), the unit rest-pose direction of every bone (``raw_offsets``), the
foot joints used for contact labels, the four joints that define the facing
direction and the two joints whose bone lengths define the leg length used to
scale the root trajectory when retargeting.

Conventions: Y is up, a character in rest pose faces +Z.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ['SkeletonDef', 'HUMANML3D_SKELETON', 'KIT_SKELETON', 'get_skeleton']


@dataclass(frozen=True)
class SkeletonDef:
    """A kinematic skeleton description.

    Args:
        name (str): Short name, e.g. ``'humanml3d'``.
        joint_names (tuple[str, ...]): One name per joint, in data order.
        kinematic_chains (tuple[tuple[int, ...], ...]): Chains of joint
            indices; the first entry of each chain is its (already placed)
            start joint.
        raw_offsets (np.ndarray): (J, 3) unit rest-pose direction of the bone
            ending at each joint (zero for the root).
        foot_left (tuple[int, int]): Left ankle and toe joint indices.
        foot_right (tuple[int, int]): Right ankle and toe joint indices.
        face_joints (tuple[int, int, int, int]): Right hip, left hip, right
            shoulder, left shoulder; their across-vector defines facing.
        leg_joints (tuple[int, int]): Joints whose bone lengths (rest offset
            magnitudes) sum to the leg length used to rescale root motion.
        default_bone_lengths (np.ndarray | None): (J,) bone lengths of the
            standard target skeleton (0 for the root), or None when no
            standard target exists.
        default_feet_threshold (float): Squared per-frame displacement below
            which a foot joint counts as in contact.
    """

    name: str
    joint_names: tuple
    kinematic_chains: tuple
    raw_offsets: np.ndarray = field(repr=False)
    foot_left: tuple
    foot_right: tuple
    face_joints: tuple
    leg_joints: tuple
    default_bone_lengths: np.ndarray | None = field(default=None, repr=False)
    default_feet_threshold: float = 0.002

    @property
    def num_joints(self) -> int:
        """int: Number of joints J."""
        return len(self.joint_names)

    @property
    def feature_dim(self) -> int:
        """int: Width of the HumanML3D-style feature vector: 4 + 3(J-1) + 6(J-1) + 3J + 4."""
        j = self.num_joints
        return 4 + 3 * (j - 1) + 6 * (j - 1) + 3 * j + 4

    @property
    def parents(self) -> tuple:
        """tuple[int, ...]: Parent index of every joint (-1 for the root)."""
        parents = [-1] * self.num_joints
        for chain in self.kinematic_chains:
            for a, b in zip(chain[:-1], chain[1:]):
                parents[b] = a
        return tuple(parents)

    @property
    def foot_joints(self) -> tuple:
        """tuple[int, ...]: Left then right foot joints (ankle, toe)."""
        return tuple(self.foot_left) + tuple(self.foot_right)

    def offsets(self, bone_lengths: np.ndarray | None = None) -> np.ndarray:
        """Rest-pose offsets (J, 3): raw directions scaled by bone lengths.

        Args:
            bone_lengths (np.ndarray | None): (J,) lengths; defaults to the
                standard target skeleton.

        Returns:
            np.ndarray: (J, 3) float64 offsets.
        """
        if bone_lengths is None:
            if self.default_bone_lengths is None:
                raise ValueError(
                    f'Skeleton {self.name!r} has no standard target skeleton; pass '
                    '`target_offsets` explicitly (e.g. offsets_from_joints(your_joints[0])).')
            bone_lengths = self.default_bone_lengths
        bone_lengths = np.asarray(bone_lengths, dtype=np.float64)
        return self.raw_offsets * bone_lengths[:, None]

    def offsets_from_joints(self, joints: np.ndarray) -> np.ndarray:
        """Rest-pose offsets (J, 3) whose lengths are the bone lengths of one pose.

        Args:
            joints (np.ndarray): (J, 3) joint positions of one frame.

        Returns:
            np.ndarray: (J, 3) offsets = raw direction * bone length.
        """
        joints = np.asarray(joints, dtype=np.float64)
        parents = np.array(self.parents)
        lengths = np.zeros(self.num_joints)
        lengths[1:] = np.linalg.norm(joints[1:] - joints[parents[1:]], axis=-1)
        return self.raw_offsets * lengths[:, None]

    def mirror_indices(self) -> list:
        """list[int]: Joint permutation that swaps left and right joints."""
        names = list(self.joint_names)
        perm = []
        for n in names:
            swapped = _swap_side(n)
            perm.append(names.index(swapped) if swapped in names else names.index(n))
        return perm


def _swap_side(name: str) -> str:
    for a, b in (('left', 'right'), ('right', 'left')):
        if name.startswith(a + '_'):
            return b + name[len(a):]
    if len(name) > 1 and name[0] in 'LR' and name[1:2].isupper():
        return ('R' if name[0] == 'L' else 'L') + name[1:]
    return name


HUMANML3D_SKELETON = SkeletonDef(
    name='humanml3d',
    joint_names=(
        'pelvis', 'left_hip', 'right_hip', 'spine1', 'left_knee', 'right_knee',
        'spine2', 'left_ankle', 'right_ankle', 'spine3', 'left_foot',
        'right_foot', 'neck', 'left_collar', 'right_collar', 'head',
        'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
        'left_wrist', 'right_wrist'),
    kinematic_chains=((0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15),
                      (9, 14, 17, 19, 21), (9, 13, 16, 18, 20)),
    raw_offsets=np.array(
        [[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0],
         [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1],
         [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, -1, 0], [0, -1, 0],
         [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0]], dtype=np.float64),
    foot_left=(7, 10),
    foot_right=(8, 11),
    face_joints=(2, 1, 17, 16),
    leg_joints=(5, 8),
    # Bone lengths (metres) of the standard HumanML3D target skeleton. They are
    # the same in every released ``new_joints`` file (checked against the
    # reference samples in tests/test_motion/test_skeletons.py).
    default_bone_lengths=np.array(
        [0.0, 0.1030740, 0.1098834, 0.1315682, 0.3936232, 0.3901882, 0.1431902,
         0.4324330, 0.4256434, 0.0573647, 0.1433818, 0.1494191, 0.2193601,
         0.1374868, 0.1433828, 0.1030392, 0.1316140, 0.1229844, 0.2568399,
         0.2630919, 0.2660118, 0.2698764]),
    default_feet_threshold=0.002,
)

KIT_SKELETON = SkeletonDef(
    name='kit',
    # MMM marker-based joints as ordered in KIT-ML.
    joint_names=('root', 'BP', 'BT', 'BLN', 'BUN', 'RS', 'RE', 'RW', 'LS', 'LE',
                 'LW', 'RH', 'RK', 'RA', 'RMrot', 'RF', 'LH', 'LK', 'LA',
                 'LMrot', 'LF'),
    kinematic_chains=((0, 11, 12, 13, 14, 15), (0, 16, 17, 18, 19, 20),
                      (0, 1, 2, 3, 4), (3, 5, 6, 7), (3, 8, 9, 10)),
    raw_offsets=np.array(
        [[0, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0],
         [0, -1, 0], [0, -1, 0], [-1, 0, 0], [0, -1, 0], [0, -1, 0], [1, 0, 0],
         [0, -1, 0], [0, -1, 0], [0, 0, 1], [0, 0, 1], [-1, 0, 0], [0, -1, 0],
         [0, -1, 0], [0, 0, 1], [0, 0, 1]], dtype=np.float64),
    foot_left=(19, 20),
    foot_right=(14, 15),
    face_joints=(11, 16, 5, 8),
    leg_joints=(17, 18),
    # No standard KIT target skeleton ships with mdkit: callers pass
    # ``target_offsets`` (or retargeting is skipped, keeping source lengths).
    default_bone_lengths=None,
    default_feet_threshold=0.05,
)

_SKELETONS = {'humanml3d': HUMANML3D_SKELETON, 't2m': HUMANML3D_SKELETON,
              'smpl22': HUMANML3D_SKELETON, 'kit': KIT_SKELETON,
              'kitml': KIT_SKELETON}


def get_skeleton(name: str | SkeletonDef) -> SkeletonDef:
    """Look up a skeleton by name (``'humanml3d'``, ``'kit'``) or pass one through."""
    if isinstance(name, SkeletonDef):
        return name
    try:
        return _SKELETONS[name.lower()]
    except KeyError:
        raise KeyError(f'Unknown skeleton {name!r}; known: {sorted(_SKELETONS)}') from None

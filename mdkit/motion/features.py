"""The HumanML3D motion feature representation (263-d for 22 joints, 251-d for KIT's 21).

Per frame, for a skeleton with J joints (root first), the feature vector is::

    [0]                root angular velocity about Y (half-angle, radians / frame)
    [1:3]              root linear velocity in the root's facing frame (x, z)
    [3]                root height
    [4 : 4+3(J-1)]     rotation-invariant joint positions (root-relative xz,
                       facing-aligned), joints 1..J-1
    [.. : +6(J-1)]     continuous-6D local joint rotations, joints 1..J-1
    [.. : +3J]         joint velocities in the root's facing frame, all joints
    [-4:]              foot contacts: left ankle, left toe, right ankle, right toe

``joints_to_features`` applies the standard preprocessing first: retarget to
the target skeleton's bone lengths (root trajectory scaled by the leg-length
ratio), put the lowest joint on the floor, move the root to the XZ origin and
turn the body to face +Z at frame 0. ``T`` input frames give ``T - 1``
feature frames (velocities need a next frame). ``features_to_joints`` integrates
the root and recovers joint positions from the rotation-invariant part.
"""
from __future__ import annotations

import numpy as np
import torch

from .kinematics import forward_kinematics, inverse_kinematics
from .quaternion import as_tensor, qbetween, qinv, qmul, qrot, quaternion_to_cont6d
from .skeletons import SkeletonDef, get_skeleton

__all__ = ['joints_to_features', 'features_to_joints', 'retarget_joints',
           'normalize_placement', 'foot_contacts', 'feature_slices']


def feature_slices(skeleton: str | SkeletonDef = 'humanml3d') -> dict:
    """Name -> ``slice`` of every block of the feature vector.

    Args:
        skeleton (str | SkeletonDef): Skeleton. Defaults to 'humanml3d'.

    Returns:
        dict[str, slice]: keys ``root_rot_velocity``, ``root_linear_velocity``,
        ``root_height``, ``ric``, ``rot6d``, ``local_velocity``, ``foot_contact``.
    """
    j = get_skeleton(skeleton).num_joints
    edges = np.cumsum([0, 1, 2, 1, 3 * (j - 1), 6 * (j - 1), 3 * j, 4])
    names = ['root_rot_velocity', 'root_linear_velocity', 'root_height', 'ric', 'rot6d',
             'local_velocity', 'foot_contact']
    return {n: slice(int(a), int(b)) for n, a, b in zip(names, edges[:-1], edges[1:])}


def _check_joints(joints, skel: SkeletonDef, min_frames: int = 2) -> np.ndarray:
    if isinstance(joints, torch.Tensor):
        joints = joints.detach().cpu().numpy()
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (skel.num_joints, 3):
        raise ValueError(f'Expected joints of shape (T, {skel.num_joints}, 3) for skeleton '
                         f'{skel.name!r}, got {tuple(joints.shape)}.')
    if joints.shape[0] < min_frames:
        raise ValueError(f'Need at least {min_frames} frames, got {joints.shape[0]}.')
    if not np.isfinite(joints).all():
        bad = np.argwhere(~np.isfinite(joints))[0]
        raise ValueError(f'Joint positions contain NaN/inf (first at frame {bad[0]}, joint '
                         f'{skel.joint_names[bad[1]]!r}).')
    return joints


def retarget_joints(joints: np.ndarray, target_offsets: np.ndarray,
                    skeleton: str | SkeletonDef = 'humanml3d') -> np.ndarray:
    """Re-pose a motion on a skeleton with other bone lengths.

    Joint rotations come from inverse kinematics on the source positions; the
    root trajectory is scaled by the ratio of target to source leg length.

    Args:
        joints (np.ndarray): (T, J, 3) source positions.
        target_offsets (np.ndarray): (J, 3) rest offsets of the target skeleton.
        skeleton (str | SkeletonDef): Skeleton. Defaults to 'humanml3d'.

    Returns:
        np.ndarray: (T, J, 3) positions on the target skeleton.
    """
    skel = get_skeleton(skeleton)
    src_offsets = skel.offsets_from_joints(joints[0])
    tgt_offsets = np.asarray(target_offsets, dtype=np.float64)
    a, b = skel.leg_joints
    src_leg = np.abs(src_offsets[a]).max() + np.abs(src_offsets[b]).max()
    tgt_leg = np.abs(tgt_offsets[a]).max() + np.abs(tgt_offsets[b]).max()
    if src_leg <= 1e-8:
        raise ValueError('Source leg bones have zero length in frame 0; cannot retarget.')
    root = joints[:, 0] * (tgt_leg / src_leg)
    quats = inverse_kinematics(joints, skel, smooth_forward=False)
    return forward_kinematics(quats, root, tgt_offsets, skel)


def normalize_placement(joints: np.ndarray, skeleton: str | SkeletonDef = 'humanml3d'):
    """Put a motion on the floor, root at the XZ origin, facing +Z at frame 0.

    Args:
        joints (np.ndarray): (T, J, 3) positions.
        skeleton (str | SkeletonDef): Skeleton. Defaults to 'humanml3d'.

    Returns:
        np.ndarray: (T, J, 3) placed positions.
    """
    skel = get_skeleton(skeleton)
    joints = joints.copy()
    joints[..., 1] -= joints[..., 1].min()
    first = joints[0].copy()
    joints -= first[0] * np.array([1.0, 0.0, 1.0])
    r_hip, l_hip, r_sdr, l_sdr = skel.face_joints
    across = (first[r_hip] - first[l_hip]) + (first[r_sdr] - first[l_sdr])
    across = across / np.linalg.norm(across)
    forward = np.cross(np.array([0.0, 1.0, 0.0]), across)
    forward = forward / np.linalg.norm(forward)
    quat = qbetween(forward, np.array([0.0, 0.0, 1.0]))
    return qrot(np.broadcast_to(quat, joints.shape[:-1] + (4, )), joints)


def foot_contacts(joints: np.ndarray, skeleton: str | SkeletonDef = 'humanml3d',
                  threshold: float | None = None) -> np.ndarray:
    """Binary foot contact labels from per-frame squared foot displacement.

    Args:
        joints (np.ndarray): (T, J, 3) positions.
        skeleton (str | SkeletonDef): Skeleton. Defaults to 'humanml3d'.
        threshold (float | None): Squared displacement per frame below which a
            foot joint is in contact. Defaults to the skeleton's default.

    Returns:
        np.ndarray: (T-1, 4) contacts for left ankle, left toe, right ankle, right toe.
    """
    skel = get_skeleton(skeleton)
    thr = skel.default_feet_threshold if threshold is None else threshold
    feet = joints[:, list(skel.foot_joints)]
    disp2 = ((feet[1:] - feet[:-1]) ** 2).sum(-1)
    return (disp2 < thr).astype(np.float64)


def joints_to_features(joints, target_offsets=None, feet_threshold: float | None = None,
                       skeleton: str | SkeletonDef = 'humanml3d', retarget: bool | None = None):
    """World joint positions -> HumanML3D-style features.

    Args:
        joints (np.ndarray | torch.Tensor): (T, J, 3) positions in metres, Y up.
        target_offsets (np.ndarray | None): (J, 3) rest offsets of the target
            skeleton. Defaults to the skeleton's standard target (HumanML3D);
            KIT has no standard target, so it is not retargeted unless given.
        feet_threshold (float | None): Foot contact threshold (squared metres
            per frame). Defaults to the skeleton's (0.002 for HumanML3D).
        skeleton (str | SkeletonDef): 'humanml3d' (263-d) or 'kit' (251-d).
        retarget (bool | None): Force retargeting on/off. Defaults to
            retargeting whenever target offsets are known.

    Returns:
        np.ndarray: (T-1, D) float64 features, D = 263 or 251.
    """
    skel = get_skeleton(skeleton)
    joints = _check_joints(joints, skel)
    if target_offsets is None and skel.default_bone_lengths is not None:
        target_offsets = skel.offsets()
    if retarget is None:
        retarget = target_offsets is not None
    if retarget:
        if target_offsets is None:
            raise ValueError(f'retarget=True needs target_offsets for skeleton {skel.name!r}.')
        joints = retarget_joints(joints, target_offsets, skel)
    positions = normalize_placement(joints, skel)
    global_positions = positions.copy()
    contacts = foot_contacts(positions, skel, feet_threshold)

    quats = inverse_kinematics(positions, skel, smooth_forward=True)
    cont6d = quaternion_to_cont6d(quats)
    r_rot = quats[:, 0]
    velocity = qrot(r_rot[1:], positions[1:, 0] - positions[:-1, 0])
    r_velocity = qmul(r_rot[1:], qinv(r_rot[:-1]))

    ric = positions.copy()
    ric[..., 0] -= ric[:, 0:1, 0]
    ric[..., 2] -= ric[:, 0:1, 2]
    ric = qrot(np.repeat(r_rot[:, None], ric.shape[1], axis=1), ric)

    root_y = ric[:, 0, 1:2]
    root_data = np.concatenate(
        [np.arcsin(np.clip(r_velocity[:, 2:3], -1, 1)), velocity[:, [0, 2]], root_y[:-1]], -1)
    num = len(positions)
    rot_data = cont6d[:, 1:].reshape(num, -1)
    ric_data = ric[:, 1:].reshape(num, -1)
    local_vel = qrot(np.repeat(r_rot[:-1, None], global_positions.shape[1], axis=1),
                     global_positions[1:] - global_positions[:-1]).reshape(num - 1, -1)
    feats = np.concatenate([root_data, ric_data[:-1], rot_data[:-1], local_vel, contacts], -1)
    if not np.isfinite(feats).all():
        raise ValueError('Feature computation produced NaN/inf: check for zero-length bones or '
                         'a degenerate (collinear) hip/shoulder configuration in the input.')
    return feats


def _recover_root(data: torch.Tensor):
    rot_vel = data[..., 0]
    angle = torch.zeros_like(rot_vel)
    angle[..., 1:] = rot_vel[..., :-1]
    angle = torch.cumsum(angle, dim=-1)
    quat = torch.zeros(data.shape[:-1] + (4, ), dtype=data.dtype, device=data.device)
    quat[..., 0] = torch.cos(angle)
    quat[..., 2] = torch.sin(angle)
    pos = torch.zeros(data.shape[:-1] + (3, ), dtype=data.dtype, device=data.device)
    pos[..., 1:, 0] = data[..., :-1, 1]
    pos[..., 1:, 2] = data[..., :-1, 2]
    pos = qrot(qinv(quat), pos)
    pos = torch.cumsum(pos, dim=-2)
    pos[..., 1] = data[..., 3]
    return quat, pos


def features_to_joints(features, skeleton: str | SkeletonDef = 'humanml3d'):
    """HumanML3D-style features -> joint positions (rotation-invariant-coordinates route).

    Args:
        features (np.ndarray | torch.Tensor): (..., T, D) features; any number
            of leading batch dimensions. Gradients flow through for tensors.
        skeleton (str | SkeletonDef): 'humanml3d' (D=263) or 'kit' (D=251).

    Returns:
        Same kind as ``features``: (..., T, J, 3) positions.
    """
    skel = get_skeleton(skeleton)
    is_numpy = isinstance(features, np.ndarray)
    data = as_tensor(features) if is_numpy else features
    if data.shape[-1] != skel.feature_dim:
        raise ValueError(f'Expected features with last dimension {skel.feature_dim} for skeleton '
                         f'{skel.name!r}, got shape {tuple(data.shape)}.')
    if not data.is_floating_point():
        data = data.double()
    quat, root = _recover_root(data)
    j = skel.num_joints
    local = data[..., 4:4 + 3 * (j - 1)].reshape(data.shape[:-1] + (j - 1, 3))
    local = qrot(qinv(quat)[..., None, :].expand(local.shape[:-1] + (4, )), local)
    xz = torch.zeros_like(local)
    xz[..., 0] = root[..., None, 0]
    xz[..., 2] = root[..., None, 2]
    out = torch.cat([root[..., None, :], local + xz], dim=-2)
    return out.numpy() if is_numpy else out

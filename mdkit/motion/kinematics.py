"""Inverse and forward kinematics on the HumanML3D / KIT skeletons.

Joint rotations are local unit quaternions ``(..., T, J, 4)`` that turn each
bone's rest direction (``SkeletonDef.raw_offsets``) into its posed direction
relative to its chain parent; the root quaternion carries the body's facing
rotation. ``inverse_kinematics`` followed by ``forward_kinematics`` with the
same bone lengths gives back the input positions.
"""
from __future__ import annotations

import numpy as np
import torch

from .quaternion import qbetween, qinv, qmul, qnormalize, qrot
from .skeletons import SkeletonDef, get_skeleton

__all__ = ['gaussian_filter1d', 'facing_directions', 'inverse_kinematics', 'forward_kinematics']


def gaussian_filter1d(x: np.ndarray, sigma: float, axis: int = 0,
                      truncate: float = 4.0) -> np.ndarray:
    """Gaussian smoothing along one axis with edge ('nearest') padding.

    Matches ``scipy.ndimage.gaussian_filter1d(x, sigma, axis, mode='nearest')``
    (kernel radius ``int(truncate * sigma + 0.5)``) without needing scipy.

    Args:
        x (np.ndarray): Input array.
        sigma (float): Standard deviation in samples.
        axis (int): Axis to smooth. Defaults to 0.
        truncate (float): Kernel half-width in standard deviations. Defaults to 4.0.

    Returns:
        np.ndarray: Smoothed array, same shape and dtype family as ``x``.
    """
    radius = int(truncate * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * offsets ** 2 / float(sigma) ** 2)
    kernel /= kernel.sum()
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    n = x.shape[0]
    idx = np.clip(np.arange(n)[:, None] + offsets[None, :], 0, n - 1)  # (n, K)
    out = np.tensordot(x[idx], kernel, axes=([1], [0])) if x.ndim > 1 else x[idx] @ kernel
    return np.moveaxis(out, 0, axis)


def facing_directions(joints: np.ndarray, skeleton: SkeletonDef, smooth: bool = False,
                      hip_sign: float = 1.0) -> np.ndarray:
    """Unit horizontal facing direction per frame from hips and shoulders.

    The across vector is ``hip_sign * (r_hip - l_hip) + (r_sdr - l_sdr)`` and
    the facing direction is ``up x across``.

    Args:
        joints (np.ndarray): (T, J, 3) positions, Y up.
        skeleton (SkeletonDef): Provides ``face_joints`` (r_hip, l_hip, r_sdr, l_sdr).
        smooth (bool): Gaussian-smooth (sigma 20 frames) before normalising,
            as the HumanML3D representation does for its root rotation.
        hip_sign (float): Sign of the hip term. The HumanML3D release
            computes the root rotation of its features with the hip term
            reversed (a shoulder-dominated facing); ``inverse_kinematics``
            uses -1 to reproduce released features. Defaults to 1.0.

    Returns:
        np.ndarray: (T, 3) unit vectors with zero Y component.
    """
    r_hip, l_hip, r_sdr, l_sdr = skeleton.face_joints
    across = hip_sign * (joints[..., r_hip, :] - joints[..., l_hip, :]) + \
        (joints[..., r_sdr, :] - joints[..., l_sdr, :])
    across = across / np.linalg.norm(across, axis=-1, keepdims=True)
    forward = np.cross(np.array([0.0, 1.0, 0.0]), across)
    if smooth:
        forward = gaussian_filter1d(forward, 20, axis=-2)
    return forward / np.linalg.norm(forward, axis=-1, keepdims=True)


def inverse_kinematics(joints: np.ndarray, skeleton: str | SkeletonDef = 'humanml3d',
                       smooth_forward: bool = False) -> np.ndarray:
    """Local joint quaternions that reproduce ``joints`` on the skeleton's bone directions.

    The root rotation turns the (optionally smoothed) facing direction onto
    +Z. Two details follow the HumanML3D release so that features computed
    here match released data: the facing direction enters the hip term with
    reversed sign (see :func:`facing_directions`), and the first frame's root
    rotation is fixed to identity (the motion already faces +Z there).

    Args:
        joints (np.ndarray): (T, J, 3) positions.
        skeleton (str | SkeletonDef): Skeleton. Defaults to 'humanml3d'.
        smooth_forward (bool): Smooth the facing direction. Defaults to False.

    Returns:
        np.ndarray: (T, J, 4) float64 quaternions (w, x, y, z).
    """
    skel = get_skeleton(skeleton)
    joints = np.asarray(joints, dtype=np.float64)
    forward = facing_directions(joints, skel, smooth=smooth_forward, hip_sign=-1.0)
    target = np.broadcast_to(np.array([0.0, 0.0, 1.0]), forward.shape)
    root_quat = qbetween(forward, target)
    root_quat[..., 0, :] = np.array([1.0, 0.0, 0.0, 0.0])
    quats = np.zeros(joints.shape[:-1] + (4, ))
    quats[..., 0] = 1.0
    quats[..., 0, :] = root_quat
    for chain in skel.kinematic_chains:
        rot = root_quat
        for parent, child in zip(chain[:-1], chain[1:]):
            u = np.broadcast_to(skel.raw_offsets[child], joints.shape[:-2] + (3, ))
            v = joints[..., child, :] - joints[..., parent, :]
            v = v / np.linalg.norm(v, axis=-1, keepdims=True)
            local = qmul(qinv(rot), qbetween(u, v))
            quats[..., child, :] = local
            rot = qmul(rot, local)
    return quats


def forward_kinematics(quats, root_pos, offsets, skeleton: str | SkeletonDef = 'humanml3d',
                       use_root_rotation: bool = True):
    """Joint positions from local quaternions, root positions and rest offsets.

    Args:
        quats (np.ndarray | torch.Tensor): (..., T, J, 4) local rotations.
        root_pos (np.ndarray | torch.Tensor): (..., T, 3) root positions.
        offsets (np.ndarray | torch.Tensor): (J, 3) or (..., J, 3) rest offsets
            (direction * bone length), e.g. ``skeleton.offsets()``.
        skeleton (str | SkeletonDef): Skeleton. Defaults to 'humanml3d'.
        use_root_rotation (bool): Apply the root quaternion. Defaults to True.

    Returns:
        Same kind as ``quats``: (..., T, J, 3) positions.
    """
    skel = get_skeleton(skeleton)
    is_numpy = isinstance(quats, np.ndarray)
    q = torch.as_tensor(quats, dtype=torch.float64) if is_numpy else quats
    root = torch.as_tensor(root_pos, dtype=q.dtype, device=q.device)
    off = torch.as_tensor(offsets, dtype=q.dtype, device=q.device)
    if off.dim() == 2:
        off = off.expand(q.shape[:-2] + off.shape)
    elif off.dim() == q.dim() - 1:  # (..., J, 3) per sequence -> broadcast over time
        off = off.unsqueeze(-3).expand(q.shape[:-1] + (3, ))
    positions = [None] * skel.num_joints
    positions[0] = root
    q = qnormalize(q)
    for chain in skel.kinematic_chains:
        rot = q[..., 0, :] if use_root_rotation else torch.zeros_like(q[..., 0, :]).index_fill_(
            -1, torch.tensor([0], device=q.device), 1.0)
        for parent, child in zip(chain[:-1], chain[1:]):
            rot = qmul(rot, q[..., child, :])
            positions[child] = qrot(rot, off[..., child, :]) + positions[parent]
    out = torch.stack(positions, dim=-2)
    return out.numpy() if is_numpy else out

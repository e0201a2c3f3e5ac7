"""Vectorised quaternion and rotation utilities for numpy arrays and torch tensors.

Quaternions are ``(w, x, y, z)`` with the scalar first, in the last
dimension; every function broadcasts over leading dimensions. Each function
accepts either a ``np.ndarray`` or a ``torch.Tensor`` and returns the same
kind: numpy inputs are viewed as tensors (no copy), computed with torch and
handed back as numpy, so both back-ends share one implementation.

Continuous 6D rotations (Zhou et al., CVPR 2019) are the first two *columns*
of the rotation matrix, concatenated: ``(..., 6) = [R[:, 0], R[:, 1]]``.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

__all__ = [
    'qnormalize', 'qmul', 'qinv', 'qrot', 'qbetween', 'qidentity_like',
    'quaternion_to_matrix', 'matrix_to_quaternion', 'cont6d_to_matrix',
    'matrix_to_cont6d', 'quaternion_to_cont6d', 'cont6d_to_quaternion',
    'axis_angle_to_quaternion', 'quaternion_to_axis_angle', 'qslerp',
    'euler_to_matrix', 'yaw_quaternion'
]


def as_tensor(array: np.ndarray) -> torch.Tensor:
    """View a numpy array as a tensor (copying only if read-only or non-contiguous)."""
    return torch.from_numpy(np.require(array, requirements=['C', 'W']))


def _numpy_compatible(fn):
    """Let a torch implementation take and return numpy arrays as well."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        was_numpy = any(isinstance(a, np.ndarray) for a in args)
        if was_numpy:
            args = tuple(as_tensor(a) if isinstance(a, np.ndarray) else a for a in args)
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            dtype = torch.promote_types(tensors[0].dtype, torch.float32)
            for t in tensors[1:]:
                dtype = torch.promote_types(dtype, t.dtype)
            args = tuple(a.to(dtype) if isinstance(a, torch.Tensor) else a for a in args)
        out = fn(*args, **kwargs)
        if was_numpy:
            if isinstance(out, tuple):
                return tuple(o.numpy() for o in out)
            return out.numpy()
        return out

    return wrapper


@_numpy_compatible
def qnormalize(q):
    """Normalise quaternions (..., 4) to unit length."""
    return q / torch.linalg.norm(q, dim=-1, keepdim=True).clamp_min(1e-12)


@_numpy_compatible
def qidentity_like(x):
    """Identity quaternions with the leading shape of ``x`` (..., 4) -> (..., 4)."""
    q = torch.zeros(x.shape[:-1] + (4, ), dtype=x.dtype, device=x.device)
    q[..., 0] = 1
    return q


@_numpy_compatible
def qmul(q, r):
    """Hamilton product ``q * r`` of quaternions (..., 4)."""
    w1, x1, y1, z1 = q.unbind(-1)
    w2, x2, y2, z2 = r.unbind(-1)
    return torch.stack((
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ), dim=-1)


@_numpy_compatible
def qinv(q):
    """Conjugate (inverse of a unit quaternion) (..., 4)."""
    return q * torch.tensor([1, -1, -1, -1], dtype=q.dtype, device=q.device)


@_numpy_compatible
def qrot(q, v):
    """Rotate vectors ``v`` (..., 3) by unit quaternions ``q`` (..., 4)."""
    q, v = torch.broadcast_tensors(q, torch.cat([torch.zeros_like(v[..., :1]), v], -1))
    v = v[..., 1:]
    qv = q[..., 1:]
    uv = torch.cross(qv, v, dim=-1)
    uuv = torch.cross(qv, uv, dim=-1)
    return v + 2 * (q[..., :1] * uv + uuv)


@_numpy_compatible
def qbetween(v0, v1):
    """Shortest-arc unit quaternion rotating direction ``v0`` onto ``v1`` (..., 3) -> (..., 4).

    Antiparallel inputs have no unique answer; a 180 degree turn about an axis
    orthogonal to ``v0`` is returned for them.
    """
    v0, v1 = torch.broadcast_tensors(v0, v1)
    axis = torch.cross(v0, v1, dim=-1)
    norms = torch.sqrt((v0 ** 2).sum(-1, keepdim=True) * (v1 ** 2).sum(-1, keepdim=True))
    w = norms + (v0 * v1).sum(-1, keepdim=True)
    q = torch.cat([w, axis], dim=-1)
    degenerate = (q.abs().sum(-1) < 1e-9 * norms.squeeze(-1).clamp_min(1e-12))
    if degenerate.any():
        ref = torch.zeros_like(v0)
        ref[..., 0] = 1
        alt = torch.cross(v0, ref, dim=-1)
        small = torch.linalg.norm(alt, dim=-1, keepdim=True) < 1e-6
        ref2 = torch.zeros_like(v0)
        ref2[..., 1] = 1
        alt = torch.where(small, torch.cross(v0, ref2, dim=-1), alt)
        flip = torch.cat([torch.zeros_like(w), alt], -1)
        q = torch.where(degenerate[..., None], flip, q)
    return qnormalize(q)


@_numpy_compatible
def quaternion_to_matrix(q):
    """Unit quaternions (..., 4) -> rotation matrices (..., 3, 3)."""
    q = qnormalize(q)
    w, x, y, z = q.unbind(-1)
    return torch.stack((
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ), dim=-1).reshape(q.shape[:-1] + (3, 3))


@_numpy_compatible
def matrix_to_quaternion(m):
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4) with w >= 0.

    Uses the numerically best of the four candidate formulas per element.
    """
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    cands = torch.stack((
        torch.stack((1 + m00 + m11 + m22, m21 - m12, m02 - m20, m10 - m01), -1),
        torch.stack((m21 - m12, 1 + m00 - m11 - m22, m01 + m10, m02 + m20), -1),
        torch.stack((m02 - m20, m01 + m10, 1 - m00 + m11 - m22, m12 + m21), -1),
        torch.stack((m10 - m01, m02 + m20, m12 + m21, 1 - m00 - m11 + m22), -1),
    ), dim=-2)
    diag = torch.stack((1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                        1 - m00 + m11 - m22, 1 - m00 - m11 + m22), -1)
    best = diag.argmax(-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    q = qnormalize(q)
    return torch.where(q[..., :1] < 0, -q, q)


@_numpy_compatible
def matrix_to_cont6d(m):
    """Rotation matrices (..., 3, 3) -> continuous 6D (..., 6): first two columns."""
    return torch.cat([m[..., :, 0], m[..., :, 1]], dim=-1)


@_numpy_compatible
def cont6d_to_matrix(d6):
    """Continuous 6D (..., 6) -> rotation matrices (..., 3, 3) by Gram-Schmidt."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = a1 / torch.linalg.norm(a1, dim=-1, keepdim=True).clamp_min(1e-12)
    b2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = b2 / torch.linalg.norm(b2, dim=-1, keepdim=True).clamp_min(1e-12)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


@_numpy_compatible
def quaternion_to_cont6d(q):
    """Unit quaternions (..., 4) -> continuous 6D (..., 6)."""
    return matrix_to_cont6d(quaternion_to_matrix(q))


@_numpy_compatible
def cont6d_to_quaternion(d6):
    """Continuous 6D (..., 6) -> unit quaternions (..., 4)."""
    return matrix_to_quaternion(cont6d_to_matrix(d6))


@_numpy_compatible
def axis_angle_to_quaternion(aa):
    """Axis-angle vectors (..., 3) (angle = norm, radians) -> unit quaternions (..., 4)."""
    angle = torch.linalg.norm(aa, dim=-1, keepdim=True)
    half = angle / 2
    small = angle < 1e-8
    scale = torch.where(small, 0.5 - angle ** 2 / 48, torch.sin(half) / angle.clamp_min(1e-8))
    return torch.cat([torch.cos(half), aa * scale], dim=-1)


@_numpy_compatible
def quaternion_to_axis_angle(q):
    """Unit quaternions (..., 4) -> axis-angle vectors (..., 3) with angle in [0, pi]."""
    q = qnormalize(q)
    q = torch.where(q[..., :1] < 0, -q, q)
    sin_half = torch.linalg.norm(q[..., 1:], dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sin_half, q[..., :1])
    scale = torch.where(sin_half < 1e-8, 2 / q[..., :1].clamp_min(1e-8),
                        angle / sin_half.clamp_min(1e-12))
    return q[..., 1:] * scale


@_numpy_compatible
def qslerp(q0, q1, t):
    """Spherical interpolation between unit quaternions (..., 4) at fraction ``t`` (...,)."""
    if not isinstance(t, torch.Tensor):
        t = torch.as_tensor(t, dtype=q0.dtype)
    t = t.to(q0.dtype).unsqueeze(-1) if t.dim() > 0 else t.to(q0.dtype)
    dot = (q0 * q1).sum(-1, keepdim=True)
    q1 = torch.where(dot < 0, -q1, q1)
    dot = dot.abs().clamp(max=1.0)
    theta = torch.acos(dot)
    sin_theta = torch.sin(theta)
    linear = sin_theta < 1e-6
    w0 = torch.where(linear, 1 - t, torch.sin((1 - t) * theta) / sin_theta.clamp_min(1e-12))
    w1 = torch.where(linear, t, torch.sin(t * theta) / sin_theta.clamp_min(1e-12))
    return qnormalize(w0 * q0 + w1 * q1)


@_numpy_compatible
def euler_to_matrix(angles, order: str = 'xyz'):
    """Euler angles (..., 3) in radians -> rotation matrices (..., 3, 3).

    ``order`` names the axes in the order the rotations are applied to a
    vector (intrinsic reading right to left): ``'xyz'`` gives ``Rz @ Ry @ Rx``.
    """
    if sorted(order.lower()) != ['x', 'y', 'z']:
        raise ValueError(f'Euler order must be a permutation of "xyz", got {order!r}')
    mats = {}
    one, zero = torch.ones_like(angles[..., 0]), torch.zeros_like(angles[..., 0])
    for i, ax in enumerate(order.lower()):
        c, s = torch.cos(angles[..., i]), torch.sin(angles[..., i])
        if ax == 'x':
            rows = (one, zero, zero, zero, c, -s, zero, s, c)
        elif ax == 'y':
            rows = (c, zero, s, zero, one, zero, -s, zero, c)
        else:
            rows = (c, -s, zero, s, c, zero, zero, zero, one)
        mats[i] = torch.stack(rows, -1).reshape(angles.shape[:-1] + (3, 3))
    return mats[2] @ mats[1] @ mats[0]


@_numpy_compatible
def yaw_quaternion(angle):
    """Rotation about +Y by ``angle`` radians (...,) -> unit quaternions (..., 4)."""
    half = angle / 2
    zero = torch.zeros_like(half)
    return torch.stack((torch.cos(half), zero, torch.sin(half), zero), -1)

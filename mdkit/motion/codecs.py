"""Motion codecs: joints <-> normalised feature vectors, registered in ``MOTION_CODECS``.

A codec owns everything dataset-specific about a motion representation (the
skeleton, the feature width, the normalisation statistics), so networks and
losses never hard-code 263 or a mean/std path.
"""
from __future__ import annotations

import os.path as osp

import numpy as np
import torch

from mdkit.registry import MOTION_CODECS

from .features import feature_slices, features_to_joints, joints_to_features
from .skeletons import SkeletonDef, get_skeleton

__all__ = ['BaseMotionCodec', 'HumanML3DCodec', 'KITCodec', 'load_mean_std']


def load_mean_std(mean, std, dim: int | None = None, min_std: float = 1e-8):
    """Load normalisation statistics from ``.npy`` paths or arrays.

    Args:
        mean (str | np.ndarray | None): Path of ``Mean.npy`` or an array (D,).
        std (str | np.ndarray | None): Path of ``Std.npy`` or an array (D,).
        dim (int | None): Expected feature width D.
        min_std (float): Smallest allowed std. Defaults to 1e-8.

    Returns:
        tuple[np.ndarray, np.ndarray]: float32 mean and std, or (None, None).
    """
    if mean is None and std is None:
        return None, None
    if (mean is None) != (std is None):
        raise ValueError('Give both mean and std (Mean.npy and Std.npy), or neither.')
    out = []
    for name, value in (('mean', mean), ('std', std)):
        if isinstance(value, str):
            if not osp.isfile(value):
                raise FileNotFoundError(
                    f'Normalisation statistics file for {name} not found: {value}. '
                    'Point the codec/dataset at the dataset folder holding Mean.npy and Std.npy '
                    '(tools/dataset_converters/bvh_to_humanml3d.py writes them).')
            try:
                value = np.load(value)
            except Exception as e:  # noqa: BLE001 - re-raised with the file name
                raise ValueError(f'Could not read {name} statistics from {value}: {e}') from e
        arr = np.asarray(value, dtype=np.float32).reshape(-1)
        if dim is not None and arr.shape[0] != dim:
            raise ValueError(f'{name} has {arr.shape[0]} entries but the representation is '
                             f'{dim}-d; the statistics belong to another dataset/skeleton.')
        if not np.isfinite(arr).all():
            raise ValueError(f'{name} statistics contain NaN/inf.')
        out.append(arr)
    if (out[1] < min_std).any():
        raise ValueError(f'std has {(out[1] < min_std).sum()} entries below {min_std}; '
                         'recompute the statistics or clamp them.')
    return out[0], out[1]


class BaseMotionCodec:
    """Joints <-> (normalised) HumanML3D-style features for one skeleton.

    Args:
        skeleton (str | SkeletonDef): Skeleton name or definition.
        mean (str | np.ndarray | None): Feature mean (path or array). Defaults to None.
        std (str | np.ndarray | None): Feature std (path or array). Defaults to None.
        feet_threshold (float | None): Contact threshold for ``encode``.
            Defaults to the skeleton's.
        fps (float): Frame rate of the representation. Defaults to 20.
    """

    def __init__(self, skeleton: str | SkeletonDef, mean=None, std=None,
                 feet_threshold: float | None = None, fps: float = 20.0):
        self.skeleton = get_skeleton(skeleton)
        self.feet_threshold = feet_threshold
        self.fps = float(fps)
        self.mean, self.std = load_mean_std(mean, std, self.dim)

    @property
    def dim(self) -> int:
        """int: Feature width D."""
        return self.skeleton.feature_dim

    @property
    def num_joints(self) -> int:
        """int: Number of joints J."""
        return self.skeleton.num_joints

    @property
    def slices(self) -> dict:
        """dict[str, slice]: Blocks of the feature vector."""
        return feature_slices(self.skeleton)

    @property
    def has_stats(self) -> bool:
        """bool: Whether mean/std are loaded."""
        return self.mean is not None

    def _stats_like(self, x):
        if not self.has_stats:
            raise RuntimeError(
                f'{type(self).__name__} has no normalisation statistics: build it with '
                'mean=/std= (paths of Mean.npy/Std.npy or arrays).')
        if isinstance(x, torch.Tensor):
            return (torch.as_tensor(self.mean, device=x.device, dtype=x.dtype),
                    torch.as_tensor(self.std, device=x.device, dtype=x.dtype))
        return self.mean.astype(x.dtype, copy=False), self.std.astype(x.dtype, copy=False)

    def normalize(self, features):
        """(…, D) raw features -> normalised features (same kind)."""
        mean, std = self._stats_like(features)
        return (features - mean) / std

    def denormalize(self, features):
        """(…, D) normalised features -> raw features (same kind)."""
        mean, std = self._stats_like(features)
        return features * std + mean

    def encode(self, joints, normalize: bool = False, target_offsets=None):
        """(T, J, 3) world joints (metres, Y up) -> (T-1, D) features."""
        feats = joints_to_features(joints, target_offsets=target_offsets,
                                   feet_threshold=self.feet_threshold, skeleton=self.skeleton)
        return self.normalize(feats) if normalize else feats

    def decode(self, features, normalized: bool = False):
        """(…, T, D) features -> (…, T, J, 3) joints; numpy or torch, differentiable."""
        if normalized:
            features = self.denormalize(features)
        return features_to_joints(features, skeleton=self.skeleton)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(skeleton={self.skeleton.name!r}, dim={self.dim}, '
                f'stats={"yes" if self.has_stats else "no"})')


@MOTION_CODECS.register_module()
class HumanML3DCodec(BaseMotionCodec):
    """HumanML3D 263-d features on the 22-joint SMPL chain at 20 fps.

    Example:
        >>> codec = MOTION_CODECS.build(dict(type='HumanML3DCodec'))
    """

    def __init__(self, mean=None, std=None, feet_threshold: float | None = None,
                 fps: float = 20.0):
        super().__init__('humanml3d', mean, std, feet_threshold, fps)


@MOTION_CODECS.register_module()
class KITCodec(BaseMotionCodec):
    """KIT-ML 251-d features on the 21-joint MMM chain at 12.5 fps.

    Example:
        >>> codec = MOTION_CODECS.build(dict(type='KITCodec'))
    """

    def __init__(self, mean=None, std=None, feet_threshold: float | None = None,
                 fps: float = 12.5):
        super().__init__('kit', mean, std, feet_threshold, fps)

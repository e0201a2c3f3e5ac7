"""Batch preprocessing for motion models: device transfer, normalisation, padding masks."""
from __future__ import annotations

import torch
from mmengine.model import BaseDataPreprocessor

from mdkit.motion.codecs import BaseMotionCodec
from mdkit.registry import MODELS, MOTION_CODECS
from mdkit.utils.registry_utils import build_from_cfg_checked

__all__ = ['MotionDataPreprocessor']


@MODELS.register_module()
class MotionDataPreprocessor(BaseDataPreprocessor):
    """Normalise padded motion batches with a codec's statistics and build masks.

    Input is what ``motion_collate`` yields: ``inputs=dict(motion=(B, T, D),
    mask=(B, T), lengths=(B,))`` and ``data_samples``. For generation without
    ground truth, ``inputs`` may be ``None`` or lack ``motion``: the mask
    and lengths then come from each sample's ``length``.

    Args:
        codec (dict | BaseMotionCodec): Motion codec with ``mean``/``std``
            (e.g. ``dict(type='HumanML3DCodec', mean='data/x/Mean.npy',
            std='data/x/Std.npy')``).
        normalize (bool): Normalise motions. Defaults to True.

    Example:
        >>> pre = MODELS.build(dict(type='MotionDataPreprocessor',
        ...                         codec=dict(type='HumanML3DCodec')), normalize=False)
    """

    def __init__(self, codec, normalize: bool = True):
        super().__init__()
        if isinstance(codec, dict):
            codec = build_from_cfg_checked(codec, MOTION_CODECS, expected_type=BaseMotionCodec)
        self.codec = codec
        self.normalize = normalize
        if normalize and not codec.has_stats:
            raise ValueError(
                'MotionDataPreprocessor(normalize=True) needs codec statistics: give the codec '
                "mean='<data_root>/Mean.npy' and std='<data_root>/Std.npy'.")
        if codec.has_stats:
            self.register_buffer('mean', torch.as_tensor(codec.mean), persistent=False)
            self.register_buffer('std', torch.as_tensor(codec.std), persistent=False)

    @property
    def feature_dim(self) -> int:
        """int: Feature width D of the codec."""
        return self.codec.dim

    def normalize_motion(self, motion: torch.Tensor) -> torch.Tensor:
        """(…, D) raw -> normalised features."""
        return (motion - self.mean) / self.std if self.normalize else motion

    def denormalize_motion(self, motion: torch.Tensor) -> torch.Tensor:
        """(…, D) normalised -> raw features."""
        return motion * self.std + self.mean if self.normalize else motion

    def forward(self, data: dict, training: bool = False) -> dict:
        """Move to device, normalise, zero padding.

        Returns:
            dict: ``inputs=dict(motion=(B, T, D) | None, mask=(B, T) bool,
            lengths=(B,) long)``, ``data_samples=list``.
        """
        data = self.cast_data(data)
        samples = data.get('data_samples') or []
        inputs = dict(data.get('inputs') or {})
        motion = inputs.get('motion')
        if motion is not None:
            if motion.shape[-1] != self.feature_dim:
                raise ValueError(f'motion batch has {motion.shape[-1]} features but the codec '
                                 f'{type(self.codec).__name__} is {self.feature_dim}-d')
            lengths = inputs.get('lengths')
            if lengths is None:
                lengths = torch.full((motion.shape[0], ), motion.shape[1], dtype=torch.long)
            lengths = lengths.to(self.device)
            mask = torch.arange(motion.shape[1], device=self.device)[None] < lengths[:, None]
            motion = self.normalize_motion(motion.float()) * mask[..., None]
        else:
            if not samples:
                raise ValueError('a batch needs either inputs["motion"] or data_samples with '
                                 'lengths')
            lengths = torch.tensor([int(s.length) for s in samples], device=self.device)
            mask = torch.arange(int(lengths.max()), device=self.device)[None] < lengths[:, None]
        return dict(inputs=dict(motion=motion, mask=mask, lengths=lengths),
                    data_samples=samples)

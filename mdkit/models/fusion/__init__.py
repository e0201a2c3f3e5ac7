"""Fusion blocks: how conditions (text, later video) reach the motion denoiser.

See :class:`~mdkit.models.fusion.base.BaseFusion` for the interface.
"""
from .attention import MultiHeadAttention
from .base import BaseFusion, ModalityInputs, fusion_outputs, gather_modality, masked_mean
from .duet import DUETFusion, video_slot_times
from .text_fusion import AdditiveFusion, CrossAttentionFusion, PrefixTokenFusion
from .video_fusion import ConcatTokenFusion

__all__ = [
    'BaseFusion', 'ModalityInputs', 'gather_modality', 'masked_mean', 'fusion_outputs',
    'MultiHeadAttention', 'PrefixTokenFusion', 'CrossAttentionFusion', 'AdditiveFusion',
    'DUETFusion', 'video_slot_times', 'ConcatTokenFusion'
]

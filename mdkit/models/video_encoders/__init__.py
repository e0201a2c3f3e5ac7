"""Video encoders (``MODELS``): frozen VideoMAE and a reader of precomputed features.

Every encoder returns ``features`` (B, S, D), ``mask`` (B, S) bool,
``time_positions`` (B, S) (slot centres in motion frames) and ``pooled``
(B, D); see :mod:`mdkit.models.video_encoders.base` for the time alignment.
"""
from .base import BaseVideoEncoder, align_video_slots, canonical_json, slot_centres
from .feature_cache import (
    META_FILE,
    VideoFeatureCacheError,
    feature_file,
    read_feature_meta,
    write_feature_meta,
)
from .precomputed_video_encoder import PrecomputedVideoEncoder
from .videomae_video_encoder import IMAGENET_MEAN, IMAGENET_STD, VideoMAEVideoEncoder

__all__ = [
    'BaseVideoEncoder', 'VideoMAEVideoEncoder', 'PrecomputedVideoEncoder',
    'VideoFeatureCacheError', 'align_video_slots', 'slot_centres', 'canonical_json',
    'feature_file', 'read_feature_meta', 'write_feature_meta', 'META_FILE', 'IMAGENET_MEAN',
    'IMAGENET_STD'
]

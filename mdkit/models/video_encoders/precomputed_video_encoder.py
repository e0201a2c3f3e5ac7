"""Reads per-sample video features cached by ``tools/extract_video_features.py``."""
from __future__ import annotations

import os.path as osp
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from mdkit.registry import MODELS

from .base import BaseVideoEncoder
from .feature_cache import (
    EXTRACT_HINT,
    META_FILE,
    VideoFeatureCacheError,
    feature_file,
    read_feature_meta,
)

__all__ = ['PrecomputedVideoEncoder']


@MODELS.register_module()
class PrecomputedVideoEncoder(BaseVideoEncoder):
    """Video features read from a folder of ``<sample_id>.npy`` files (no network at all).

    The folder is written by ``tools/extract_video_features.py`` (layout in
    :mod:`mdkit.models.video_encoders.feature_cache`): native slots ``(S, D)``
    per sample and a ``meta.json`` naming the encoder and its config hash.
    ``forward(sample_ids)`` returns the same dict as the live encoder
    (``features``, ``mask``, ``time_positions``, ``pooled``), aligned to
    motion time the same way, so the two are interchangeable in a config.

    The cache is checked when built (``meta.json`` against ``expected_encoder``
    and ``expected_hash``) and each file when read (present, listed in
    ``meta.json``, shape ``(S, feature_dim)`` with the recorded S, finite);
    any problem raises :class:`VideoFeatureCacheError` (a ``ValueError``)
    naming the file and the command that rebuilds the cache.

    Example:
        >>> from mdkit.registry import MODELS
        >>> enc = MODELS.build(dict(  # doctest: +SKIP
        ...     type='PrecomputedVideoEncoder', feature_dir='data/cmu_humanml3d/video_feats',
        ...     expected_encoder='VideoMAEVideoEncoder'))
        >>> out = enc(['000001', '000002'], motion_lengths=[120, 96])  # doctest: +SKIP
        >>> out['features'].shape, out['mask'].shape  # doctest: +SKIP
        (torch.Size([2, 60, 192]), torch.Size([2, 60]))

    Args:
        feature_dir (str): The feature folder.
        expected_encoder (str | None): Required ``encoder`` in ``meta.json``
            (the class name, e.g. ``'VideoMAEVideoEncoder'``); None accepts any.
            Defaults to None.
        expected_hash (str | None): Required ``config_hash`` (the full sha256 or
            a prefix of at least 8 hex digits; an encoder's
            ``config_hash()``); None accepts any. Defaults to None.
        motion_fps (float): Frame rate of the motions (the videos' rate comes
            from ``meta.json``). Defaults to 20.0.
        check_finite (bool): Reject files holding NaN or inf. Defaults to True.
        memory_cache (int): Samples kept in memory once read and checked, so
            training does not read and check the same file every epoch (least
            recently used first out; 0 disables). Defaults to 4096.
    """

    def __init__(self, feature_dir: str, expected_encoder: str | None = None,
                 expected_hash: str | None = None, motion_fps: float = 20.0,
                 check_finite: bool = True, memory_cache: int = 4096):
        self.feature_dir = osp.abspath(osp.expanduser(str(feature_dir)))
        meta = read_feature_meta(self.feature_dir)
        super().__init__(video_fps=float(meta['video_fps']), motion_fps=motion_fps, frozen=True)
        meta_path = osp.join(self.feature_dir, META_FILE)
        if expected_encoder is not None and meta['encoder'] != expected_encoder:
            raise VideoFeatureCacheError(
                f'{meta_path} was written by encoder {meta["encoder"]!r}, but '
                f'{expected_encoder!r} is expected. {EXTRACT_HINT}')
        if expected_hash is not None:
            expected_hash = str(expected_hash).lower()
            if len(expected_hash) < 8:
                raise ValueError(f'expected_hash must have at least 8 hex digits, got '
                                 f'{expected_hash!r}')
            if not str(meta['config_hash']).startswith(expected_hash):
                raise VideoFeatureCacheError(
                    f'{meta_path} is stale: its encoder config hash is '
                    f'{meta["config_hash"][:16]}..., expected {expected_hash[:16]}... '
                    f'(different weights or settings). {EXTRACT_HINT}')
        self.meta = meta
        self.encoder_name = str(meta['encoder'])
        self.config_hash = str(meta['config_hash'])
        self.out_dim = int(meta['feature_dim'])
        self.tubelet_size = int(meta['tubelet_size'])
        self.check_finite = bool(check_finite)
        self.memory_cache = max(0, int(memory_cache))
        self._memory: OrderedDict[str, tuple[np.ndarray, int]] = OrderedDict()
        # follows .to(device / dtype); not saved in state dicts
        self.register_buffer('_anchor', torch.zeros(0), persistent=False)

    @property
    def device(self) -> torch.device:
        """torch.device: Where outputs are put (follows ``.to``)."""
        return self._anchor.device

    @property
    def dtype(self) -> torch.dtype:
        """torch.dtype: Dtype of the outputs (follows ``.to``)."""
        return self._anchor.dtype

    @property
    def sample_ids(self) -> list[str]:
        """list[str]: The ids listed in ``meta.json``."""
        return list(self.meta['samples'])

    def load(self, sample_id) -> tuple[np.ndarray, int]:
        """Read and check one sample's native slots.

        Args:
            sample_id (str): The id (file name without ``.npy``).

        Returns:
            tuple[np.ndarray, int]: ``(S, D)`` float32 features and the video's
            frame count. With the memory cache on, the array is the cached one
            and read-only; copy it before editing.

        Raises:
            VideoFeatureCacheError: Missing, unlisted, wrong shape or not finite.
        """
        hit = self._memory.get(str(sample_id))
        if hit is not None:
            self._memory.move_to_end(str(sample_id))
            return hit
        path = feature_file(self.feature_dir, sample_id)
        info = self.meta['samples'].get(str(sample_id))
        if not osp.isfile(path):
            raise VideoFeatureCacheError(f'video feature file {path} is missing. {EXTRACT_HINT}')
        if info is None:
            raise VideoFeatureCacheError(
                f'video feature file {path} is not listed in '
                f'{osp.join(self.feature_dir, META_FILE)} (left from another run?). '
                f'{EXTRACT_HINT}')
        try:
            feats = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise VideoFeatureCacheError(f'cannot read video feature file {path}: {exc}. '
                                         f'{EXTRACT_HINT}') from exc
        slots = int(info['num_slots'])
        if feats.ndim != 2 or feats.shape != (slots, self.out_dim):
            raise VideoFeatureCacheError(
                f'video feature file {path} has shape {feats.shape}, expected ({slots}, '
                f'{self.out_dim}) (slots, feature_dim). {EXTRACT_HINT}')
        if self.check_finite and not np.isfinite(feats).all():
            raise VideoFeatureCacheError(f'video feature file {path} holds NaN or inf values. '
                                         f'{EXTRACT_HINT}')
        if self.memory_cache:
            feats.setflags(write=False)  # shared with later calls
            self._memory[str(sample_id)] = (feats, int(info['num_frames']))
            if len(self._memory) > self.memory_cache:
                self._memory.popitem(last=False)
        return feats, int(info['num_frames'])

    def forward(self, sample_ids: Sequence[str], motion_lengths=None,
                num_slots=None) -> dict[str, Tensor]:
        """Look up the cached features of a batch of samples and align them to motion time.

        Args:
            sample_ids (Sequence[str]): B sample ids.
            motion_lengths (int | Sequence[int] | Tensor | None): Motion frames
                each video spans; None uses ``motion_fps / video_fps``.
                Defaults to None.
            num_slots (int | Sequence[int] | Tensor | None): Resample to this
                many slots; None keeps the native slots. Defaults to None.

        Returns:
            dict[str, Tensor]: ``features`` (B, S, D), ``mask`` (B, S) bool,
            ``time_positions`` (B, S) in motion frames and ``pooled`` (B, D).
        """
        if isinstance(sample_ids, str | bytes) or not isinstance(sample_ids, Sequence):
            raise TypeError('sample_ids must be a list of ids, got '
                            f'{type(sample_ids).__name__}')
        if not sample_ids:
            raise ValueError('sample_ids is empty')
        feats, frames = [], []
        for sid in sample_ids:
            x, count = self.load(sid)
            # a copy: the array may stay in the memory cache
            feats.append(torch.tensor(x, device=self.device, dtype=self.dtype))
            frames.append(count)
        with torch.no_grad():
            return self.align(feats, frames, motion_lengths, num_slots)

    def live_encoder(self, pretrained: str | None = None) -> BaseVideoEncoder:
        """The encoder that wrote this cache, rebuilt from ``meta.json``, for new videos.

        Videos that are not in the cache (a user's own clip at generation time)
        must be encoded exactly as the cached ones were. This builds the
        encoder recorded in ``meta.json`` (its weights folder, or its config
        for a random init) with the recorded settings and checks that its
        config hash equals the cache's.

        Args:
            pretrained (str | None): Weights folder to use instead of the one
                recorded (e.g. after moving it). Defaults to None.

        Returns:
            BaseVideoEncoder: A frozen live encoder on this module's device.

        Raises:
            FileNotFoundError: The recorded weights folder is gone.
            VideoFeatureCacheError: The rebuilt encoder is not the one that
                wrote the cache (other weights or settings).
        """
        cfg = self.meta.get('encoder_config') or {}
        folder = pretrained or self.meta.get('pretrained')
        args = dict(type=self.encoder_name, video_fps=self.video_fps, motion_fps=self.motion_fps)
        for key in ('image_mean', 'image_std', 'resize_mode', 'window_stride'):
            if key in cfg:
                args[key] = cfg[key]
        if folder:
            if not osp.isdir(folder):
                raise FileNotFoundError(
                    f'the video encoder weights {folder!r} recorded in '
                    f'{osp.join(self.feature_dir, META_FILE)} do not exist; new videos need '
                    'that encoder. Pass its folder (MotionGenerator.generate(..., '
                    'video_encoder_weights=DIR), tools/generate.py --video-encoder-weights DIR)')
            args['pretrained'] = folder
        else:  # a seeded random init: its config rebuilds the same weights
            args['config'] = {k: v for k, v in (cfg.get('model') or {}).items()
                              if k != 'model_type'}
        encoder = MODELS.build(args).to(self.device)
        if encoder.config_hash() != self.config_hash:
            raise VideoFeatureCacheError(
                f'the encoder rebuilt from {osp.join(self.feature_dir, META_FILE)} (weights '
                f'{folder!r}) has config hash {encoder.config_hash()[:16]}..., the cache was '
                f'written with {self.config_hash[:16]}...: the weights changed since. '
                f'{EXTRACT_HINT}')
        return encoder

    def extra_repr(self) -> str:
        return (f'feature_dir={self.feature_dir!r}, encoder={self.encoder_name!r}, '
                f'config_hash={self.config_hash[:12]!r}, out_dim={self.out_dim}')

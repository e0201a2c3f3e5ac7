"""Frozen ``transformers`` VideoMAE encoder giving per-time-slot video features.

Shapes: B batch, F video frames, H/W frame size, S time slots, D feature
width. ``transformers`` is imported when an encoder is built, never at
``import mdkit``.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os.path as osp
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor

from mdkit.registry import MODELS
from mdkit.utils.frozen_module import (
    NO_DOWNLOAD_HINT,
    hf_progress_bar_disabled,
    resolve_local_folder,
)
from mdkit.utils.registry_utils import suggest_names

from .base import BaseVideoEncoder, sha256_of_json, sha256_of_tensors

__all__ = ['VideoMAEVideoEncoder', 'IMAGENET_MEAN', 'IMAGENET_STD', 'RESIZE_MODES',
           'ARCHITECTURE_KEYS']

#: ImageNet channel statistics (the VideoMAE pretraining normalisation).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: How frames of another size reach the model's image size.
RESIZE_MODES = ('center_crop', 'stretch')
#: ``VideoMAEConfig`` fields that shape the encoder's outputs (hashed into the config hash;
#: the weights hash covers the rest).
ARCHITECTURE_KEYS = ('model_type', 'image_size', 'patch_size', 'num_channels', 'num_frames',
                     'tubelet_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads',
                     'intermediate_size', 'hidden_act', 'layer_norm_eps', 'qv_bias',
                     'use_mean_pooling')


def _pair(value) -> tuple[int, int]:
    if isinstance(value, int):
        return int(value), int(value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f'expected an int or (height, width), got {value}')
    return value


def _read_processor_stats(folder: str) -> tuple[list | None, list | None]:
    """``image_mean``/``image_std`` from ``preprocessor_config.json`` when present."""
    path = osp.join(folder, 'preprocessor_config.json')
    if not osp.isfile(path):
        return None, None
    with open(path, encoding='utf-8') as f:
        cfg = json.load(f)
    if cfg.get('do_normalize', True) is False:
        return [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    return cfg.get('image_mean'), cfg.get('image_std')


@MODELS.register_module()
class VideoMAEVideoEncoder(BaseVideoEncoder):
    """Frozen VideoMAE (``transformers.VideoMAEModel``): videos to per-time-slot features.

    The model sees windows of ``num_frames`` frames (its config); each window
    gives ``num_frames / tubelet_size`` time slots, the patch tokens of one
    tubelet time index averaged over space. A longer video is covered by
    sliding windows (``window_stride`` frames apart, a multiple of the
    tubelet size; the last window is aligned to the video's end) and
    overlapping slots are averaged, so each video of F frames gives
    ``ceil(F / tubelet_size)`` native slots. A video shorter than a window is
    padded by repeating its last frame; slots made only of padding are
    dropped. The slots are then placed on the motion's time axis (see
    :mod:`mdkit.models.video_encoders.base`): ``time_positions`` in motion
    frames, or resampled to ``num_slots``.

    Frames (uint8 in [0, 255] or float in [0, 1], RGB, channels last) are
    resized to the model's image size (``resize_mode``), scaled to [0, 1]
    and normalised with ``image_mean``/``image_std``.

    The weights come from a local folder written with ``save_pretrained``
    (``pretrained``; e.g. by ``tools/pretrain_video_encoder.py``) or are
    built from ``config`` (``VideoMAEConfig`` keyword arguments) with a
    seeded random initialisation, so the same config always gives the same
    weights (frozen weights are not saved in checkpoints).

    Example:
        >>> import torch
        >>> from mdkit.registry import MODELS
        >>> enc = MODELS.build(dict(type='VideoMAEVideoEncoder', config=dict(
        ...     image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32,
        ...     num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)))
        >>> videos = [torch.randint(0, 256, (9, 40, 40, 3), dtype=torch.uint8),
        ...           torch.randint(0, 256, (4, 32, 32, 3), dtype=torch.uint8)]
        >>> out = enc(videos)
        >>> out['features'].shape, out['mask'].sum(1).tolist()
        (torch.Size([2, 5, 32]), [5, 2])
        >>> enc(videos, motion_lengths=[18, 8], num_slots=[18, 8])['features'].shape
        torch.Size([2, 18, 32])

    Args:
        pretrained (str | None): Local folder with ``config.json`` and the
            weights of a VideoMAE model (a ``VideoMAEForPreTraining`` folder
            works too: its encoder is kept). Defaults to None.
        config (dict | None): ``VideoMAEConfig`` keyword arguments for a
            randomly initialised model (tests, pretraining). Exactly one of
            ``pretrained`` and ``config`` must be given. Defaults to None.
        image_mean (Sequence[float] | None): Channel means for normalisation;
            None reads ``preprocessor_config.json`` of ``pretrained`` when it
            has one, else uses ImageNet's. Defaults to None.
        image_std (Sequence[float] | None): Channel standard deviations, same
            rule. Defaults to None.
        resize_mode (str): ``'center_crop'`` (scale the short side, crop the
            centre; VideoMAE's own preprocessing) or ``'stretch'`` (resize both
            sides). Frames already at the model size are left untouched.
            Defaults to ``'center_crop'``.
        window_stride (int | None): Frames between sliding windows, a multiple
            of the tubelet size in ``[tubelet_size, num_frames]``; None uses
            ``num_frames`` (no overlap). Defaults to None.
        window_batch_size (int): Windows per model call. Defaults to 8.
        init_seed (int): Seed of the random initialisation with ``config``.
            Defaults to 0.
        video_fps (float): Frame rate of the videos (used without
            ``motion_lengths``). Defaults to 20.0.
        motion_fps (float): Frame rate of the motions. Defaults to 20.0.
        frozen (bool): Freeze the weights, keep eval mode, run without grad.
            Defaults to True.
    """

    def __init__(self, pretrained: str | None = None, config: dict | None = None,
                 image_mean: Sequence[float] | None = None,
                 image_std: Sequence[float] | None = None, resize_mode: str = 'center_crop',
                 window_stride: int | None = None, window_batch_size: int = 8,
                 init_seed: int = 0, video_fps: float = 20.0, motion_fps: float = 20.0,
                 frozen: bool = True):
        super().__init__(video_fps=video_fps, motion_fps=motion_fps, frozen=frozen)
        if (pretrained is None) == (config is None):
            raise ValueError('VideoMAEVideoEncoder needs exactly one of `pretrained` (a local '
                             'folder saved with save_pretrained) and `config` (VideoMAEConfig '
                             f'keyword arguments); got pretrained={pretrained!r}, '
                             f'config={config!r}')
        if resize_mode not in RESIZE_MODES:
            raise ValueError(f'resize_mode must be one of {RESIZE_MODES}, got {resize_mode!r}')
        if int(window_batch_size) < 1:
            raise ValueError(f'window_batch_size must be >= 1, got {window_batch_size}')
        folder_mean = folder_std = None
        if pretrained is not None:
            folder = resolve_local_folder(pretrained, None, 'VideoMAE model')
            self.model = self._load_pretrained(folder)
            folder_mean, folder_std = _read_processor_stats(folder)
            self.pretrained = folder
        else:
            self.model = self._build_from_config(dict(config), int(init_seed))
            self.pretrained = None
        self.init_seed = int(init_seed)
        cfg = self.model.config
        if cfg.num_channels != 3:
            raise ValueError(f'VideoMAEVideoEncoder reads RGB videos: num_channels must be 3, '
                             f'got {cfg.num_channels}')
        self.image_size = _pair(cfg.image_size)
        self.num_frames = int(cfg.num_frames)
        self.tubelet_size = int(cfg.tubelet_size)
        if self.num_frames % self.tubelet_size:
            raise ValueError(f'num_frames={self.num_frames} is not a multiple of '
                             f'tubelet_size={self.tubelet_size}')
        patch = _pair(cfg.patch_size)
        self.patches_per_slot = (self.image_size[0] // patch[0]) * (self.image_size[1] // patch[1])
        self.out_dim = int(cfg.hidden_size)
        stride = self.num_frames if window_stride is None else int(window_stride)
        if not (self.tubelet_size <= stride <= self.num_frames) or stride % self.tubelet_size:
            raise ValueError(f'window_stride must be a multiple of tubelet_size='
                             f'{self.tubelet_size} between {self.tubelet_size} and num_frames='
                             f'{self.num_frames}, got {window_stride}')
        self.window_stride = stride
        self.window_batch_size = int(window_batch_size)
        self.resize_mode = resize_mode
        mean = image_mean if image_mean is not None else (folder_mean or IMAGENET_MEAN)
        std = image_std if image_std is not None else (folder_std or IMAGENET_STD)
        self.image_mean = tuple(float(v) for v in mean)
        self.image_std = tuple(float(v) for v in std)
        if len(self.image_mean) != 3 or len(self.image_std) != 3 or min(self.image_std) <= 0:
            raise ValueError(f'image_mean/image_std need 3 values (std > 0), got '
                             f'{self.image_mean}, {self.image_std}')
        self._freeze()
        print_log(f'{type(self).__name__}: {self.pretrained or "random init"} '
                  f'(out_dim={self.out_dim}, {self.num_frames} frames, tubelet '
                  f'{self.tubelet_size}, {self.image_size[0]}x{self.image_size[1]})',
                  logger='current', level=logging.DEBUG)

    # -- building ------------------------------------------------------------------------
    @staticmethod
    def _load_pretrained(folder: str):
        config_file = osp.join(folder, 'config.json')
        if not osp.isfile(config_file):
            raise FileNotFoundError(f'no config.json in {folder!r}. {NO_DOWNLOAD_HINT}')
        with open(config_file, encoding='utf-8') as f:
            model_type = json.load(f).get('model_type')
        if model_type != 'videomae':
            raise ValueError(f'{folder!r} holds a {model_type!r} model, not a VideoMAE one '
                             "(config.json model_type 'videomae')")
        import transformers

        with hf_progress_bar_disabled():
            return transformers.VideoMAEModel.from_pretrained(
                folder, local_files_only=True, dtype=torch.float32)

    @staticmethod
    def _build_from_config(config: dict, seed: int):
        import transformers

        known = set(transformers.VideoMAEConfig().to_dict())
        for key in config:
            if key not in known:
                close = suggest_names(key, known, n=3)
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ''
                raise ValueError(f'unknown VideoMAEConfig key {key!r} in config.{hint}')
        hf_config = transformers.VideoMAEConfig(**config)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return transformers.VideoMAEModel(hf_config)

    # -- identity ------------------------------------------------------------------------
    def encoder_config(self) -> dict:
        """dict: The settings that determine the native slot features (JSON-able).

        The architecture fields of the ``VideoMAEConfig``, the preprocessing
        (image size, mean/std, resize mode), the window stride, the pooling and
        the weights' dtype. Frame rates and the alignment request are not part
        of it: caches store native slots and align when they are read.
        """
        cfg = self.model.config.to_dict()
        model = {k: cfg.get(k) for k in ARCHITECTURE_KEYS}
        model['image_size'] = list(self.image_size)
        model['patch_size'] = list(_pair(cfg['patch_size']))
        return dict(type=type(self).__name__, model=model, image_mean=list(self.image_mean),
                    image_std=list(self.image_std), resize_mode=self.resize_mode,
                    window_stride=self.window_stride, pooling='spatial_mean_per_tubelet',
                    dtype=str(self.dtype).replace('torch.', ''))

    def weights_hash(self) -> str:
        """str: sha256 of the weights (names, dtypes, shapes, bytes): equal weights, equal hash."""
        return sha256_of_tensors(self.full_state_dict())

    def config_hash(self) -> str:
        """str: sha256 of the canonical JSON of :meth:`encoder_config` plus :meth:`weights_hash`.

        Written to a feature cache's ``meta.json`` and checked by
        :class:`PrecomputedVideoEncoder` (``expected_hash``).
        """
        return sha256_of_json(self.encoder_config(), self.weights_hash())

    # -- preprocessing -------------------------------------------------------------------
    @staticmethod
    def _as_videos(videos, video_lengths=None) -> list[Tensor]:
        """Inputs to a list of (F_i, H_i, W_i, 3) tensors (uint8 or float)."""
        if isinstance(videos, np.ndarray | Tensor):
            if videos.ndim != 5:
                raise ValueError('a batched video input must be (B, F, H, W, 3), got shape '
                                 f'{tuple(videos.shape)}; pass a list for videos of different '
                                 'lengths')
            items = list(videos)
        elif isinstance(videos, Sequence) and not isinstance(videos, str | bytes):
            items = list(videos)
        else:
            raise TypeError('videos must be a (B, F, H, W, 3) array/tensor or a list of '
                            f'(F, H, W, 3) arrays/tensors, got {type(videos).__name__}')
        if not items:
            raise ValueError('videos is empty: pass at least one video')
        if video_lengths is not None:
            lengths = torch.as_tensor(video_lengths).reshape(-1).tolist()
            if len(lengths) != len(items):
                raise ValueError(f'video_lengths has {len(lengths)} entries for '
                                 f'{len(items)} videos')
            items = [v[:int(n)] for v, n in zip(items, lengths)]
        out = []
        for i, v in enumerate(items):
            v = torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v
            if not torch.is_tensor(v):
                raise TypeError(f'videos[{i}] must be an array or tensor, got '
                                f'{type(v).__name__}')
            if v.ndim != 4 or v.shape[-1] != 3:
                raise ValueError(f'videos[{i}] must be (F, H, W, 3) RGB frames, got shape '
                                 f'{tuple(v.shape)}')
            if v.shape[0] < 1:
                raise ValueError(f'videos[{i}] has no frames')
            if v.dtype != torch.uint8 and not v.is_floating_point():
                raise TypeError(f'videos[{i}] must be uint8 in [0, 255] or float in [0, 1], '
                                f'got {v.dtype}')
            out.append(v)
        return out

    def _resize(self, frames: Tensor) -> Tensor:
        """(F, 3, h, w) float -> (F, 3, H, W) at the model's image size."""
        th, tw = self.image_size
        h, w = frames.shape[-2:]
        if (h, w) == (th, tw):
            return frames
        if self.resize_mode == 'stretch':
            return F.interpolate(frames, size=(th, tw), mode='bilinear', align_corners=False,
                                 antialias=True)
        scale = max(th / h, tw / w)
        rh, rw = max(th, round(h * scale)), max(tw, round(w * scale))
        frames = F.interpolate(frames, size=(rh, rw), mode='bilinear', align_corners=False,
                               antialias=True)
        top, left = (rh - th) // 2, (rw - tw) // 2
        return frames[..., top:top + th, left:left + tw]

    def preprocess(self, video: Tensor, index: int = 0) -> Tensor:
        """One video (F, H, W, 3) to normalised model input (F, 3, H', W') on the model's device.

        Args:
            video (Tensor): uint8 in [0, 255] or float in [0, 1].
            index (int): Position in the batch, for error messages. Defaults to 0.

        Returns:
            Tensor: float frames in the model's dtype.
        """
        x = video.to(self.device)
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        else:
            x = x.float()
            lo, hi = float(x.min()), float(x.max())
            if lo < -1e-3 or hi > 1 + 1e-3 or not np.isfinite([lo, hi]).all():
                raise ValueError(f'videos[{index}] is float with values in [{lo:.3g}, '
                                 f'{hi:.3g}]; float videos must be in [0, 1] (pass uint8 '
                                 'frames for [0, 255])')
        x = self._resize(x.permute(0, 3, 1, 2))
        mean = torch.tensor(self.image_mean, device=x.device)[None, :, None, None]
        std = torch.tensor(self.image_std, device=x.device)[None, :, None, None]
        return ((x - mean) / std).to(self.dtype)

    # -- encoding ------------------------------------------------------------------------
    def window_starts(self, num_frames: int) -> list[int]:
        """First frames of the sliding windows covering a video of ``num_frames`` frames.

        Windows are ``window_stride`` apart; a last window ends at the padded
        end ``max(ceil(F / t) * t, num_frames_model)`` when the stride does not
        reach it. Every start is a multiple of the tubelet size.

        Args:
            num_frames (int): F.

        Returns:
            list[int]: Window starts, ascending.
        """
        t, n = self.tubelet_size, self.num_frames
        padded = max(-(-int(num_frames) // t) * t, n)
        starts = list(range(0, padded - n + 1, self.window_stride))
        if starts[-1] + n < padded:
            starts.append(padded - n)
        return starts

    def slot_features(self, windows: Tensor) -> Tensor:
        """Model windows (N, num_frames, 3, H, W) to slot features (N, num_frames / t, D)."""
        hidden = self.model(pixel_values=windows).last_hidden_state
        slots = self.num_frames // self.tubelet_size
        return hidden.reshape(hidden.shape[0], slots, self.patches_per_slot, -1).mean(2)

    def encode_native(self, videos, video_lengths=None) -> tuple[list[Tensor], list[int]]:
        """Native slot features of each video (no time alignment).

        Args:
            videos: See :meth:`forward`.
            video_lengths: See :meth:`forward`.

        Returns:
            tuple[list[Tensor], list[int]]: Per video ``(ceil(F_i / t), D)``
            features, and the frame counts F_i.
        """
        items = self._as_videos(videos, video_lengths)
        t, n = self.tubelet_size, self.num_frames
        with torch.no_grad() if self.frozen else contextlib.nullcontext():
            clips, jobs = [], []
            for i, video in enumerate(items):
                frames = self.preprocess(video, i)
                count = frames.shape[0]
                starts = self.window_starts(count)
                padded = starts[-1] + n
                if padded > count:  # repeat the last frame
                    frames = torch.cat([frames, frames[-1:].expand(padded - count, -1, -1, -1)])
                clips.append(frames)
                jobs.extend((i, s) for s in starts)
            sums = [clip.new_zeros(clip.shape[0] // t, self.out_dim) for clip in clips]
            hits = [torch.zeros(clip.shape[0] // t, device=clip.device) for clip in clips]
            for b in range(0, len(jobs), self.window_batch_size):
                chunk = jobs[b:b + self.window_batch_size]
                windows = torch.stack([clips[i][s:s + n] for i, s in chunk])
                feats = self.slot_features(windows)
                for (i, s), f in zip(chunk, feats):
                    sums[i][s // t:(s + n) // t] += f
                    hits[i][s // t:(s + n) // t] += 1
            frames_per_video = [int(v.shape[0]) for v in items]
            out = []
            for i, count in enumerate(frames_per_video):
                keep = -(-count // t)
                out.append(sums[i][:keep] / hits[i][:keep, None].to(sums[i].dtype))
        return out, frames_per_video

    def forward(self, videos, motion_lengths=None, num_slots=None,
                video_lengths=None) -> dict[str, Tensor]:
        """Encode a batch of videos into per-time-slot features aligned to motion time.

        Args:
            videos (Tensor | np.ndarray | list): ``(B, F, H, W, 3)`` frames,
                or a list of B ``(F_i, H_i, W_i, 3)`` arrays/tensors (different
                lengths and sizes allowed); uint8 in [0, 255] or float in [0, 1].
            motion_lengths (int | Sequence[int] | Tensor | None): Motion frames
                each video spans; None uses ``motion_fps / video_fps``.
                Defaults to None.
            num_slots (int | Sequence[int] | Tensor | None): Resample to this
                many slots (one int for all, or one per video); None keeps
                ``ceil(F_i / tubelet_size)`` native slots. Defaults to None.
            video_lengths (Sequence[int] | Tensor | None): Valid frames per
                video of a padded batch; None uses all frames. Defaults to None.

        Returns:
            dict[str, Tensor]: ``features`` (B, S, D), ``mask`` (B, S) bool,
            ``time_positions`` (B, S) in motion frames and ``pooled`` (B, D),
            on the module's device and dtype.
        """
        feats, frames = self.encode_native(videos, video_lengths)
        if self.frozen:
            with torch.no_grad():
                return self.align(feats, frames, motion_lengths, num_slots)
        return self.align(feats, frames, motion_lengths, num_slots)

    def extra_repr(self) -> str:
        return (f'pretrained={self.pretrained!r}, out_dim={self.out_dim}, '
                f'num_frames={self.num_frames}, tubelet_size={self.tubelet_size}, '
                f'image_size={self.image_size}, window_stride={self.window_stride}, '
                f'frozen={self.frozen}')

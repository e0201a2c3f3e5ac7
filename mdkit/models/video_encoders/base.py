"""Video encoders: the output contract and the alignment of video time slots to motion time.

Shapes: B batch, F video frames, S time slots, D feature width. A video
encoder turns each video into *native slots*: with tubelet size ``t``, slot
``k`` summarises video frames ``[k*t, min((k+1)*t, F))``, so a video of F
frames has ``S = ceil(F / t)`` native slots. Every encoder returns

* ``features`` (B, S, D) float, zero where ``mask`` is False;
* ``mask`` (B, S) bool, True = a real slot;
* ``time_positions`` (B, S) float: the centre of each slot in **motion
  frames** (fractional, 0 = the first motion frame), 0 where ``mask`` is False;
* ``pooled`` (B, D) float: the mean of the real slots.

How video time maps to motion time (our choice, see ``docs/video_encoders.md``):
with ``motion_lengths`` given, video ``i`` is taken to span exactly motion
``i`` (it was rendered from it), so one video frame lasts
``motion_lengths[i] / F_i`` motion frames; otherwise one video frame lasts
``motion_fps / video_fps`` motion frames. With ``num_slots`` given, the
native slots are resampled (linear interpolation in time) to that many slots
spread evenly over the motion's duration, e.g. ``num_slots=motion_lengths``
gives one feature per motion frame and ``num_slots=16`` a fixed-size summary.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mdkit.utils.frozen_module import FrozenModuleMixin

__all__ = ['BaseVideoEncoder', 'align_video_slots', 'slot_centres', 'canonical_json',
           'sha256_of_json', 'sha256_of_tensors']


def canonical_json(obj) -> str:
    """Canonical JSON text of ``obj``: sorted keys, no spaces, tuples as lists.

    Args:
        obj (Any): JSON-serialisable data (dicts, lists, tuples, str, numbers).

    Returns:
        str: The text hashed for config hashes.
    """
    return json.dumps(obj, sort_keys=True, separators=(',', ':'), ensure_ascii=True)


def sha256_of_json(obj, *extra: str) -> str:
    """sha256 hex digest of ``canonical_json(obj)`` followed by ``extra`` strings."""
    h = hashlib.sha256(canonical_json(obj).encode('utf-8'))
    for text in extra:
        h.update(text.encode('utf-8'))
    return h.hexdigest()


def sha256_of_tensors(named_tensors) -> str:
    """sha256 hex digest of named tensors: names, dtypes, shapes and raw bytes, sorted by name.

    Args:
        named_tensors (Mapping[str, Tensor]): E.g. a full state dict.

    Returns:
        str: 64 hex digits; equal weights give equal digests whatever file they came from.
    """
    h = hashlib.sha256()
    for name in sorted(named_tensors):
        t = named_tensors[name].detach().to('cpu').contiguous()
        h.update(f'{name}|{t.dtype}|{tuple(t.shape)}|'.encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def slot_centres(num_frames: int, tubelet_size: int) -> Tensor:
    """Centres of the native slots of a video, in continuous video time (frames).

    Video frame ``f`` spans the time ``[f, f + 1)``; slot ``k`` spans frames
    ``[k*t, min((k+1)*t, F))``, so its centre is the middle of that span (the
    last slot may be shorter than ``t``).

    Args:
        num_frames (int): F, at least 1.
        tubelet_size (int): t.

    Returns:
        Tensor: (ceil(F / t),) float64 centres.
    """
    t = int(tubelet_size)
    starts = torch.arange(0, int(num_frames), t, dtype=torch.float64)
    ends = torch.clamp(starts + t, max=float(num_frames))
    return (starts + ends) / 2


def _interp_rows(values: Tensor, xp: Tensor, query: Tensor) -> Tensor:
    """Linear interpolation of rows ``values`` (S, D) given at sorted ``xp`` (S,), at ``query``.

    Queries outside ``[xp[0], xp[-1]]`` take the nearest end row.
    """
    if values.shape[0] == 1:
        return values.expand(query.shape[0], -1)
    q = query.clamp(float(xp[0]), float(xp[-1]))
    hi = torch.searchsorted(xp, q).clamp(1, xp.shape[0] - 1)
    lo = hi - 1
    w = ((q - xp[lo]) / (xp[hi] - xp[lo])).to(values.dtype)[:, None]
    idx_lo, idx_hi = lo.to(values.device), hi.to(values.device)
    w = w.to(values.device)
    return values[idx_lo] * (1 - w) + values[idx_hi] * w


def _per_sample(value, batch: int, name: str, cast=float) -> list | None:
    """``None`` / scalar / sequence / tensor -> list of ``batch`` values (or None)."""
    if value is None:
        return None
    if torch.is_tensor(value):
        value = value.detach().cpu().reshape(-1).tolist() if value.dim() else value.item()
    if isinstance(value, int | float):
        return [cast(value)] * batch
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise TypeError(f'{name} must be an int, a sequence or a tensor, '
                        f'got {type(value).__name__}')
    value = [cast(v) for v in value]
    if len(value) != batch:
        raise ValueError(f'{name} has {len(value)} entries for a batch of {batch} videos')
    return value


def align_video_slots(slot_features: Sequence[Tensor], video_frames: Sequence[int],
                      tubelet_size: int, frame_scales: Sequence[float],
                      num_slots: int | Sequence[int] | Tensor | None = None) -> dict[str, Tensor]:
    """Pad native slots into a batch and place them on the motion's time axis.

    Args:
        slot_features (Sequence[Tensor]): Per video ``(S_i, D)`` native slot
            features, ``S_i = ceil(F_i / t)``.
        video_frames (Sequence[int]): Per video its number of frames F_i.
        tubelet_size (int): Video frames per native slot (t).
        frame_scales (Sequence[float]): Per video, motion frames per video
            frame (``motion_length / F`` or ``motion_fps / video_fps``).
        num_slots (int | Sequence[int] | Tensor | None): None keeps the native
            slots; an int resamples every video to that many slots; one
            count per video resamples each to its own count (padded to the
            longest, see ``mask``). Defaults to None.

    Returns:
        dict[str, Tensor]: ``features`` (B, S, D), ``mask`` (B, S) bool,
        ``time_positions`` (B, S) float (slot centres in motion frames) and
        ``pooled`` (B, D), on the device and in the dtype of ``slot_features``.
    """
    batch = len(slot_features)
    if batch == 0:
        raise ValueError('align_video_slots needs at least one video')
    counts = _per_sample(num_slots, batch, 'num_slots', cast=int)
    feats, times = [], []
    for i, (x, frames, scale) in enumerate(zip(slot_features, video_frames, frame_scales)):
        centres = slot_centres(frames, tubelet_size)
        if x.shape[0] != centres.shape[0]:
            raise ValueError(f'video {i}: {x.shape[0]} slot features for {frames} frames with '
                             f'tubelet size {tubelet_size} (expected {centres.shape[0]})')
        if not scale > 0:
            raise ValueError(f'video {i}: motion frames per video frame must be > 0, got {scale}')
        if counts is None:
            feats.append(x)
            times.append(centres * scale - 0.5)
            continue
        n = counts[i]
        if n < 1:
            raise ValueError(f'num_slots must be >= 1, got {n} for video {i}')
        duration = frames * scale  # motion frames covered by the video
        target = (torch.arange(n, dtype=torch.float64) + 0.5) * (duration / n)
        feats.append(_interp_rows(x, centres, target / scale))
        times.append(target - 0.5)
    length = max(f.shape[0] for f in feats)
    first = feats[0]
    features = first.new_zeros(batch, length, first.shape[-1])
    mask = torch.zeros(batch, length, dtype=torch.bool, device=first.device)
    time_positions = torch.zeros(batch, length, dtype=first.dtype, device=first.device)
    for i, (f, t) in enumerate(zip(feats, times)):
        features[i, :f.shape[0]] = f
        mask[i, :f.shape[0]] = True
        time_positions[i, :f.shape[0]] = t.to(first.dtype)
    weights = mask.to(features.dtype)[..., None]
    pooled = (features * weights).sum(1) / weights.sum(1).clamp(min=1)
    return dict(features=features, mask=mask, time_positions=time_positions, pooled=pooled)


class BaseVideoEncoder(FrozenModuleMixin, nn.Module):
    """Common part of the video encoders: frozen behaviour and motion-time alignment.

    Subclasses set ``out_dim`` and ``tubelet_size`` (video frames per native
    slot), call :meth:`_init_frozen_weights` through this ``__init__`` and
    :meth:`_freeze` once their weights exist, and return
    :meth:`align` of their native slots from ``forward``. The output dict is
    described in this module's docstring.

    While ``frozen`` (the default) every parameter has ``requires_grad=False``,
    the module stays in eval mode even when a parent calls ``.train()``, and
    its weights stay out of ``state_dict()`` (they come from the pretrained
    folder; see :class:`~mdkit.utils.frozen_module.FrozenModuleMixin`).

    Args:
        video_fps (float): Frame rate of the input videos, used when no
            ``motion_lengths`` are given. Defaults to 20.0 (HumanML3D).
        motion_fps (float): Frame rate of the motions the features are
            aligned to. Defaults to 20.0.
        frozen (bool): Freeze the weights (see above). Defaults to True.
    """

    out_dim: int
    tubelet_size: int

    def __init__(self, video_fps: float = 20.0, motion_fps: float = 20.0, frozen: bool = True):
        super().__init__()
        if not (video_fps > 0 and motion_fps > 0):
            raise ValueError(f'video_fps and motion_fps must be > 0, got {video_fps}, '
                             f'{motion_fps}')
        self.video_fps = float(video_fps)
        self.motion_fps = float(motion_fps)
        self._init_frozen_weights(frozen)

    def frame_scales(self, video_frames: Sequence[int], motion_lengths=None,
                     video_fps: float | None = None) -> list[float]:
        """Motion frames per video frame, per video.

        Args:
            video_frames (Sequence[int]): F_i per video.
            motion_lengths (int | Sequence[int] | Tensor | None): Motion
                frames each video spans; None uses ``motion_fps / video_fps``.
                Defaults to None.
            video_fps (float | None): Overrides ``self.video_fps``.
                Defaults to None.

        Returns:
            list[float]: One scale per video.
        """
        lengths = _per_sample(motion_lengths, len(video_frames), 'motion_lengths')
        if lengths is None:
            fps = self.video_fps if video_fps is None else float(video_fps)
            return [self.motion_fps / fps] * len(video_frames)
        for i, length in enumerate(lengths):
            if not length > 0:
                raise ValueError(f'motion_lengths[{i}] must be > 0, got {length}')
        return [length / frames for length, frames in zip(lengths, video_frames)]

    def align(self, slot_features: Sequence[Tensor], video_frames: Sequence[int],
              motion_lengths=None, num_slots=None,
              video_fps: float | None = None) -> dict[str, Tensor]:
        """Batch native slots and align them to motion time (see :func:`align_video_slots`)."""
        scales = self.frame_scales(video_frames, motion_lengths, video_fps)
        return align_video_slots(slot_features, video_frames, self.tubelet_size, scales,
                                 num_slots)

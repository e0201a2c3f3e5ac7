"""HumanML3D-format motion-text datasets (HumanML3D, KIT-ML, and converted mocap)."""
from __future__ import annotations

import codecs as _codecs
import os
import os.path as osp

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mdkit.motion.codecs import load_mean_std
from mdkit.motion.skeletons import get_skeleton
from mdkit.registry import DATASETS, TRANSFORMS
from mdkit.utils.registry_utils import build_from_cfg_checked

__all__ = ['HumanML3DDataset', 'KITMLDataset', 'parse_text_file', 'DatasetLoadError']


class DatasetLoadError(ValueError):
    """A dataset file is missing, unreadable or holds invalid values."""


def parse_text_file(path: str) -> list:
    """Parse a HumanML3D ``texts/<id>.txt`` file.

    Each non-empty line is ``caption#tokens#start#end``; ``start``/``end`` are
    seconds (0 means the whole clip). Missing trailing fields default to empty
    tokens and the whole clip.

    Args:
        path (str): Text file path.

    Returns:
        list[dict]: ``dict(caption, tokens, start, end)`` per line with a
        non-empty caption.

    Raises:
        DatasetLoadError: Unreadable file or a malformed start/end value.
    """
    try:
        with _codecs.open(path, 'r', encoding='utf-8') as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetLoadError(f'Cannot read caption file {path}: {e}') from e
    out = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.strip().split('#')
        caption = parts[0].strip()
        if not caption:
            continue
        tokens = parts[1].split(' ') if len(parts) > 1 and parts[1] else []
        try:
            start = float(parts[2]) if len(parts) > 2 and parts[2] else 0.0
            end = float(parts[3]) if len(parts) > 3 and parts[3] else 0.0
        except ValueError as e:
            raise DatasetLoadError(
                f'{path}:{lineno}: start/end must be numbers (seconds), got {parts[2:4]}') from e
        if np.isnan(start) or np.isnan(end):
            start = end = 0.0
        out.append(dict(caption=caption, tokens=tokens, start=start, end=end))
    return out


@DATASETS.register_module()
class HumanML3DDataset(BaseDataset):
    """A HumanML3D-format dataset folder.

    Layout under ``data_root``: ``new_joint_vecs/<id>.npy`` (T, D) features,
    ``new_joints/<id>.npy`` (T, J, 3) joints (optional), ``texts/<id>.txt``
    captions, ``<split>.txt`` id lists and ``Mean.npy``/``Std.npy``.

    Captions whose start/end mark a sub-segment become samples of their own
    (id ``<start>_<end>_<id>`` style as ``<id>#<start_frame>-<end_frame>``),
    like the reference loader does. Clips shorter than ``min_length`` or
    longer than ``max_length`` frames are filtered out (``max_length=None``
    keeps everything); cropping to a training length is a pipeline transform.

    Args:
        data_root (str): Dataset folder.
        split (str): Split file name without ``.txt``. Defaults to 'train'.
        pipeline (list[dict | callable]): Transforms. Defaults to ().
        min_length (int): Minimum number of frames. Defaults to 40.
        max_length (int | None): Maximum number of frames (no cap if None).
            Defaults to 200.
        motion_dir (str): Feature folder. Defaults to 'new_joint_vecs'.
        joints_dir (str | None): Joint folder to load alongside, or None.
            Defaults to None.
        text_dir (str): Caption folder. Defaults to 'texts'.
        mean_file (str | None): Mean file, relative to ``data_root``.
            Defaults to 'Mean.npy'.
        std_file (str | None): Std file, relative to ``data_root``.
            Defaults to 'Std.npy'.
        skeleton (str): 'humanml3d' or 'kit'. Defaults to 'humanml3d'.
        fps (float): Frame rate. Defaults to 20.
        lenient (bool): Skip bad samples (recorded in ``load_report``) instead
            of raising. Defaults to False.
        use_segments (bool): Turn sub-segment captions into extra samples.
            Defaults to True.
        test_mode (bool): Test mode (no random choices in transforms). Defaults to False.
        indices (int | list[int] | None): Keep only these samples. Defaults to None.
        lazy_init (bool): Defer loading. Defaults to False.
    """

    METAINFO = dict(dataset_name='HumanML3D')

    def __init__(self, data_root: str, split: str = 'train', pipeline=(),
                 min_length: int = 40, max_length: int | None = 200,
                 motion_dir: str = 'new_joint_vecs', joints_dir: str | None = None,
                 text_dir: str = 'texts', mean_file: str | None = 'Mean.npy',
                 std_file: str | None = 'Std.npy', skeleton: str = 'humanml3d',
                 fps: float = 20.0, lenient: bool = False, use_segments: bool = True,
                 test_mode: bool = False, indices=None, lazy_init: bool = False,
                 metainfo: dict | None = None):
        if not data_root or not osp.isdir(data_root):
            raise FileNotFoundError(
                f'Dataset folder not found: {data_root!r}. Convert mocap with '
                'tools/dataset_converters/bvh_to_humanml3d.py --out-dir DIR, or set data_root '
                'to a folder holding new_joint_vecs/, texts/ and <split>.txt.')
        if min_length < 1:
            raise ValueError(f'min_length must be >= 1 frame, got {min_length}')
        if max_length is not None and max_length < min_length:
            raise ValueError(f'max_length ({max_length}) is below min_length ({min_length})')
        self.split = split
        self.min_length = int(min_length)
        self.max_length = None if max_length is None else int(max_length)
        self.motion_dir = motion_dir
        self.joints_dir = joints_dir
        self.text_dir = text_dir
        self.skeleton = get_skeleton(skeleton)
        self.fps = float(fps)
        self.lenient = lenient
        self.use_segments = use_segments
        self.load_report = dict(kept=0, skipped=[])
        mean, std = load_mean_std(
            osp.join(data_root, mean_file) if mean_file else None,
            osp.join(data_root, std_file) if std_file else None,
            dim=self.skeleton.feature_dim)
        meta = dict(mean=mean, std=std, fps=self.fps, feature_dim=self.skeleton.feature_dim)
        # strings go in after init: mmengine would try to open them as meta files
        text_meta = dict(skeleton=self.skeleton.name, split=split)
        for k, v in (metainfo or {}).items():
            (text_meta if isinstance(v, str) else meta)[k] = v
        pipeline = [build_from_cfg_checked(t, TRANSFORMS) if isinstance(t, dict) else t
                    for t in pipeline]
        super().__init__(ann_file=f'{split}.txt', metainfo=meta, data_root=data_root,
                         data_prefix=dict(), pipeline=pipeline, test_mode=test_mode,
                         indices=indices, lazy_init=lazy_init, serialize_data=True)
        self._metainfo.update(text_meta)

    # -- loading -----------------------------------------------------------------
    def _fail(self, sample_id: str, reason: str):
        if not self.lenient:
            raise DatasetLoadError(
                f'{reason} (sample {sample_id!r}; pass lenient=True to skip such samples and '
                'get a report in dataset.load_report)')
        self.load_report['skipped'].append(dict(sample_id=sample_id, reason=reason))

    def _load_motion(self, sample_id: str):
        path = osp.join(self.data_root, self.motion_dir, sample_id + '.npy')
        if not osp.isfile(path):
            return self._fail(sample_id, f'motion file missing: {path}')
        try:
            motion = np.load(path)
        except Exception as e:  # noqa: BLE001 - any reader error becomes a named one
            return self._fail(sample_id, f'unreadable motion file {path}: {e}')
        dim = self.skeleton.feature_dim
        if motion.ndim != 2 or motion.shape[1] != dim:
            return self._fail(sample_id, f'motion file {path} has shape {motion.shape}, '
                              f'expected (T, {dim})')
        if not np.isfinite(motion).all():
            frame = int(np.argwhere(~np.isfinite(motion))[0, 0])
            return self._fail(sample_id, f'motion file {path} contains NaN/inf (frame {frame})')
        return motion.astype(np.float32)

    def _load_joints(self, sample_id: str):
        path = osp.join(self.data_root, self.joints_dir, sample_id + '.npy')
        try:
            joints = np.load(path).astype(np.float32)
        except Exception as e:  # noqa: BLE001
            return self._fail(sample_id, f'unreadable joints file {path}: {e}')
        if not np.isfinite(joints).all():
            return self._fail(sample_id, f'joints file {path} contains NaN/inf')
        return joints

    def _length_ok(self, n: int) -> bool:
        return n >= self.min_length and (self.max_length is None or n <= self.max_length)

    def load_data_list(self) -> list:
        """Read the split file, motions and captions; filter by length."""
        split_file = self.ann_file
        if not osp.isfile(split_file):
            raise FileNotFoundError(
                f'Split file not found: {split_file}. Expected <data_root>/{self.split}.txt '
                f'listing one sample id per line; found: '
                f'{sorted(f for f in os.listdir(self.data_root) if f.endswith(".txt"))}')
        for sub in (self.motion_dir, self.text_dir) + ((self.joints_dir, ) if self.joints_dir
                                                       else ()):
            if not osp.isdir(osp.join(self.data_root, sub)):
                raise FileNotFoundError(f'Dataset sub-folder missing: '
                                        f'{osp.join(self.data_root, sub)}')
        with open(split_file) as f:
            ids = [ln.strip() for ln in f if ln.strip()]
        if not ids:
            raise DatasetLoadError(f'Split file {split_file} lists no samples.')
        self.load_report = dict(kept=0, skipped=[], filtered_by_length=0)
        data_list = []
        for sid in ids:
            motion = self._load_motion(sid)
            if motion is None:
                continue
            text_path = osp.join(self.data_root, self.text_dir, sid + '.txt')
            if not osp.isfile(text_path):
                self._fail(sid, f'caption file missing: {text_path}')
                continue
            try:
                captions = parse_text_file(text_path)
            except DatasetLoadError as e:
                self._fail(sid, str(e))
                continue
            if not captions:
                self._fail(sid, f'caption file {text_path} has no non-empty caption')
                continue
            joints = self._load_joints(sid) if self.joints_dir else None
            if self.joints_dir and joints is None:
                continue
            whole, segments = [], {}
            for cap in captions:
                s, e = int(cap['start'] * self.fps), int(cap['end'] * self.fps)
                if (not self.use_segments) or (s == 0 and e == 0) or (
                        s == 0 and e >= len(motion)):
                    whole.append(cap)
                else:
                    segments.setdefault((s, e), []).append(cap)
            for (s, e), caps in segments.items():
                seg = motion[s:e]
                if not self._length_ok(len(seg)):
                    self.load_report['filtered_by_length'] += 1
                    continue
                data_list.append(self._entry(f'{sid}#{s}-{e}', sid, seg, caps,
                                             None if joints is None else joints[s:e], s))
            if whole:
                if not self._length_ok(len(motion)):
                    self.load_report['filtered_by_length'] += 1
                    continue
                data_list.append(self._entry(sid, sid, motion, whole, joints, 0))
        self.load_report['kept'] = len(data_list)
        skipped = self.load_report['skipped']
        print_log(
            f'{type(self).__name__}[{self.split}]: {len(data_list)} samples from {len(ids)} ids '
            f'({self.load_report["filtered_by_length"]} outside length range '
            f'[{self.min_length}, {self.max_length}], {len(skipped)} skipped as invalid)',
            logger='current')
        if not data_list:
            raise DatasetLoadError(
                f'No usable samples in {self.data_root} split {self.split!r}: check min_length/'
                f'max_length ({self.min_length}/{self.max_length}) and the load report.')
        return data_list

    def _entry(self, sample_id, source_id, motion, captions, joints, start):
        entry = dict(sample_id=sample_id, source_id=source_id, motion=motion,
                     length=int(len(motion)), texts=[c['caption'] for c in captions],
                     tokens=[c['tokens'] for c in captions], start_frame=int(start),
                     fps=self.fps)
        if joints is not None:
            entry['joints'] = joints
        return entry


@DATASETS.register_module()
class KITMLDataset(HumanML3DDataset):
    """KIT-ML in HumanML3D format: 251-d features, 21 joints, 12.5 fps."""

    METAINFO = dict(dataset_name='KIT-ML')

    def __init__(self, data_root: str, split: str = 'train', pipeline=(),
                 min_length: int = 24, max_length: int | None = 200, fps: float = 12.5,
                 **kwargs):
        kwargs.setdefault('skeleton', 'kit')
        super().__init__(data_root, split=split, pipeline=pipeline, min_length=min_length,
                         max_length=max_length, fps=fps, **kwargs)

"""Turn real mocap trials (BVH, ASF/AMC) into a HumanML3D-format dataset folder.

The output folder holds::

    new_joints/<id>.npy      (T, 22, 3) joints recovered from the features (as HumanML3D)
    new_joint_vecs/<id>.npy  (T, 263) features
    texts/<id>.txt           caption#tokens#0.0#0.0 lines
    train.txt val.txt test.txt train_val.txt all.txt
    Mean.npy Std.npy         statistics of the training split (HumanML3D-style grouping)
    conversion_report.json   per-trial status, counts, hours, skipped trials and why
    .progress/<trial>.json   per-trial completion markers used to resume

Every clip gets a mirrored copy (``M`` prefix, left/right swapped in joints and
captions) in the same split as its source, as HumanML3D does.
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import re
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from mdkit.motion.features import feature_slices, features_to_joints, joints_to_features
from mdkit.motion.skeletons import HUMANML3D_SKELETON

__all__ = ['ConversionConfig', 'assign_split', 'compute_mean_std', 'convert_dataset',
           'convert_trial', 'make_clips', 'mirror_joints', 'mirror_text', 'simple_tokens',
           'trial_captions']


@dataclass
class ConversionConfig:
    """Settings of a mocap -> HumanML3D conversion.

    Args:
        fps (float): Output frame rate. Defaults to 20.
        max_clip_seconds (float): Longer trials are cut into clips of at most
            this length. Defaults to 10.0 (200 frames at 20 fps).
        min_clip_seconds (float): Clips (and trailing remainders) shorter than
            this are dropped. Defaults to 1.0.
        feet_threshold (float): Foot contact threshold. Defaults to 0.002.
        mirror (bool): Write mirrored copies. Defaults to True.
        split_ratios (tuple[float, float, float]): train/val/test fractions of
            trials. Defaults to (0.8, 0.05, 0.15).
        split_salt (str): Salt of the hash that assigns trials to splits.
            Defaults to 'mdkit-cmu-v1'.
        use_descriptions (bool): Use CMU descriptions as captions. Defaults to True.
        use_kitml_captions (bool): Use KIT-ML captions. Defaults to True.
    """

    fps: float = 20.0
    max_clip_seconds: float = 10.0
    min_clip_seconds: float = 1.0
    feet_threshold: float = 0.002
    mirror: bool = True
    split_ratios: tuple = (0.8, 0.05, 0.15)
    split_salt: str = 'mdkit-cmu-v1'
    use_descriptions: bool = True
    use_kitml_captions: bool = True
    extra: dict = field(default_factory=dict)


def assign_split(trial: str, ratios=(0.8, 0.05, 0.15), salt: str = 'mdkit-cmu-v1') -> str:
    """Deterministic split of a trial id from a salted hash (stable as trials are added).

    Args:
        trial (str): Trial id, e.g. '01_01'.
        ratios (tuple[float, float, float]): train/val/test fractions.
        salt (str): Hash salt.

    Returns:
        str: 'train', 'val' or 'test'.
    """
    if abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f'split ratios must sum to 1, got {ratios}')
    u = int(hashlib.sha1(f'{salt}:{trial}'.encode()).hexdigest()[:8], 16) / 2 ** 32
    if u < ratios[0]:
        return 'train'
    return 'val' if u < ratios[0] + ratios[1] else 'test'


def mirror_joints(joints: np.ndarray) -> np.ndarray:
    """Mirror a (T, 22, 3) motion across the YZ plane, swapping left and right joints."""
    out = joints[:, HUMANML3D_SKELETON.mirror_indices()].copy()
    out[..., 0] *= -1
    return out


_SWAP = {'left': 'right', 'right': 'left', 'clockwise': 'counterclockwise',
         'counterclockwise': 'clockwise', 'anticlockwise': 'clockwise'}


def mirror_text(text: str) -> str:
    """Swap left/right (and clockwise words) in a caption, keeping case."""

    def repl(m):
        word = m.group(0)
        new = _SWAP[word.lower()]
        return new.capitalize() if word[0].isupper() else new

    return re.sub(r'\b(' + '|'.join(_SWAP) + r')\b', repl, text, flags=re.IGNORECASE)


def simple_tokens(text: str) -> str:
    """Whitespace/punctuation tokens in the ``word/POS`` layout, POS unknown ('X').

    No tagger ships with mdkit; evaluators that need part-of-speech tags
    should re-tokenise captions with their own tagger.
    """
    words = re.findall(r"[a-z0-9']+", text.lower())
    return ' '.join(f'{w}/X' for w in words)


def _clean_caption(text: str) -> str:
    text = ' '.join(str(text).replace('#', ' ').split())
    return text.strip()


_PLACEHOLDERS = {'', 'unknown', 'none', 'n/a', 'na', '?'}


def trial_captions(entry: dict, cfg: ConversionConfig) -> list:
    """Captions of a trial: its CMU description and all of its KIT-ML captions.

    A placeholder description ("Unknown") is replaced by the CMU subject
    category (e.g. "indian dance"), which still describes the motion.
    """
    caps = []
    if cfg.use_descriptions:
        desc = _clean_caption(entry.get('cmu_description') or '')
        if desc.lower() in _PLACEHOLDERS:
            desc = _clean_caption(entry.get('cmu_subject_category') or '')
        if desc.lower() not in _PLACEHOLDERS:
            caps.append(desc)
    if cfg.use_kitml_captions:
        caps += [_clean_caption(c) for c in entry.get('kitml_captions') or []]
    seen, out = set(), []
    for c in caps:
        if c and c.lower() not in seen:
            seen.add(c.lower())
            out.append(c)
    return out


def make_clips(num_frames: int, fps: float, max_seconds: float, min_seconds: float) -> list:
    """Cut ``num_frames`` into near-equal clips no longer than ``max_seconds``.

    Returns:
        list[tuple[int, int]]: ``(start, end)`` frame ranges (end exclusive);
        empty when the trial is shorter than ``min_seconds``.
    """
    max_len = int(round(max_seconds * fps))
    min_len = int(round(min_seconds * fps))
    if max_len < 2:
        raise ValueError(f'max_clip_seconds={max_seconds} gives fewer than 2 frames at {fps} fps')
    if num_frames < max(min_len, 2):
        return []
    n = int(np.ceil(num_frames / max_len))
    bounds = np.linspace(0, num_frames, n + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b - a >= max(min_len, 2)]


def _save_clip(out_dir: str, clip_id: str, joints: np.ndarray, captions: list,
               cfg: ConversionConfig) -> int:
    feats = joints_to_features(joints, feet_threshold=cfg.feet_threshold).astype(np.float32)
    rec = features_to_joints(feats.astype(np.float64)).astype(np.float32)
    if not (np.isfinite(feats).all() and np.isfinite(rec).all()):
        raise ValueError(f'clip {clip_id}: non-finite features')
    np.save(osp.join(out_dir, 'new_joint_vecs', clip_id + '.npy'), feats)
    np.save(osp.join(out_dir, 'new_joints', clip_id + '.npy'), rec)
    with open(osp.join(out_dir, 'texts', clip_id + '.txt'), 'w', encoding='utf-8') as f:
        for cap in captions:
            f.write(f'{cap}#{simple_tokens(cap)}#0.0#0.0\n')
    return len(feats)


def convert_trial(entry: dict, cmu_root: str, out_dir: str, cfg: ConversionConfig) -> dict:
    """Convert one ``available_trials.json`` entry; write its clips and a progress marker.

    Args:
        entry (dict): Trial entry (``trial``, ``file``, ``format``, ``skeleton``,
            ``cmu_fps``, ``skip_leading_frames``, captions ...).
        cmu_root (str): Folder holding ``available_trials.json`` and the zips.
        out_dir (str): Dataset output folder.
        cfg (ConversionConfig): Settings.

    Returns:
        dict: ``trial, status ('ok'|'failed'|'too_short'), split, clips, frames, error``.
    """
    from mdkit.motion.mocap import load_trial, resample

    trial = entry['trial']
    split = assign_split(trial, cfg.split_ratios, cfg.split_salt)
    result = dict(trial=trial, split=split, skeleton=entry.get('skeleton'),
                  source=entry.get('file'), clips=[], frames=0, frames_original=0, status='ok',
                  error=None)
    try:
        captions = trial_captions(entry, cfg)
        if not captions:
            raise ValueError('trial has no caption (no CMU description or KIT-ML caption)')
        clip = load_trial(entry, cmu_root)
        joints = resample(clip.joints, clip.fps, cfg.fps)
        ranges = make_clips(len(joints), cfg.fps, cfg.max_clip_seconds, cfg.min_clip_seconds)
        if not ranges:
            result['status'] = 'too_short'
            result['error'] = f'{len(joints)} frames at {cfg.fps} fps < min_clip_seconds'
        for k, (a, b) in enumerate(ranges):
            cid = f'{trial}_{k:02d}' if len(ranges) > 1 else trial
            n = _save_clip(out_dir, cid, joints[a:b], captions, cfg)
            result['clips'].append(cid)
            result['frames'] += n
            result['frames_original'] += n
            if cfg.mirror:
                mid = 'M' + cid
                n = _save_clip(out_dir, mid, mirror_joints(joints[a:b]),
                               [mirror_text(c) for c in captions], cfg)
                result['clips'].append(mid)
                result['frames'] += n
    except Exception as e:  # noqa: BLE001 - recorded in the report, the run goes on
        result.update(status='failed', error=f'{type(e).__name__}: {e}')
        for cid in result['clips']:
            for sub, ext in (('new_joint_vecs', '.npy'), ('new_joints', '.npy'),
                             ('texts', '.txt')):
                path = osp.join(out_dir, sub, cid + ext)
                if osp.exists(path):
                    os.remove(path)
        result['clips'], result['frames'], result['frames_original'] = [], 0, 0
    marker = osp.join(out_dir, '.progress', trial + '.json')
    with open(marker + '.tmp', 'w') as f:
        json.dump(result, f)
    os.replace(marker + '.tmp', marker)
    return result


def compute_mean_std(out_dir: str, ids: list, foot_bias: float = 5.0, group_std: bool = True):
    """HumanML3D-style statistics over the given clip ids.

    With ``group_std`` every feature block (root rotation velocity, root xz
    velocity, root height, joint positions, rotations, velocities, contacts)
    shares one std, the block mean; contact std is further divided by
    ``foot_bias`` as in the HumanML3D release.

    Returns:
        tuple[np.ndarray, np.ndarray]: float32 mean and std, (263,).
    """
    if not ids:
        raise ValueError('cannot compute statistics over an empty split')
    data = np.concatenate([np.load(osp.join(out_dir, 'new_joint_vecs', i + '.npy'))
                           for i in ids]).astype(np.float64)
    mean, std = data.mean(0), data.std(0)
    if group_std:
        for sl in feature_slices().values():
            std[sl] = std[sl].mean()
        std[feature_slices()['foot_contact']] /= foot_bias
    std = np.maximum(std, 1e-6)
    return mean.astype(np.float32), std.astype(np.float32)


def convert_dataset(cmu_root: str, out_dir: str, cfg: ConversionConfig | None = None,
                    trials: list | None = None, workers: int = 1, progress: bool = True,
                    resume: bool = True) -> dict:
    """Convert every usable trial of ``available_trials.json`` into ``out_dir``.

    Args:
        cmu_root (str): Folder with ``available_trials.json`` and the zip archives.
        out_dir (str): Output dataset folder (created).
        cfg (ConversionConfig | None): Settings. Defaults to ConversionConfig().
        trials (list[str] | None): Only these trial ids. Defaults to all.
        workers (int): Parallel processes. Defaults to 1.
        progress (bool): Show a progress bar. Defaults to True.
        resume (bool): Skip trials with a completion marker. Defaults to True.

    Returns:
        dict: The summary report (also written to ``conversion_report.json``).
    """
    cfg = cfg or ConversionConfig()
    index_path = osp.join(cmu_root, 'available_trials.json')
    if not osp.isfile(index_path):
        raise FileNotFoundError(
            f'{index_path} not found: point --data-root at the cmu/ folder of the motion data '
            '(it holds available_trials.json and the zip archives), or set MDKIT_DATA.')
    with open(index_path) as f:
        entries = json.load(f)
    if trials:
        wanted = set(trials)
        unknown = wanted - {e['trial'] for e in entries}
        if unknown:
            raise KeyError(f'unknown trial ids: {sorted(unknown)}')
        entries = [e for e in entries if e['trial'] in wanted]
    for sub in ('new_joint_vecs', 'new_joints', 'texts', '.progress'):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    cfg_path = osp.join(out_dir, 'conversion_config.json')
    cfg_dict = asdict(cfg)
    cfg_dict['split_ratios'] = list(cfg.split_ratios)
    if resume and osp.isfile(cfg_path):
        with open(cfg_path) as f:
            old = json.load(f)
        if old != cfg_dict:
            raise ValueError(f'{out_dir} was converted with other settings ({old}); use a new '
                             '--out-dir or --no-resume to start over.')
    with open(cfg_path, 'w') as f:
        json.dump(cfg_dict, f, indent=1)

    results, todo = {}, []
    for e in entries:
        marker = osp.join(out_dir, '.progress', e['trial'] + '.json')
        if resume and osp.isfile(marker):
            with open(marker) as f:
                res = json.load(f)
            if all(osp.isfile(osp.join(out_dir, 'new_joint_vecs', c + '.npy'))
                   for c in res['clips']):
                results[e['trial']] = res
                continue
        todo.append(e)

    t0 = time.time()
    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), desc='converting trials', unit='trial')
    if workers > 1 and len(todo) > 1:
        import multiprocessing as mp
        ctx = mp.get_context('spawn')
        with ctx.Pool(workers) as pool:
            jobs = [(e, cmu_root, out_dir, cfg) for e in todo]
            for res in pool.imap_unordered(_convert_star, jobs):
                results[res['trial']] = res
                if bar:
                    bar.update(1)
    else:
        for e in todo:
            res = convert_trial(e, cmu_root, out_dir, cfg)
            results[res['trial']] = res
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    return _finalize(out_dir, entries, results, cfg, time.time() - t0, len(todo))


def _convert_star(args):
    return convert_trial(*args)


def _finalize(out_dir, entries, results, cfg, seconds, converted_now) -> dict:
    splits = {'train': [], 'val': [], 'test': []}
    for e in entries:
        res = results[e['trial']]
        splits[res['split']] += res['clips']
    for name, ids in splits.items():
        with open(osp.join(out_dir, f'{name}.txt'), 'w') as f:
            f.write(''.join(i + '\n' for i in sorted(ids)))
    with open(osp.join(out_dir, 'train_val.txt'), 'w') as f:
        f.write(''.join(i + '\n' for i in sorted(splits['train'] + splits['val'])))
    with open(osp.join(out_dir, 'all.txt'), 'w') as f:
        f.write(''.join(i + '\n' for i in sorted(sum(splits.values(), []))))
    if splits['train']:
        mean, std = compute_mean_std(out_dir, splits['train'])
        np.save(osp.join(out_dir, 'Mean.npy'), mean)
        np.save(osp.join(out_dir, 'Std.npy'), std)
    ok = [r for r in results.values() if r['status'] == 'ok']
    frames = sum(r['frames'] for r in ok)
    frames_original = sum(r['frames_original'] for r in ok)
    originals = [c for r in ok for c in r['clips'] if not c.startswith('M')]
    by_skeleton = {}
    for r in ok:
        by_skeleton[r['skeleton']] = by_skeleton.get(r['skeleton'], 0) + 1
    report = dict(
        trials_total=len(entries), trials_ok=len(ok),
        trials_failed=sorted((r['trial'], r['error']) for r in results.values()
                             if r['status'] == 'failed'),
        trials_too_short=sorted(r['trial'] for r in results.values()
                                if r['status'] == 'too_short'),
        trials_by_skeleton=by_skeleton,
        clips=len(originals), clips_with_mirrors=sum(len(r['clips']) for r in ok),
        frames_with_mirrors=frames,
        hours_without_mirrors=round(frames_original / cfg.fps / 3600, 4),
        split_clips={k: len(v) for k, v in splits.items()},
        split_trials={k: sum(1 for r in ok if r['split'] == k) for k in splits},
        converted_this_run=converted_now, seconds_this_run=round(seconds, 1),
        per_trial=[results[e['trial']] for e in entries])
    with open(osp.join(out_dir, 'conversion_report.json'), 'w') as f:
        json.dump(report, f, indent=1)
    return report

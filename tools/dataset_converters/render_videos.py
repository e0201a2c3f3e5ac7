"""Render every motion of a HumanML3D-format split to an mp4 clip (paired video data).

Usage:
    python tools/dataset_converters/render_videos.py DATA_ROOT --split train \\
        [--out-dir DATA_ROOT/videos] [--size 224] [--fps 20] [--num-frames N] [--workers 2] \\
        [--seed 0] [--limit N] [--overwrite] [--render-only] [--no-progress]

Reads ``DATA_ROOT/<split>.txt`` and ``DATA_ROOT/new_joints/<id>.npy`` (T, J, 3)
joints (or, when a joint file is missing, recovers the joints from
``new_joint_vecs/<id>.npy`` features) and writes, under ``--out-dir``:

- ``<id>.mp4``: the clip rendered by :class:`mdkit.visualization.BodyClipRenderer`
  (H.264, yuv420p). With the default ``--fps 20`` video frame k shows motion
  frame k of a HumanML3D clip, so segment captions (``start``/``end`` seconds)
  select the same frames in both.
- ``cameras.jsonl``: one JSON line per rendered clip: ``id``, ``seed`` and the
  camera (``azimuth``, ``elevation``, ``distance``, ``follow``) plus
  ``num_frames``, ``fps``, ``source_frames`` and ``size``. Re-rendered clips
  append a new line; readers keep the last line of an id
  (:func:`load_cameras`).
- ``render_config.json``: the renderer settings and ``--seed``; a later run with
  other settings stops with an error (use another ``--out-dir`` or
  ``--overwrite``).

The camera seed of a clip is derived from ``--seed`` and the clip id
(:func:`clip_seed`), so the output does not depend on the worker count or the
order. Runs resume: a clip is skipped when its mp4 is structurally complete and
``cameras.jsonl`` holds its record (``--overwrite`` renders everything again).
Each clip is written to a temporary name and renamed when complete, so a killed
run leaves no half-written mp4. A clip that fails is reported by id at the end
(exit status 1) without stopping the others. ``--render-only`` renders without
encoding or writing anything (for benchmarks).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import os.path as osp
import sys
import time

RENDER_CONFIG = 'render_config.json'
CAMERAS = 'cameras.jsonl'
_TMP_SUFFIX = '.tmp.mp4'

_STATE: dict = {}


# ----------------------------------------------------------------------------
# helpers (importable: benchmarks/bench_render.py and tests use them)
# ----------------------------------------------------------------------------
def clip_seed(seed: int, clip_id: str) -> int:
    """63-bit camera seed of one clip, derived from the run seed and the clip id."""
    digest = hashlib.sha256(f'mdkit-render:{int(seed)}:{clip_id}'.encode()).digest()
    return int.from_bytes(digest[:8], 'little') >> 1


def read_split_ids(data_root: str, split: str) -> list:
    """Sample ids listed in ``<data_root>/<split>.txt`` (the HumanML3D split format)."""
    path = osp.join(data_root, f'{split}.txt')
    if not osp.isfile(path):
        found = sorted(f[:-4] for f in os.listdir(data_root) if f.endswith('.txt'))
        raise FileNotFoundError(f'Split file not found: {path}; splits in {data_root}: {found}')
    with open(path) as f:
        ids = [ln.strip() for ln in f if ln.strip()]
    if not ids:
        raise ValueError(f'Split file {path} lists no samples.')
    return ids


def load_joints(data_root: str, clip_id: str, skeleton: str = 'humanml3d'):
    """(T, J, 3) joints of a clip: ``new_joints/<id>.npy``, else recovered from features."""
    import numpy as np

    path = osp.join(data_root, 'new_joints', clip_id + '.npy')
    if osp.isfile(path):
        return np.load(path)
    vec_path = osp.join(data_root, 'new_joint_vecs', clip_id + '.npy')
    if osp.isfile(vec_path):
        from mdkit.motion import features_to_joints
        return features_to_joints(np.load(vec_path).astype(np.float64), skeleton)
    raise FileNotFoundError(f'no joints for {clip_id!r}: neither {path} nor {vec_path} exists')


def load_cameras(path: str) -> dict:
    """``{id: record}`` from a ``cameras.jsonl`` file (the last line of an id wins)."""
    out = {}
    if not osp.isfile(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a killed run
            out[rec['id']] = rec
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_tmp(out_dir: str) -> int:
    """Delete ``.<id>.<pid>.tmp.mp4`` files left by killed runs (their process is gone)."""
    removed = 0
    for name in os.listdir(out_dir):
        if not (name.startswith('.') and name.endswith(_TMP_SUFFIX)):
            continue
        try:
            pid = int(name[:-len(_TMP_SUFFIX)].rsplit('.', 1)[1])
        except (IndexError, ValueError):
            continue
        if not _pid_alive(pid):
            try:
                os.remove(osp.join(out_dir, name))
                removed += 1
            except OSError:
                pass
    return removed


# ----------------------------------------------------------------------------
# work done per clip (in the worker processes)
# ----------------------------------------------------------------------------
def _init_worker(cfg: dict):
    from mdkit.visualization import BodyClipRenderer
    _STATE.clear()
    _STATE.update(cfg)
    _STATE['renderer'] = BodyClipRenderer(**cfg['renderer'])


def render_clip(clip_id: str) -> dict:
    """Render, encode and write one clip; returns a result dict (never raises)."""
    t0 = time.perf_counter()
    out_dir = _STATE['out_dir']
    tmp = osp.join(out_dir, f'.{clip_id}.{os.getpid()}{_TMP_SUFFIX}')
    try:
        renderer = _STATE['renderer']
        joints = load_joints(_STATE['data_root'], clip_id, renderer.skeleton.name)
        seed = clip_seed(_STATE['seed'], clip_id)
        frames, info = renderer.render_with_info(joints, seed=seed)
        record = dict(id=clip_id, seed=seed, **info)
        if _STATE['encode']:
            from mdkit.datasets.video_io import write_video
            write_video(tmp, frames, fps=info['fps'], crf=_STATE['crf'], threads=1)
            os.replace(tmp, osp.join(out_dir, clip_id + '.mp4'))
        return dict(id=clip_id, ok=True, record=record, frames=len(frames),
                    seconds=time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001 - one bad clip must not stop the run
        if osp.exists(tmp):
            try:
                os.remove(tmp)
            except OSError:
                pass
        return dict(id=clip_id, ok=False, error=f'{type(e).__name__}: {e}', frames=0,
                    seconds=time.perf_counter() - t0)


# ----------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------
def render_split(data_root: str, ids: list, out_dir: str, renderer_cfg: dict, seed: int = 0,
                 workers: int = 1, overwrite: bool = False, encode: bool = True, crf: int = 18,
                 progress: bool = True) -> dict:
    """Render clips ``ids`` of ``data_root`` to ``out_dir`` with a pool of ``workers``.

    Args:
        data_root (str): HumanML3D-format folder.
        ids (list[str]): Clip ids.
        out_dir (str): Output folder (created unless ``encode`` is False).
        renderer_cfg (dict): :class:`~mdkit.visualization.BodyClipRenderer`
            keyword arguments.
        seed (int): Run seed; clip seeds come from :func:`clip_seed`.
        workers (int): Processes (1 renders in this process).
        overwrite (bool): Render clips that are already done.
        encode (bool): Encode and write mp4s and camera records; False only
            renders (benchmarks).
        crf (int): H.264 constant rate factor.
        progress (bool): Show a tqdm progress bar.

    Returns:
        dict: ``done``, ``skipped``, ``failed`` (list of (id, error)),
        ``frames``, ``seconds``, ``fps`` (rendered frames per wall-clock
        second) and ``out_dir``.

    Raises:
        ValueError: ``out_dir`` was rendered with other settings (and not
            ``overwrite``).
    """
    from mdkit.datasets.video_io import mp4_is_complete

    cfg_record = dict(renderer=renderer_cfg, seed=int(seed), crf=int(crf), format='mp4')
    todo = list(ids)
    skipped = 0
    cam_path = osp.join(out_dir, CAMERAS)
    if encode:
        os.makedirs(out_dir, exist_ok=True)
        cfg_path = osp.join(out_dir, RENDER_CONFIG)
        if osp.isfile(cfg_path) and not overwrite:
            with open(cfg_path) as f:
                old = json.load(f)
            if old != cfg_record:
                raise ValueError(
                    f'{out_dir} holds clips rendered with other settings ({old}, now '
                    f'{cfg_record}); use another --out-dir, or --overwrite to render again.')
        with open(cfg_path, 'w') as f:
            json.dump(cfg_record, f, indent=1)
        _remove_stale_tmp(out_dir)
        if not overwrite:
            cameras = load_cameras(cam_path)
            todo = [i for i in ids if not (
                i in cameras and mp4_is_complete(osp.join(out_dir, i + '.mp4')))]
            skipped = len(ids) - len(todo)

    cfg = dict(renderer=renderer_cfg, data_root=data_root, out_dir=out_dir, seed=int(seed),
               encode=encode, crf=int(crf))
    failed, frames = [], 0
    pool = None
    if workers > 1 and len(todo) > 1:
        import multiprocessing as mp

        # fork (where available) starts workers at once: they inherit the imported
        # modules (torch comes in through mdkit.motion). The pool is made before
        # the progress bar, whose monitor thread should not be forked.
        method = 'fork' if 'fork' in mp.get_all_start_methods() else 'spawn'
        pool = mp.get_context(method).Pool(min(workers, len(todo)), initializer=_init_worker,
                                           initargs=(cfg, ))
    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), desc='rendering clips', unit='clip')
    cam_file = open(cam_path, 'a') if encode and todo else None
    t0 = time.perf_counter()
    try:
        if pool is not None:
            for res in pool.imap_unordered(render_clip, todo):
                frames += _collect(res, cam_file, failed, bar, frames, t0)
        else:
            _init_worker(cfg)
            for cid in todo:
                frames += _collect(render_clip(cid), cam_file, failed, bar, frames, t0)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        if cam_file is not None:
            cam_file.close()
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    return dict(done=len(todo) - len(failed), skipped=skipped, failed=failed, frames=frames,
                seconds=seconds, fps=frames / seconds if seconds > 0 else 0.0,
                workers=int(workers), out_dir=out_dir)


def _collect(res: dict, cam_file, failed: list, bar, frames_so_far: int, t0: float) -> int:
    if res['ok']:
        if cam_file is not None:
            cam_file.write(json.dumps(res['record']) + '\n')
            cam_file.flush()
    else:
        failed.append((res['id'], res['error']))
    if bar is not None:
        bar.update(1)
        elapsed = time.perf_counter() - t0
        bar.set_postfix(fps=f'{(frames_so_far + res["frames"]) / max(elapsed, 1e-9):.0f}',
                        failed=len(failed), refresh=False)
    return res['frames']


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('data_root', help='HumanML3D-format folder (new_joints/, <split>.txt)')
    p.add_argument('--split', default='train', help='split file name without .txt')
    p.add_argument('--out-dir', default=None, help='output folder (default: DATA_ROOT/videos)')
    p.add_argument('--size', type=int, default=224, help='frame size in pixels (square)')
    p.add_argument('--fps', type=float, default=20.0, help='output frame rate')
    p.add_argument('--source-fps', type=float, default=20.0, help='frame rate of the joints')
    p.add_argument('--num-frames', type=int, default=None,
                   help='resample every clip uniformly to this many frames')
    p.add_argument('--skeleton', default='humanml3d', help="'humanml3d' or 'kit'")
    p.add_argument('--workers', type=int, default=2, help='parallel worker processes')
    p.add_argument('--seed', type=int, default=0, help='run seed (clip seeds derive from it)')
    p.add_argument('--limit', type=int, default=None, help='only the first N ids of the split')
    p.add_argument('--crf', type=int, default=18, help='H.264 quality (0-51, lower is better)')
    p.add_argument('--overwrite', action='store_true', help='render clips that already exist')
    p.add_argument('--render-only', action='store_true',
                   help='render but neither encode nor write anything (benchmarking)')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isdir(args.data_root):
        sys.exit(f'error: DATA_ROOT {args.data_root} is not a folder')
    out_dir = args.out_dir or osp.join(args.data_root, 'videos')
    try:
        ids = read_split_ids(args.data_root, args.split)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'error: {e}')
    if args.limit is not None:
        ids = ids[:max(0, args.limit)]
    renderer_cfg = dict(size=args.size, fps=args.fps, source_fps=args.source_fps,
                        num_frames=args.num_frames, skeleton=args.skeleton)
    try:
        from mdkit.visualization import BodyClipRenderer
        BodyClipRenderer(**renderer_cfg)  # fail fast on bad settings
        summary = render_split(args.data_root, ids, out_dir, renderer_cfg, seed=args.seed,
                               workers=args.workers, overwrite=args.overwrite,
                               encode=not args.render_only, crf=args.crf,
                               progress=not args.no_progress)
    except (ValueError, KeyError) as e:
        sys.exit(f'error: {e}')
    for cid, err in summary['failed']:
        print(f'failed: {cid}: {err}')
    print(f'{args.split}: {summary["done"]} clips done, {summary["skipped"]} skipped, '
          f'{len(summary["failed"])} failed; {summary["frames"]} frames in '
          f'{summary["seconds"]:.1f} s ({summary["fps"]:.0f} frames/s, {args.workers} '
          f'workers) -> {out_dir}')
    return 1 if summary['failed'] else 0


if __name__ == '__main__':
    sys.exit(main())

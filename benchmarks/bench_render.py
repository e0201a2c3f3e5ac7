"""Rendering throughput of paired video clips: frames/s for render only and render + mp4 encode.

Usage:
    python benchmarks/bench_render.py [--data-root data/cmu_humanml3d] [--split train]
        [--clips 16] [--size 224] [--repeats 3] [--workers 2]

Renders the first ``--clips`` real motions of a HumanML3D-format split (or, when that folder
is absent, the HumanML3D reference samples in ``$MDKIT_DATA`` / ``../shared/motion_data``) with
:class:`mdkit.visualization.BodyClipRenderer`, each with the camera seed the render tool uses:
in this process (render only, per camera mode, and render + H.264 encode to mp4) and with the
render tool's worker pool (``tools/dataset_converters/render_videos.py``, including the pool
start). Prints a table of medians over ``--repeats`` runs (after one warm-up clip) and the target
line: at least 100 frames/s at 224x224 on 2 CPU cores.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tools', 'dataset_converters'))

import render_videos  # noqa: E402  (the render tool, for its pool and seeds)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data-root', default=osp.join(REPO, 'data', 'cmu_humanml3d'))
    p.add_argument('--split', default='train')
    p.add_argument('--clips', type=int, default=16)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args()


def find_clips(args):
    """(data_root, ids, description) of the motions to render."""
    root = args.data_root
    if osp.isfile(osp.join(root, f'{args.split}.txt')) and osp.isdir(osp.join(root, 'new_joints')):
        ids = render_videos.read_split_ids(root, args.split)
        ids = [i for i in ids if osp.isfile(osp.join(root, 'new_joints', i + '.npy'))]
        return root, ids[:args.clips], f'{root} [{args.split}]'
    from mdkit.utils import find_motion_data_root
    data = find_motion_data_root(required=False)
    root = osp.join(data, 'humanml3d', 'samples') if data else None
    if root is None or not osp.isdir(osp.join(root, 'new_joints')):
        sys.exit(f'error: no motions: {args.data_root} is not a HumanML3D-format folder and the '
                 'shared motion data is missing (set MDKIT_DATA)')
    ids = sorted(f[:-4] for f in os.listdir(osp.join(root, 'new_joints')) if f.endswith('.npy'))
    return root, ids[:args.clips], f'{root} (reference samples)'


def median_fps(fn, frames: int, repeats: int) -> float:
    """Median frames/s of ``fn()`` (which handles ``frames`` frames) over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return frames / statistics.median(times)


def main():
    args = parse_args()
    from mdkit.datasets.video_io import write_video
    from mdkit.visualization import BodyClipRenderer

    root, ids, what = find_clips(args)
    motions = [render_videos.load_joints(root, i) for i in ids]
    seeds = [render_videos.clip_seed(args.seed, i) for i in ids]
    cfg = dict(size=args.size, fps=20.0)
    renderers = {mode: BodyClipRenderer(follow=mode, **cfg) for mode in ('auto', False, True)}
    frames = sum(len(renderers['auto'].sample_times(len(m))) for m in motions)
    follow = sum(renderers['auto'].render_with_info(m, seed=s)[1]['follow']
                 for m, s in zip(motions, seeds))

    print(f'motions: {len(ids)} clips from {what}, {frames} frames at 20 fps; {follow} of '
          f'{len(ids)} clips need the following camera')
    print(f'{args.size}x{args.size}, median of {args.repeats}, {os.cpu_count()} CPU cores')
    print(f'{"mode":<40}{"procs":>6}{"frames/s":>10}{"ms/frame":>10}')
    rows = []

    def row(name, procs, fps):
        rows.append((name, procs, fps))
        print(f'{name:<40}{procs:>6}{fps:>10.0f}{1e3 / fps:>10.2f}', flush=True)

    def render_all(renderer):
        for m, s in zip(motions, seeds):
            renderer.render(m, seed=s)

    for mode, label in (('auto', 'render only (camera auto, as the tool)'),
                        (False, 'render only (fixed camera)'),
                        (True, 'render only (following camera)')):
        r = renderers[mode]
        r.render(motions[0], seed=0)  # warm-up (imports, caches)
        row(label, 1, median_fps(lambda r=r: render_all(r), frames, args.repeats))

    with tempfile.TemporaryDirectory() as tmp:
        def render_encode():
            r = renderers['auto']
            for k, (m, s) in enumerate(zip(motions, seeds)):
                write_video(osp.join(tmp, f'{k}.mp4'), r.render(m, seed=s), fps=20.0, threads=1)

        row('render + encode mp4', 1, median_fps(render_encode, frames, args.repeats))

        for encode, label in ((False, 'render only, tool pool'),
                              (True, 'render + encode mp4, tool pool')):
            out_dir = osp.join(tmp, 'pool')
            res = []

            def pool_run(encode=encode, out_dir=out_dir, res=res):
                res.append(render_videos.render_split(root, ids, out_dir, cfg, seed=args.seed,
                                                      workers=args.workers, overwrite=True,
                                                      encode=encode, progress=False))

            fps = median_fps(pool_run, frames, args.repeats)
            if any(r['failed'] for r in res):
                sys.exit(f'error: clips failed in the pool: {res[-1]["failed"]}')
            row(label, args.workers, fps)

    single = rows[0][2]
    target = 100.0
    print(f'target: >= {target:.0f} frames/s at {args.size}x{args.size} on 2 cores: render only '
          f'{single:.0f} frames/s in one process ({"met" if single >= target else "NOT met"}); '
          f'render + encode with {args.workers} workers {rows[-1][2]:.0f} frames/s')


if __name__ == '__main__':
    main()

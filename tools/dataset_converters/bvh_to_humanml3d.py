"""Convert the real CMU mocap (BVH and ASF/AMC, read from their zip archives) to HumanML3D format.

Usage:
    python tools/dataset_converters/bvh_to_humanml3d.py --out-dir data/cmu_humanml3d
    python tools/dataset_converters/bvh_to_humanml3d.py --out-dir DIR --workers 2 --preview 3

With no ``--data-root`` the CMU folder is found through ``$MDKIT_DATA`` or
``../shared/motion_data``. Interrupted runs resume: finished trials are
skipped (``--no-resume`` starts over).
"""
import argparse
import json
import os
import os.path as osp
import sys

from mdkit.datasets.converters import ConversionConfig, convert_dataset
from mdkit.utils import find_motion_data_root


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out-dir', required=True, help='output dataset folder')
    p.add_argument('--data-root', default=None,
                   help='folder with available_trials.json and the zips '
                   '(default: $MDKIT_DATA/cmu or ../shared/motion_data/cmu)')
    p.add_argument('--trials', default=None,
                   help='comma-separated trial ids to convert (default: all)')
    p.add_argument('--workers', type=int, default=1, help='parallel worker processes')
    p.add_argument('--fps', type=float, default=20.0, help='output frame rate')
    p.add_argument('--max-clip-seconds', type=float, default=10.0,
                   help='cut longer trials into clips of at most this length')
    p.add_argument('--min-clip-seconds', type=float, default=1.0,
                   help='drop clips shorter than this')
    p.add_argument('--feet-threshold', type=float, default=0.002,
                   help='foot contact threshold (squared metres per frame)')
    p.add_argument('--no-mirror', action='store_true', help='do not write mirrored copies')
    p.add_argument('--no-kitml-captions', action='store_true',
                   help='use only CMU descriptions as captions')
    p.add_argument('--no-resume', action='store_true', help='redo every trial')
    p.add_argument('--preview', type=int, default=0,
                   help='render stick-figure mp4 previews of this many clips')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    data_root = args.data_root
    if data_root is None:
        root = find_motion_data_root(required=False)
        if root is None:
            sys.exit('error: CMU data not found; pass --data-root or set MDKIT_DATA '
                     '(the folder holding cmu/available_trials.json)')
        data_root = osp.join(root, 'cmu')
    if not osp.isdir(data_root):
        sys.exit(f'error: --data-root {data_root} is not a folder')
    cfg = ConversionConfig(fps=args.fps, max_clip_seconds=args.max_clip_seconds,
                           min_clip_seconds=args.min_clip_seconds,
                           feet_threshold=args.feet_threshold, mirror=not args.no_mirror,
                           use_kitml_captions=not args.no_kitml_captions)
    trials = args.trials.split(',') if args.trials else None
    try:
        report = convert_dataset(data_root, args.out_dir, cfg, trials=trials,
                                 workers=args.workers, progress=not args.no_progress,
                                 resume=not args.no_resume)
    except (FileNotFoundError, KeyError, ValueError) as e:
        sys.exit(f'error: {e}')
    summary = {k: v for k, v in report.items() if k != 'per_trial'}
    print(json.dumps(summary, indent=1))
    if args.preview:
        import numpy as np

        from mdkit.visualization import render_stick_figure
        prev_dir = osp.join(args.out_dir, 'previews')
        os.makedirs(prev_dir, exist_ok=True)
        with open(osp.join(args.out_dir, 'all.txt')) as f:
            ids = [ln.strip() for ln in f if ln.strip() and not ln.startswith('M')]
        for cid in ids[:args.preview]:
            joints = np.load(osp.join(args.out_dir, 'new_joints', cid + '.npy'))
            with open(osp.join(args.out_dir, 'texts', cid + '.txt')) as f:
                title = f.readline().split('#')[0]
            out = osp.join(prev_dir, cid + '.mp4')
            render_stick_figure(joints, out, fps=cfg.fps, title=f'{cid}: {title}')
            print(f'preview: {out}')
    if report['trials_failed']:
        print(f'{len(report["trials_failed"])} trial(s) failed; see '
              f'{osp.join(args.out_dir, "conversion_report.json")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

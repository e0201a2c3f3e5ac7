"""Plot training losses from an mmengine work dir (``<work_dir>/<time>/vis_data/scalars.json``).

Usage:
    python tools/analysis/plot_loss_curve.py WORK_DIR [--keys loss loss_diffusion] [--out F.png]
        [--smooth 20]
"""
import argparse
import glob
import json
import os.path as osp
import sys


def load_scalars(work_dir: str) -> list:
    """All logged training records of the newest run in ``work_dir``."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        sys.exit(f'error: no */vis_data/scalars.json under {work_dir}')
    records = []
    for path in files:
        with open(path) as f:
            records += [json.loads(ln) for ln in f if ln.strip()]
    return records


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('work_dir')
    p.add_argument('--keys', nargs='+', default=None, help='scalars to plot (default: loss*)')
    p.add_argument('--out', default=None, help='png path (default: WORK_DIR/loss_curve.png)')
    p.add_argument('--smooth', type=int, default=1, help='moving-average window in records')
    args = p.parse_args(argv)
    records = [r for r in load_scalars(args.work_dir) if 'loss' in r and 'step' in r]
    if not records:
        sys.exit('error: no training loss records found')
    keys = args.keys or sorted({k for r in records for k in r if k.startswith('loss')})
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 4), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    by_step = {}
    for r in records:  # a resumed run re-logs steps: keep the last value per step
        by_step[r['step']] = r
    steps = sorted(by_step)
    for key in keys:
        xs = [s for s in steps if key in by_step[s]]
        ys = np.array([by_step[s][key] for s in xs], dtype=float)
        if args.smooth > 1 and len(ys) >= args.smooth:
            ys = np.convolve(ys, np.ones(args.smooth) / args.smooth, mode='valid')
            xs = xs[args.smooth - 1:]
        ax.plot(xs, ys, label=key)
        print(f'{key}: first {ys[0]:.4f} -> last {ys[-1]:.4f} ({len(ys)} points)')
    ax.set_xlabel('iteration')
    ax.set_ylabel('loss')
    ax.set_yscale('log')
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(osp.basename(osp.normpath(args.work_dir)))
    fig.tight_layout()
    out = args.out or osp.join(args.work_dir, 'loss_curve.png')
    fig.savefig(out)
    print(f'saved {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Plot training losses from an mmengine work dir (``<work_dir>/<time>/vis_data/scalars.json``).

Usage:
    python tools/analysis/plot_loss_curve.py WORK_DIR [--keys loss loss_diffusion] [--out F.png]
        [--smooth 20]
"""
import argparse
import os.path as osp
import sys


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('work_dir')
    p.add_argument('--keys', nargs='+', default=None, help='scalars to plot (default: loss*)')
    p.add_argument('--out', default=None, help='png path (default: WORK_DIR/loss_curve.png)')
    p.add_argument('--smooth', type=int, default=1, help='moving-average window in records')
    args = p.parse_args(argv)
    from mdkit.utils import load_training_scalars
    try:
        by_step = load_training_scalars(args.work_dir)
    except FileNotFoundError as e:
        sys.exit(f'error: {e}')
    records = list(by_step.values())
    keys = args.keys or sorted({k for r in records for k in r if k.startswith('loss')})
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7, 4), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    steps = list(by_step)  # a resumed run's re-logged steps: the newest record is kept
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

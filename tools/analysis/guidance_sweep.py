"""Evaluate a trained model over guidance scales: FID, R-precision, diversity, plausibility.

Usage:
    python tools/analysis/guidance_sweep.py CONFIG CHECKPOINT
        [--guidances cfg autoguidance] [--scales 1 1.5 2 3 4]
        [--weak-checkpoint EARLIER.pth] [--steps 20] [--repetitions 3] [--seed 0]
        [--multimodality] [--out-dir DIR] [--cfg-options k=v ...]

Each (guidance, scale) point runs the test protocol (``mdkit.evaluation.protocol``) with the
config's test metrics. ``autoguidance`` uses the config's weak model, or, with
``--weak-checkpoint``, the main denoiser of an earlier checkpoint. Writes ``sweep.json``,
``sweep.md`` and ``sweep.png`` (metric vs scale, one line per guidance, the real-data value
dashed) to the output folder.
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
import time

#: ``--guidances`` presets: a guidance config for a given scale.
PRESETS = {
    'cfg': lambda w: dict(type='ClassifierFreeGuidance', scale=w),
    'autoguidance': lambda w: dict(type='AutoGuidance', scale=w),
    'autoguidance_dropout': lambda w: dict(type='AutoGuidance', reference='dropout', scale=w),
}
#: (generated key, real key, label, higher is better) of the plotted and tabled metrics.
METRICS = [
    ('t2m/fid', None, 'FID', False),
    ('t2m/r_precision_top1', 't2m/gt_r_precision_top1', 'R-prec top-1', True),
    ('t2m/r_precision_top3', 't2m/gt_r_precision_top3', 'R-prec top-3', True),
    ('t2m/matching_score', 't2m/gt_matching_score', 'MM-Dist', False),
    ('t2m/diversity', 't2m/gt_diversity', 'Diversity', None),
    ('t2m/multimodality', None, 'MModality', None),
    ('plausibility/pred_foot_skate', 'plausibility/gt_foot_skate', 'Foot skate', False),
    ('plausibility/pred_jitter', 'plausibility/gt_jitter', 'Jitter', False),
]


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--guidances', nargs='+', default=['cfg', 'autoguidance'],
                   choices=sorted(PRESETS))
    p.add_argument('--scales', type=float, nargs='+', default=[1.0, 1.5, 2.0, 3.0, 4.0])
    p.add_argument('--weak-checkpoint', default=None,
                   help='earlier checkpoint whose denoiser is the auto-guidance reference')
    p.add_argument('--steps', type=int, default=None, help='sampling steps (default: config)')
    p.add_argument('--repetitions', type=int, default=3)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--multimodality', action='store_true', help='also run the MModality pass')
    p.add_argument('--out-dir', default=None, help='default: work_dirs/<config>/guidance_sweep')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return p.parse_args(argv)


def point_config(cfg, args, guidance: str, scale: float, work_dir: str):
    """The config of one sweep point."""
    c = copy.deepcopy(cfg)
    c.model.guidance = PRESETS[guidance](scale)
    if guidance == 'autoguidance':
        if args.weak_checkpoint:
            c.model.weak_model = dict(checkpoint=osp.abspath(args.weak_checkpoint))
        elif not c.model.get('weak_model'):
            raise SystemExit('error: autoguidance needs a weak model: use a config with '
                             '`weak_model` or pass --weak-checkpoint EARLIER.pth')
    if args.steps:
        c.model.num_inference_steps = args.steps
    c.load_from = osp.abspath(args.checkpoint)
    c.resume = False
    c.work_dir = work_dir
    c.experiment_name = f'sweep_{guidance}_{scale:g}_{time.strftime("%H%M%S")}'
    c.log_level = 'WARNING'
    return c


def markdown(rows: list, real: dict) -> str:
    """Rows as a Markdown table of ``mean ± ci95``, the real-data row first."""
    cols = [m for m in METRICS if any(m[0] in r['metrics'] for r in rows)]
    lines = ['| guidance | scale | ' + ' | '.join(m[2] for m in cols) + ' |',
             '|---|---|' + '---|' * len(cols)]
    cells = [f'{real[m[1]]["mean"]:.3f}' if m[1] in real else '' for m in cols]
    lines.append('| real | | ' + ' | '.join(cells) + ' |')
    for r in rows:
        cells = []
        for m in cols:
            v = r['metrics'].get(m[0])
            cells.append('' if v is None else f'{v["mean"]:.3f} ± {v["ci95"]:.3f}')
        lines.append(f'| {r["guidance"]} | {r["scale"]:g} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot(rows: list, real: dict, path: str, title: str) -> None:
    """Metric vs scale, one line (with 95% CI band) per guidance; real data dashed."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    cols = [m for m in METRICS if any(m[0] in r['metrics'] for r in rows)]
    n = len(cols)
    ncol = min(n, 4)
    nrow = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow), squeeze=False)
    for ax, (key, real_key, label, better) in zip(axes.flat, cols):
        for g in dict.fromkeys(r['guidance'] for r in rows):
            pts = sorted((r['scale'], r['metrics'][key]) for r in rows
                         if r['guidance'] == g and key in r['metrics'])
            xs = [s for s, _ in pts]
            ys = [v['mean'] for _, v in pts]
            cis = [v['ci95'] for _, v in pts]
            ax.plot(xs, ys, marker='o', label=g)
            ax.fill_between(xs, [y - c for y, c in zip(ys, cis)],
                            [y + c for y, c in zip(ys, cis)], alpha=0.2)
        if real_key in real:
            ax.axhline(real[real_key]['mean'], ls='--', color='k', lw=1, label='real')
        arrow = {True: ' (higher better)', False: ' (lower better)'}.get(better, '')
        ax.set_title(label + arrow, fontsize=9)
        ax.set_xlabel('guidance scale', fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis('off')
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.runner import Runner

    from mdkit.evaluation.protocol import run_test_protocol
    from mdkit.utils import load_config, register_all_modules
    register_all_modules()
    if not osp.isfile(args.checkpoint):
        sys.exit(f'error: checkpoint not found: {args.checkpoint}')
    try:
        cfg = load_config(args.config, args.cfg_options)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'error: {e}')
    cfg.setdefault('default_scope', 'mdkit')
    name = osp.splitext(osp.basename(args.config))[0]
    out_dir = args.out_dir or osp.join('work_dirs', name, 'guidance_sweep')
    os.makedirs(out_dir, exist_ok=True)
    rows, real = [], {}
    # a point given twice runs once (its runner name would repeat within one second, too)
    points = list(dict.fromkeys((g, s) for g in args.guidances for s in args.scales))
    for i, (guidance, scale) in enumerate(points):
        t0 = time.time()
        runner = Runner.from_cfg(point_config(cfg, args, guidance, scale, out_dir))
        result = run_test_protocol(runner, repetitions=args.repetitions, seed=args.seed,
                                   multimodality=args.multimodality, progress=False)
        metrics = {k: dict(mean=v['mean'], ci95=v['ci95']) for k, v in result['metrics'].items()}
        real = real or {k: v for k, v in metrics.items() if '/gt_' in k}
        rows.append(dict(guidance=guidance, scale=scale, metrics=metrics))
        fid = metrics.get('t2m/fid', {}).get('mean', float('nan'))
        div = metrics.get('t2m/diversity', {}).get('mean', float('nan'))
        print(f'[{i + 1}/{len(points)}] {guidance} scale {scale:g}: FID {fid:.3f}, '
              f'diversity {div:.3f} ({time.time() - t0:.0f} s)', flush=True)
    settings = dict(config=osp.abspath(args.config), checkpoint=osp.abspath(args.checkpoint),
                    weak_checkpoint=args.weak_checkpoint and osp.abspath(args.weak_checkpoint),
                    steps=args.steps or cfg.model.get('num_inference_steps'),
                    sampler=cfg.model.sampler.get('type'), repetitions=args.repetitions,
                    seed=args.seed, evaluator=result['settings'].get('evaluator'),
                    test_samples=result['settings'].get('test_samples'))
    with open(osp.join(out_dir, 'sweep.json'), 'w') as f:
        json.dump(dict(settings=settings, real=real, rows=rows), f, indent=1)
    table = markdown(rows, real)
    with open(osp.join(out_dir, 'sweep.md'), 'w') as f:
        f.write(table + '\n')
    plot(rows, real, osp.join(out_dir, 'sweep.png'),
         f'{name}: {settings["sampler"]} {settings["steps"]} steps, '
         f'{args.repetitions} repetitions')
    print(table)
    print(f'written: {out_dir}/sweep.json, sweep.md, sweep.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())

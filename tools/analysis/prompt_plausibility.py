"""Physical plausibility of motions generated for a prompt file, per checkpoint, against real clips.

Usage:
    python tools/analysis/prompt_plausibility.py CONFIG NAME=CHECKPOINT [NAME=CHECKPOINT ...]
        --prompts docs/prompts/heldout_cmu.txt [--seeds 4] [--steps 50] [--length 6s]
        [--real-split test] [--png-dir DIR] [--frames 8] [--out table.md] [--json stats.json]
        [--cfg-options k=v ...]

Each checkpoint generates ``--seeds`` motions per prompt from the same seed, so the rows differ
only in the weights, and :func:`mdkit.evaluation.plausibility_stats` is averaged over them. The
real row averages the same statistics over every clip of the config's ``--real-split``. With
``--png-dir`` the first motion of each prompt is drawn as a filmstrip ``<NAME>_<i>.png``.
"""
import argparse
import json
import os
import os.path as osp
import sys

#: (statistic, header) of the table, in order.
COLUMNS = (
    ('jitter', 'Jitter (m/s³) ↓'), ('acceleration', 'Accel. (m/s²)'),
    ('foot_skate', 'Skate ↓'), ('penetration', 'Penetr. (m) ↓'), ('floating', 'Float (m) ↓'),
    ('limb_speed', 'Limb speed (m/s) →'), ('root_speed', 'Root speed (m/s) →'))


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoints', nargs='+', metavar='NAME=CHECKPOINT',
                   help='row label and a checkpoint of CONFIG')
    p.add_argument('--prompts', required=True,
                   help='prompt file, one "prompt" or "prompt#length" per line')
    p.add_argument('--seeds', type=int, default=4, help='motions per prompt and checkpoint')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--steps', type=int, default=None, help='sampling steps (default: config)')
    p.add_argument('--length', default=None,
                   help='length of prompts that give none: frames or seconds (default: the '
                        "model's max_length)")
    p.add_argument('--real-split', default='test',
                   help='split of the config\'s dataset for the real row ("none": no real row)')
    p.add_argument('--png-dir', default=None, help='draw the first motion of each prompt here')
    p.add_argument('--frames', type=int, default=8, help='poses per filmstrip')
    p.add_argument('--out', default=None, help='also write the Markdown table here')
    p.add_argument('--json', default=None, help='write per-prompt and mean statistics here')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None)
    return p.parse_args(argv)


def mean_stats(rows: list) -> dict:
    """Mean of every statistic over a list of ``plausibility_stats`` dicts."""
    import numpy as np
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def real_stats(cfg, split: str, fps: float, skeleton) -> tuple[dict, int]:
    """Mean statistics over the clips of ``split`` of the config's test dataset, and the count."""
    from mdkit.evaluation import plausibility_stats
    from mdkit.motion.features import features_to_joints
    from mdkit.registry import DATASETS
    from mdkit.utils import build_from_cfg_checked
    ds_cfg = dict(cfg.test_dataloader.dataset, split=split, pipeline=[])
    dataset = build_from_cfg_checked(ds_cfg, DATASETS)
    rows = []
    for i in range(len(dataset)):
        motion = dataset.get_data_info(i)['motion']
        joints = features_to_joints(motion.astype('float64'), skeleton=skeleton)
        rows.append(plausibility_stats(joints, fps=fps, skeleton=skeleton))
    return mean_stats(rows), len(rows)


def markdown(table: list) -> str:
    """``(name, stats)`` rows as a Markdown table."""
    lines = ['| | ' + ' | '.join(h for _, h in COLUMNS) + ' |',
             '|---|' + '---|' * len(COLUMNS)]
    for name, stats in table:
        cells = []
        for k, _ in COLUMNS:
            v = stats[k]
            cells.append(f'{v:.0f}' if abs(v) >= 100 else f'{v:.3f}')
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)

    from mdkit.apis import MotionGenerator, read_prompt_file
    from mdkit.evaluation import plausibility_stats
    from mdkit.utils import load_config, parse_named_files, register_all_modules
    if args.seeds < 1:
        sys.exit(f'error: --seeds must be >= 1, got {args.seeds}')
    register_all_modules()
    try:
        cfg = load_config(args.config, args.cfg_options)
        pairs = parse_named_files(args.checkpoints, 'CHECKPOINT', 'checkpoint',
                                  '2k=work_dirs/tmd_small/iter_2000.pth')
        prompts, lengths, videos = read_prompt_file(args.prompts, default_length=args.length)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'error: {e}')
    if any(videos):
        sys.exit(f'error: {args.prompts} names videos; this tool measures text-only generation')
    table, report = [], dict(prompts=prompts, lengths=lengths, seeds=args.seeds,
                             seed=args.seed, steps=args.steps, rows={})
    if args.png_dir:
        from mdkit.visualization import render_frames_png
        os.makedirs(args.png_dir, exist_ok=True)
    # one model, each checkpoint loaded into it in turn
    gen = MotionGenerator.from_config(cfg, pairs[0][1])
    skeleton = gen.model.codec.skeleton
    for name, path in pairs:
        gen.load_checkpoint(path)
        try:
            results = gen.generate(prompts, lengths, num_repetitions=args.seeds, seed=args.seed,
                                   steps=args.steps, progress=True)
        except ValueError as e:
            sys.exit(f'error: {e}')
        per_prompt = [[] for _ in prompts]
        for res in results:
            joints = res.pred_joints.numpy()
            i = res.metainfo['text_index']
            per_prompt[i].append(plausibility_stats(joints, fps=gen.fps, skeleton=skeleton))
            if args.png_dir and res.metainfo['repetition'] == 0:
                render_frames_png(joints, osp.join(args.png_dir, f'{name}_{i}.png'),
                                  skeleton=skeleton, num_frames=args.frames,
                                  title=f'{name}: {prompts[i]}', fps=gen.fps)
        stats = mean_stats([s for rows in per_prompt for s in rows])
        table.append((name, stats))
        report['rows'][name] = dict(checkpoint=path, mean=stats,
                                    per_prompt=[mean_stats(rows) for rows in per_prompt])
    if args.real_split != 'none':
        stats, n = real_stats(cfg, args.real_split, gen.fps, skeleton)
        table.insert(0, (f'real ({args.real_split}, {n} clips)', stats))
        report['real'] = dict(split=args.real_split, clips=n, mean=stats)
    text = markdown(table)
    print(text)
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            f.write(text + '\n')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())

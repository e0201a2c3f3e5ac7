"""What the denoiser gives back from real motion noised to a few timesteps, per checkpoint.

Usage:
    python tools/analysis/denoiser_probe.py CONFIG NAME=CHECKPOINT [NAME=CHECKPOINT ...]
        [--timesteps 0 20 50 100 200 400 700] [--clips 32] [--split test] [--seed 0]
        [--out table.md] [--json probe.json] [--cfg-options k=v ...]

The first ``--clips`` clips of the config's test dataloader (on ``--split``) are noised to each
timestep with the same noise for every checkpoint, and the model's x0 estimate of one denoiser
call (:meth:`TextMotionDiffusion.reconstruct`, conditional, no guidance) is compared with the
clean clip: normalised MSE, and :func:`mdkit.evaluation.plausibility_stats` (jitter, limb speed)
of the decoded joints next to those of the clips themselves. A denoiser that cannot give back
clean input at t = 0 loses detail in the last sampling steps; high jitter at low t is noise it
adds itself.
"""
import argparse
import json
import sys

#: (statistic, header, format) of the table, after the checkpoint and timestep columns.
COLUMNS = (('mse', 'x0 MSE (normalised) ↓', '.3f'), ('jitter', 'Jitter (m/s³)', '.0f'),
           ('limb_speed', 'Limb speed (m/s) →', '.3f'))


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoints', nargs='+', metavar='NAME=CHECKPOINT',
                   help='row label and a checkpoint of CONFIG')
    p.add_argument('--timesteps', type=int, nargs='+', default=[0, 20, 50, 100, 200, 400, 700])
    p.add_argument('--clips', type=int, default=32, help='number of clips probed')
    p.add_argument('--split', default='test', help="split of the config's test dataset")
    p.add_argument('--seed', type=int, default=0, help='seed of the noise (and the pipeline)')
    p.add_argument('--out', default=None, help='also write the Markdown table here')
    p.add_argument('--json', default=None, help='write the figures here')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None)
    return p.parse_args(argv)


def load_batches(cfg, split: str, clips: int, model) -> list:
    """Preprocessed ``(inputs, data_samples)`` batches holding the first ``clips`` clips."""
    from mmengine.runner import Runner
    loader_cfg = dict(cfg.test_dataloader, num_workers=0, persistent_workers=False,
                      batch_size=min(16, clips))
    loader_cfg['dataset'] = dict(loader_cfg['dataset'], split=split)
    batches, seen = [], 0
    for batch in Runner.build_dataloader(loader_cfg):
        data = model.data_preprocessor(batch, training=False)
        keep = min(clips - seen, len(data['data_samples']))
        inputs = {k: v[:keep] for k, v in data['inputs'].items() if v is not None}
        batches.append((inputs, data['data_samples'][:keep]))
        seen += keep
        if seen >= clips:
            break
    return batches


def joint_stats(model, feats_norm, mask, fps: float) -> list:
    """``plausibility_stats`` of each valid clip of normalised features."""
    from mdkit.evaluation import plausibility_stats
    feats = model.data_preprocessor.denormalize_motion(feats_norm)
    joints = model.codec.decode(feats.double()).float().numpy()
    lengths = mask.sum(1).tolist()
    return [plausibility_stats(j[:n], fps=fps, skeleton=model.codec.skeleton)
            for j, n in zip(joints, lengths)]


def mean_of(rows: list, key: str) -> float:
    return float(sum(r[key] for r in rows) / len(rows))


def probe(model, batches: list, timesteps: list, seed: int, fps: float) -> dict:
    """``{t: {mse, jitter, limb_speed}}`` of the model's x0 estimates over the batches."""
    import torch
    out = {}
    for t in timesteps:
        gen = torch.Generator().manual_seed(seed + t)
        err, count, stats = 0.0, 0, []
        for inputs, samples in batches:
            x0 = model.reconstruct(inputs, samples, t, generator=gen)
            mask = inputs['mask']
            err += float(((x0 - inputs['motion']) ** 2)[mask].sum())
            count += int(mask.sum()) * x0.shape[-1]
            stats += joint_stats(model, x0, mask, fps)
        out[t] = dict(mse=err / count, jitter=mean_of(stats, 'jitter'),
                      limb_speed=mean_of(stats, 'limb_speed'))
    return out


def markdown(real: dict, rows: dict) -> str:
    """The real clips, then one line per (checkpoint, timestep)."""
    def cells(stats):
        return ' | '.join(format(stats[k], f) if k in stats else '–' for k, _, f in COLUMNS)
    lines = ['| | t | ' + ' | '.join(h for _, h, _ in COLUMNS) + ' |',
             '|---|---|' + '---|' * len(COLUMNS),
             f'| real ({real["clips"]} clips) | – | {cells(real)} |']
    for name, per_t in rows.items():
        for t, stats in per_t.items():
            lines.append(f'| {name} | {t} | {cells(stats)} |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)

    import numpy as np
    import torch

    from mdkit.apis import MotionGenerator
    from mdkit.utils import load_config, parse_named_files, register_all_modules
    if args.clips < 1:
        sys.exit(f'error: --clips must be >= 1, got {args.clips}')
    register_all_modules()
    try:
        cfg = load_config(args.config, args.cfg_options)
        pairs = parse_named_files(args.checkpoints, 'CHECKPOINT', 'checkpoint',
                                  '5k=work_dirs/tmd_5k/iter_5000.pth')
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'error: {e}')
    gen = MotionGenerator.from_config(cfg, pairs[0][1])
    model = gen.model
    n = model.train_scheduler.num_train_timesteps
    bad = [t for t in args.timesteps if not 0 <= t < n]
    if bad:
        sys.exit(f'error: --timesteps must lie in [0, {n - 1}] for this config, got {bad}')
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    batches = load_batches(cfg, args.split, args.clips, model)
    clips = sum(len(s) for _, s in batches)
    real_rows = [r for inputs, _ in batches
                 for r in joint_stats(model, inputs['motion'], inputs['mask'], gen.fps)]
    real = dict(split=args.split, clips=clips, jitter=mean_of(real_rows, 'jitter'),
                limb_speed=mean_of(real_rows, 'limb_speed'))
    rows = {}
    for name, path in pairs:
        gen.load_checkpoint(path)
        rows[name] = probe(model.eval(), batches, args.timesteps, args.seed, gen.fps)
    text = markdown(real, rows)
    print(text)
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            f.write(text + '\n')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(dict(real=real, timesteps=args.timesteps, seed=args.seed,
                           checkpoints=dict(pairs), rows={
                               name: {str(t): s for t, s in per_t.items()}
                               for name, per_t in rows.items()}), f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())

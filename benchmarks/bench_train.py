"""Training throughput of a config: iterations/s, samples/s and peak memory.

Usage:
    python benchmarks/bench_train.py CONFIG [--iters 30] [--warmup 5] [--windows 3]
        [--batch-size N] [--amp] [--threads 2] [--cfg-options k=v ...]

Runs real ``train_step``s (data loading excluded: batches are prepared up front) and
prints the median over ``--windows`` timing windows.
"""
import argparse
import copy
import resource
import statistics
import time

import torch
from mmengine.config import DictAction
from mmengine.optim import build_optim_wrapper


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--iters', type=int, default=30, help='iterations per timing window')
    p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--windows', type=int, default=3)
    p.add_argument('--batch-size', type=int, default=None)
    p.add_argument('--amp', action='store_true', help='bf16 autocast')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    from mdkit.datasets import motion_collate
    from mdkit.registry import DATASETS, MODELS
    from mdkit.utils import build_from_cfg_checked, load_config, register_all_modules
    register_all_modules()
    try:
        cfg = load_config(args.config, args.cfg_options)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f'error: {e}') from None
    bs = args.batch_size or cfg.train_dataloader.batch_size
    model = build_from_cfg_checked(cfg.model, MODELS).to(args.device).train()
    ds = build_from_cfg_checked(cfg.train_dataloader.dataset, DATASETS)
    g = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(4):
        idx = torch.randint(len(ds), (bs, ), generator=g).tolist()
        batches.append(motion_collate([ds[i] for i in idx]))
    optim_cfg = copy.deepcopy(dict(cfg.optim_wrapper))
    if args.amp:
        optim_cfg['type'] = 'BF16OptimWrapper'
    # built as the Runner builds it (a weak guidance model gets its own optimizer)
    wrapper = build_optim_wrapper(model, optim_cfg)
    if args.device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    for i in range(args.warmup):
        model.train_step(batches[i % 4], wrapper)
    rates = []
    for _ in range(args.windows):
        t0 = time.perf_counter()
        for i in range(args.iters):
            model.train_step(batches[i % 4], wrapper)
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
        rates.append(args.iters / (time.perf_counter() - t0))
    its = statistics.median(rates)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = sum(p.numel() for p in model.denoiser.parameters()) / 1e6
    print(f'config: {args.config}')
    print(f'denoiser params {params:.2f} M, batch {bs}, amp={args.amp}, threads {args.threads}, '
          f'device {args.device}')
    print(f'iterations/s: {its:.2f} (median of {args.windows} windows of {args.iters}; '
          f'windows: {", ".join(f"{r:.2f}" for r in rates)})')
    print(f'samples/s: {its * bs:.1f}')
    print(f'peak host memory (max RSS): {rss:.0f} MiB')
    if args.device.startswith('cuda'):
        print(f'peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB')


if __name__ == '__main__':
    main()

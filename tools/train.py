"""Train a model from a config with mmengine's Runner.

Usage:
    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|PATH]] [--amp]
        [--cfg-options key=value ...] [--launcher none|pytorch]
    torchrun --nproc_per_node 2 tools/train.py CONFIG --launcher pytorch   # multi-process
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Train an mdkit model')
    p.add_argument('config', help='config file')
    p.add_argument('--work-dir', help='folder for logs and checkpoints')
    p.add_argument('--resume', nargs='?', type=str, const='auto',
                   help='resume from PATH, or from the latest checkpoint in the work dir')
    p.add_argument('--amp', action='store_true', help='bf16 autocast (CPU or GPU)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config entries, e.g. train_cfg.max_iters=100')
    p.add_argument('--launcher', choices=['none', 'pytorch'], default='none')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args) -> Config:
    """Load the config and apply the command-line options."""
    from mdkit.utils import load_config
    try:
        cfg = load_config(args.config, args.cfg_options)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'error: {e}')
    cfg.setdefault('default_scope', 'mdkit')
    cfg.launcher = args.launcher
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'BF16OptimWrapper', 'AmpOptimWrapper'):
            sys.exit(f'error: --amp cannot replace optim_wrapper type {wrapper!r}')
        cfg.optim_wrapper.type = 'BF16OptimWrapper'
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        if not osp.isfile(args.resume):
            sys.exit(f'error: checkpoint to resume from not found: {args.resume}')
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def main(argv=None):
    args = parse_args(argv)
    from mdkit.engine import init_dist_if_needed
    from mdkit.utils import register_all_modules
    register_all_modules()
    cfg = build_config(args)
    init_dist_if_needed(args.launcher, **cfg.get('env_cfg', {}).get('dist_cfg', {}))
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Run the test loop of a config on a checkpoint and write the metrics as JSON.

Usage:
    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...] [--out F]
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

from mmengine.config import Config, DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Test an mdkit model')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--work-dir', help='folder for logs and the results JSON')
    p.add_argument('--out', help='results JSON path (default: <work_dir>/test_results.json)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--launcher', choices=['none', 'pytorch'], default='none')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            sys.exit(f'error: file not found: {path}')
    from mdkit.engine import init_dist_if_needed
    from mdkit.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.setdefault('default_scope', 'mdkit')
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False
    init_dist_if_needed(args.launcher, **cfg.get('env_cfg', {}).get('dist_cfg', {}))
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    out = args.out or osp.join(cfg.work_dir, 'test_results.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    record = dict(config=osp.abspath(args.config), checkpoint=osp.abspath(args.checkpoint),
                  time=time.strftime('%Y-%m-%d %H:%M:%S'),
                  metrics={k: float(v) for k, v in (metrics or {}).items()})
    with open(out, 'w') as f:
        json.dump(record, f, indent=1)
    print(json.dumps(record['metrics'], indent=1))
    print(f'results written to {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

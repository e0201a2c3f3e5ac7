"""Test a checkpoint with the text-to-motion protocol; write JSON and a Markdown table.

Usage:
    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out F.json] [--repetitions 20]
        [--seed 0] [--mm-num-texts 100] [--mm-num-repeats 30] [--mm-num-pairs 10]
        [--no-multimodality] [--cfg-options k=v ...]

Every repetition re-generates the test split and runs the config's ``test_evaluator``
(e.g. TextMotionMetric + MotionPlausibilityMetric); the output holds mean and 95%
confidence interval of every metric, the real-data row computed with the same
evaluator, the evaluator's identity and whether ground-truth lengths were used.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

from mmengine.config import DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Test an mdkit model')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--work-dir', help='folder for logs and the results JSON')
    p.add_argument('--out', help='results JSON path (default: <work_dir>/test_results.json); '
                   'the Markdown table goes next to it (.md)')
    p.add_argument('--repetitions', type=int, default=20,
                   help='independent repetitions for mean and 95%% CI (protocol: 20)')
    p.add_argument('--seed', type=int, default=0, help='repetition r uses seed + r')
    p.add_argument('--mm-num-texts', type=int, default=100,
                   help='captions of the multimodality pass (protocol: 100)')
    p.add_argument('--mm-num-repeats', type=int, default=30,
                   help='generations per caption for multimodality (protocol: 30)')
    p.add_argument('--mm-num-pairs', type=int, default=10,
                   help='pairs per caption for multimodality (protocol: 10)')
    p.add_argument('--no-multimodality', action='store_true', help='skip the multimodality pass')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--launcher', choices=['none', 'pytorch'], default='none')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            sys.exit(f'error: file not found: {path}')
    from mdkit.engine import init_dist_if_needed
    from mdkit.utils import load_config, register_all_modules
    register_all_modules()
    try:
        cfg = load_config(args.config, args.cfg_options)
    except ValueError as e:
        sys.exit(f'error: {e}')
    cfg.setdefault('default_scope', 'mdkit')
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False
    init_dist_if_needed(args.launcher, **cfg.get('env_cfg', {}).get('dist_cfg', {}))
    from mmengine.runner import Runner

    from mdkit.evaluation.protocol import protocol_markdown, run_test_protocol
    runner = Runner.from_cfg(cfg)
    result = run_test_protocol(
        runner, repetitions=args.repetitions, seed=args.seed, mm_num_texts=args.mm_num_texts,
        mm_num_repeats=args.mm_num_repeats, mm_num_pairs=args.mm_num_pairs,
        multimodality=not args.no_multimodality)
    out = args.out or osp.join(cfg.work_dir, 'test_results.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    record = dict(config=osp.abspath(args.config), checkpoint=osp.abspath(args.checkpoint),
                  time=time.strftime('%Y-%m-%d %H:%M:%S'), **result)
    with open(out, 'w') as f:
        json.dump(record, f, indent=1)
    table = protocol_markdown(result, name=osp.splitext(osp.basename(args.config))[0])
    with open(osp.splitext(out)[0] + '.md', 'w') as f:
        f.write(table + '\n')
    print(table)
    print(f'results written to {out} and {osp.splitext(out)[0]}.md')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Put several ``tools/test.py`` results in one Markdown table, with training losses.

Usage:
    python tools/analysis/compare_results.py NAME=RESULTS.json [NAME=RESULTS.json ...]
        [--losses 100] [--loss-keys loss_diffusion loss_align] [--out table.md]

Each ``RESULTS.json`` is what ``tools/test.py --out`` wrote. With ``--losses N``
each row also gets the mean of the logged training losses over the N
iterations up to the evaluated checkpoint, read from the checkpoint's work dir.
"""
import argparse
import json
import os.path as osp
import re
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('results', nargs='+', metavar='NAME=RESULTS.json',
                   help='row label and a results JSON of tools/test.py')
    p.add_argument('--losses', type=int, default=0, metavar='N',
                   help='add training-loss columns: mean over the N iterations up to the '
                        'checkpoint (0: none)')
    p.add_argument('--loss-keys', nargs='+', default=None,
                   help='loss scalars to show (default: every loss_* any run logged)')
    p.add_argument('--out', default=None, help='also write the table to this file')
    return p.parse_args(argv)


def _checkpoint_iteration(path: str) -> int | None:
    m = re.search(r'iter_(\d+)\.pth$', path or '')
    return int(m.group(1)) if m else None


def main(argv=None):
    args = parse_args(argv)
    from mdkit.evaluation.protocol import compare_markdown
    from mdkit.utils import mean_training_scalars, parse_named_files
    try:
        named = parse_named_files(args.results, 'RESULTS.json', 'results file',
                                  'abl1=work_dirs/abl1/test_results.json',
                                  hint='write it with tools/test.py --out')
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f'error: {e}')
    rows = []
    for name, path in named:
        with open(path) as f:
            result = json.load(f)
        if 'metrics' not in result or 'settings' not in result:
            sys.exit(f'error: {path} has no metrics/settings: not a tools/test.py result')
        rows.append((name, result))
    extra = []
    if args.losses > 0:
        means = []
        for name, result in rows:
            ckpt = result.get('checkpoint') or ''
            try:
                means.append(mean_training_scalars(osp.dirname(ckpt), args.losses,
                                                   until=_checkpoint_iteration(ckpt)))
            except (FileNotFoundError, ValueError) as e:
                sys.exit(f'error: training losses of {name!r} (checkpoint {ckpt}): {e}')
        keys = args.loss_keys or sorted({k for m in means for k in m if k.startswith('loss_')})
        for key in keys:
            extra.append((f'train {key.removeprefix("loss_")}',
                          [f'{m[key]:.3f}' if key in m else '–' for m in means]))
    table = compare_markdown(rows, extra)
    if args.losses > 0:
        table += (f' Training losses: mean of the logged values over the {args.losses} '
                  f'iterations up to each checkpoint.')
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())

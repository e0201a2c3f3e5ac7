"""Print a fully merged mdkit config.

Example::

    python tools/misc/print_config.py configs/_base_/default_runtime.py \
        --cfg-options log_level=DEBUG default_hooks.logger.interval=10
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(description='Print the merged (resolved) config.')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default=None,
        help='override settings, e.g. key1=value1 a.b=1 "list=[1,2]"')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = parse_args(argv)
    if not osp.isfile(args.config):
        print(f'error: config file not found: {args.config}', file=sys.stderr)
        return 2
    from mmengine.config import Config

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    print(f'Config (path: {args.config}):\n{cfg.pretty_text}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

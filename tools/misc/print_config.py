"""Print a fully merged mdkit config.

Example::

    python tools/misc/print_config.py configs/_base_/default_runtime.py \
        --cfg-options log_level=DEBUG default_hooks.logger.interval=10
"""
from __future__ import annotations

import argparse
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
    from mdkit.utils import load_config
    try:
        cfg = load_config(args.config, args.cfg_options)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'Config (path: {args.config}):\n{cfg.pretty_text}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

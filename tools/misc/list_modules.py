"""List every class registered in the mdkit registries (name, module path, one-line doc).

Examples::

    python tools/misc/list_modules.py
    python tools/misc/list_modules.py --registry optim_wrapper --include-parents
    python tools/misc/list_modules.py --grep guidance --json
"""
from __future__ import annotations

import argparse
import inspect
import json
import re
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='List the classes registered in every mdkit registry.')
    parser.add_argument('--registry', metavar='NAME',
                        help="only this registry, e.g. 'dataset', 'optim_wrapper', 'MODELS'")
    parser.add_argument('--grep', metavar='PATTERN',
                        help='case-insensitive regex over name, module and docstring')
    parser.add_argument('--include-parents', action='store_true',
                        help="also list the mmengine (parent registry) classes")
    parser.add_argument('--json', action='store_true', help='print JSON instead of a table')
    return parser.parse_args(argv)


def first_doc_line(obj: object) -> str:
    """First non-empty line of ``obj``'s docstring ('' when it has none)."""
    doc = inspect.getdoc(obj) or ''
    for line in doc.splitlines():
        if line.strip():
            return line.strip()
    return ''


def collect(registry_filter: str | None, include_parents: bool) -> list[dict]:
    """Rows ``{registry, scope, name, module, doc}`` for the selected registries."""
    from mdkit.registry import ALL_REGISTRIES
    from mdkit.utils.registry_utils import find_registry, registry_cli_name
    from mdkit.utils.setup_env import register_all_modules

    if registry_filter is not None:
        selected = [find_registry(registry_filter)]  # raises with the valid names
    else:
        selected = sorted(ALL_REGISTRIES.items(), key=lambda kv: registry_cli_name(kv[1]))
    register_all_modules(init_default_scope=False)
    if include_parents:
        import mmengine.dataset  # noqa: F401  (fill mmengine's own registries)
        import mmengine.runner  # noqa: F401

    rows = []
    for _, registry in selected:
        chain = [registry]
        parent = registry.parent if include_parents else None
        while parent is not None:
            chain.append(parent)
            parent = parent.parent
        for reg in chain:
            for name, obj in sorted(reg.module_dict.items(), key=lambda kv: kv[0].lower()):
                rows.append(dict(registry=registry_cli_name(registry), scope=reg.scope,
                                 name=name, module=getattr(obj, '__module__', '') or '',
                                 doc=first_doc_line(obj)))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = parse_args(argv)
    from mdkit.utils.registry_utils import UnregisteredTypeError

    try:
        rows = collect(args.registry, args.include_parents)
    except UnregisteredTypeError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    if args.grep:
        pattern = re.compile(args.grep, re.IGNORECASE)
        rows = [r for r in rows
                if pattern.search(r['name']) or pattern.search(r['module'])
                or pattern.search(r['doc'])]

    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print('(no registered classes match)')
        return 0
    header = dict(registry='REGISTRY', scope='SCOPE', name='NAME', module='MODULE',
                  doc='DESCRIPTION')
    cols = ['registry', 'scope', 'name', 'module']
    widths = {c: max(len(r[c]) for r in [header] + rows) for c in cols}
    for row in [header] + rows:
        print('  '.join(row[c].ljust(widths[c]) for c in cols) + '  ' + row['doc'])
    n_reg = len({r['registry'] for r in rows})
    print(f'\n{len(rows)} classes in {n_reg} registries.')
    return 0


if __name__ == '__main__':
    sys.exit(main())

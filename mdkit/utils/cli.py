"""Small parsers shared by the command-line tools."""
from __future__ import annotations

import os.path as osp

__all__ = ['parse_named_files']


def parse_named_files(items, kind: str, noun: str, example: str, hint: str = '') -> list:
    """``NAME=PATH`` arguments as ``(name, path)`` pairs, each path an existing file.

    Args:
        items (Sequence[str]): The raw arguments.
        kind (str): The path's placeholder in ``NAME=<kind>`` (e.g. ``'CHECKPOINT'``).
        noun (str): What the path is, in the missing-file message (e.g. ``'checkpoint'``).
        example (str): An example argument shown when one is malformed.
        hint (str): Appended to the message for a missing file. Defaults to ''.

    Returns:
        list[tuple[str, str]]: One pair per argument, in order.

    Raises:
        ValueError: An argument is not ``NAME=PATH`` with both parts non-empty,
            or a name repeats.
        FileNotFoundError: A path is not a file.

    Example:
        >>> parse_named_files(['a=setup.py'], 'FILE', 'file', 'a=setup.py')
        [('a', 'setup.py')]
    """
    pairs = []
    for item in items:
        name, sep, path = item.partition('=')
        if not sep or not name or not path:
            raise ValueError(f'{item!r} is not NAME={kind} (e.g. {example})')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{noun} not found: {path}' + (f' ({hint})' if hint else ''))
        if any(name == n for n, _ in pairs):
            raise ValueError(f'name {name!r} is given twice: each NAME={kind} needs its own '
                             f'name')
        pairs.append((name, path))
    return pairs

"""Small parsers shared by the command-line tools: configs and ``NAME=PATH`` lists."""
from __future__ import annotations

import inspect
import os.path as osp

__all__ = ['load_config', 'parse_named_files']


def _runner_keys() -> set[str]:
    from mmengine.runner import Runner
    return set(inspect.signature(Runner.__init__).parameters) - {'self', 'cfg'}


def load_config(path, cfg_options: dict | None = None):
    """Read a config file and apply ``--cfg-options`` overrides to it.

    An override may add keys below an existing top-level entry (e.g.
    ``model.losses.acceleration.type=JointAccelerationLoss``), or set a
    top-level entry that the mmengine Runner reads (``randomness.seed=1``).
    A top-level name that is neither is a typo that would otherwise be
    silently ignored, so it is refused with the closest existing names.

    Args:
        path (str | Config): The config file, or a loaded config, which is
            updated in place.
        cfg_options (dict, optional): Dotted keys to values, as mmengine's
            ``DictAction`` parses ``--cfg-options``. Defaults to None.

    Returns:
        mmengine.config.Config: The merged config.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: An override's top-level name is unknown.

    Example:
        >>> cfg = load_config('configs/baselines/tmd_minilm-xattn-small_2k_cmu.py',
        ...                   {'train_cfg.max_iters': 10})
        >>> cfg.train_cfg.max_iters
        10
    """
    from mmengine.config import Config

    from .registry_utils import suggest_names
    if isinstance(path, Config):
        cfg, path = path, path.filename or 'the config'
    elif not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    else:
        cfg = Config.fromfile(path)
    if cfg_options:
        known = set(cfg.keys()) | _runner_keys()
        for key in cfg_options:
            top = key.split('.', 1)[0]
            if top not in known:
                close = suggest_names(top, sorted(known), n=3)
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ''
                raise ValueError(
                    f'--cfg-options {key}: {path} has no top-level {top!r} and the Runner '
                    f'takes no such argument.{hint} (python tools/misc/print_config.py '
                    f'{path} shows the whole config.)')
        cfg.merge_from_dict(cfg_options)
    return cfg


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

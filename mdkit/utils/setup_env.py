"""Register every mdkit module and set the default scope."""
from __future__ import annotations

import importlib
import logging

__all__ = ['registry_locations', 'import_module_if_exists', 'register_all_modules']

#: Always imported first: holds the compatibility shims.
_ENGINE = 'mdkit.engine'


def registry_locations() -> list[str]:
    """Every ``locations`` entry of every mdkit registry, in order, without duplicates.

    Returns:
        list[str]: Module names such as ``'mdkit.engine'`` and ``'mdkit.datasets'``.
    """
    from mdkit.registry import ALL_REGISTRIES

    seen: dict[str, None] = {}
    for registry in ALL_REGISTRIES.values():
        for loc in getattr(registry, '_locations', None) or []:
            seen.setdefault(loc, None)
    return list(seen)


def import_module_if_exists(name: str) -> bool:
    """Import mdkit module ``name``; return False only when it (or a parent package) does not exist.

    A module that exists but fails to import (a missing dependency, a missing
    sibling it imports, any other error) raises.

    Args:
        name (str): Dotted module name, e.g. ``'mdkit.models.guidance'``.

    Returns:
        bool: True when imported, False when the mdkit module does not exist.
    """
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as err:
        missing = err.name or ''
        if missing and (name == missing or name.startswith(missing + '.')) \
                and missing.startswith('mdkit.'):
            return False
        raise
    return True


def _init_default_scope(scope: str = 'mdkit') -> None:
    """Make ``scope`` the current mmengine ``DefaultScope`` without warnings."""
    import time

    from mmengine.logging import print_log
    from mmengine.registry import DefaultScope

    current = DefaultScope.get_current_instance()
    if current is not None and current.scope_name == scope:
        return
    if not DefaultScope.check_instance_created(scope):
        DefaultScope.get_instance(scope, scope_name=scope)
        return
    print_log(f'The current default scope "{current.scope_name}" is not "{scope}"; '
              f'`register_all_modules` makes "{scope}" the current default scope.',
              logger='current', level=logging.WARNING)
    new_name = f'{scope}-{time.time_ns()}'
    while DefaultScope.check_instance_created(new_name):
        new_name += '_'
    DefaultScope.get_instance(new_name, scope_name=scope)


def register_all_modules(init_default_scope: bool = True) -> list[str]:
    """Import every mdkit sub-package that registers modules, and apply the engine shims.

    Every ``locations`` entry of the mdkit registries is imported. Entries
    whose module does not exist yet (mdkit is still growing) are skipped; a
    module that exists but fails to import raises. Registries whose locations
    have all been handled are marked imported, so building from them later
    does not retry the missing ones.

    Args:
        init_default_scope (bool): Make ``'mdkit'`` the current mmengine
            ``DefaultScope``. Defaults to True.

    Returns:
        list[str]: The modules that were imported.

    Raises:
        Exception: Whatever an existing mdkit module raises on import (e.g.
            ``ModuleNotFoundError`` for a dependency it lacks).
    """
    from mdkit.registry import ALL_REGISTRIES

    imported = []
    for name in [_ENGINE] + [loc for loc in registry_locations() if loc != _ENGINE]:
        if import_module_if_exists(name):
            imported.append(name)

    from mdkit.engine import apply_compat_shims

    apply_compat_shims()
    for registry in ALL_REGISTRIES.values():
        if hasattr(registry, '_imported'):
            registry._imported = True
    if init_default_scope:
        _init_default_scope('mdkit')
    return imported

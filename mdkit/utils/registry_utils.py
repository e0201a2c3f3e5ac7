"""Registry helpers: checked builds with helpful errors, registry look-up by name.

:func:`build_from_cfg_checked` is the typed build used across mdkit. It
turns mmengine's terse failures into messages that say what to do:

* unknown ``type``: :class:`UnregisteredTypeError` (a ``KeyError``) naming the
  registry, the closest registered names and the command listing them all;
* wrong config key: :class:`UnexpectedConfigKeyError` (a ``TypeError``) naming
  the class, the bad key and the closest accepted keys;
* wrong family: ``TypeError`` naming the expected and the built type.
"""
from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mmengine.registry import Registry

__all__ = [
    'UnregisteredTypeError', 'UnexpectedConfigKeyError', 'registry_cli_name',
    'find_registry', 'registry_names', 'suggest_names', 'init_param_names',
    'explain_unexpected_kwarg', 'build_from_cfg_checked'
]

LIST_MODULES_CMD = 'python tools/misc/list_modules.py'

_UNEXPECTED_KWARG = re.compile(
    r"(?:(?P<owner>[\w.]+)\(\) )?got an unexpected keyword argument '(?P<key>\w+)'")


class UnregisteredTypeError(KeyError):
    """A config ``type`` that is not registered; ``str()`` gives the plain message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


class UnexpectedConfigKeyError(TypeError):
    """A config key that the built class does not accept.

    Attributes:
        cls_name (str): Name of the class (or function) being built.
        key (str): The offending key.
        suggestions (list[str]): Close accepted keys, best first.
    """

    def __init__(self, message: str, cls_name: str = '', key: str = '',
                 suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.cls_name = cls_name
        self.key = key
        self.suggestions = list(suggestions or [])


def registry_cli_name(registry: Registry) -> str:
    """Name used for ``--registry`` on the command line: ``'optim wrapper'`` -> ``'optim_wrapper'``.

    Args:
        registry (Registry): Any mmengine registry.

    Returns:
        str: Lower-case name with spaces and dashes replaced by underscores.
    """
    return re.sub(r'[\s\-]+', '_', registry.name.strip().lower())


def _normalise(name: str) -> str:
    return re.sub(r'[\s\-]+', '_', name.strip().lower())


def find_registry(name: str) -> tuple[str, Registry]:
    """Find an mdkit registry by CLI name, registry name or ``ALL_REGISTRIES`` key.

    ``'optim_wrapper'``, ``'optim wrapper'`` and ``'OPTIM_WRAPPERS'`` all find
    :data:`mdkit.registry.OPTIM_WRAPPERS`.

    Args:
        name (str): The name to look up (case-insensitive).

    Returns:
        tuple[str, Registry]: The ``ALL_REGISTRIES`` key and the registry.

    Raises:
        UnregisteredTypeError: When no registry matches; the message lists
            the valid names and close matches.
    """
    from mdkit.registry import ALL_REGISTRIES

    wanted = _normalise(name)
    for key, registry in ALL_REGISTRIES.items():
        if wanted in (registry_cli_name(registry), key.lower()):
            return key, registry
    valid = sorted(registry_cli_name(r) for r in ALL_REGISTRIES.values())
    close = difflib.get_close_matches(wanted, valid, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ''
    raise UnregisteredTypeError(
        f'Unknown mdkit registry {name!r}.{hint} Valid registries: {", ".join(valid)}.')


def registry_names(registry: Registry, include_parents: bool = True) -> list[str]:
    """Names registered in ``registry`` and, optionally, in its ancestors.

    Args:
        registry (Registry): The registry.
        include_parents (bool): Add the names of the parent chain.
            Defaults to True.

    Returns:
        list[str]: Unique names, the registry's own first.
    """
    names: dict[str, None] = dict.fromkeys(registry.module_dict)
    parent = registry.parent if include_parents else None
    while parent is not None:
        names.update(dict.fromkeys(parent.module_dict))
        parent = parent.parent
    return list(names)


def suggest_names(name: str, candidates: Iterable[str], n: int = 5,
                  cutoff: float = 0.6) -> list[str]:
    """Close matches of ``name`` among ``candidates``, case-insensitive, best first.

    Args:
        name (str): The misspelt name.
        candidates (Iterable[str]): Valid names.
        n (int): Maximum number of suggestions. Defaults to 5.
        cutoff (float): ``difflib`` similarity cut-off in [0, 1]. Defaults to 0.6.

    Returns:
        list[str]: Suggestions in their original spelling.
    """
    by_lower: dict[str, str] = {}
    for cand in candidates:
        by_lower.setdefault(cand.lower(), cand)
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=cutoff)
    # A case-insensitive exact match or a containment is an even better hint.
    contains = [c for c in by_lower if len(name) >= 4 and (name.lower() in c or c in name.lower())]
    ordered = list(dict.fromkeys(
        ([name.lower()] if name.lower() in by_lower else []) + close + contains))
    return [by_lower[c] for c in ordered[:n]]


def init_param_names(obj: Any) -> list[str]:
    """Keyword names that a class's ``__init__`` (or a function) accepts.

    For a class whose ``__init__`` forwards ``**kwargs``, the parameters of
    the base classes along the MRO are added until one without ``**kwargs``.

    Args:
        obj (Any): A class or a callable.

    Returns:
        list[str]: Parameter names (without ``self`` and ``*args``/``**kwargs``).
    """
    functions = []
    if inspect.isclass(obj):
        for klass in obj.__mro__:
            if klass is object:
                break
            if '__init__' in vars(klass):
                functions.append(vars(klass)['__init__'])
    else:
        functions.append(obj)
    names: dict[str, None] = {}
    for func in functions:
        try:
            params = inspect.signature(func).parameters.values()
        except (TypeError, ValueError):
            break
        var_kw = False
        for i, param in enumerate(params):
            if param.kind is param.VAR_KEYWORD:
                var_kw = True
            elif param.kind is not param.VAR_POSITIONAL and not (i == 0 and param.name == 'self'):
                names.setdefault(param.name, None)
        if not var_kw:
            break
    return list(names)


def explain_unexpected_kwarg(err: BaseException, obj_cls: Any) -> UnexpectedConfigKeyError | None:
    """Turn ``__init__() got an unexpected keyword argument 'x'`` into a helpful error.

    Args:
        err (BaseException): The error raised while building ``obj_cls``.
        obj_cls (Any): The class (or function) that was being built.

    Returns:
        UnexpectedConfigKeyError | None: An error naming the class, the bad key
        and close accepted keys; None when ``err`` is not about an unexpected
        keyword of ``obj_cls`` itself (e.g. it came from a nested build).
    """
    if not isinstance(err, TypeError) or isinstance(err, UnexpectedConfigKeyError):
        return None
    matches = list(_UNEXPECTED_KWARG.finditer(str(err)))
    if not matches:
        return None
    match = matches[-1]  # the innermost message when mmengine prefixed outer classes
    key, owner = match.group('key'), match.group('owner') or ''
    cls_name = getattr(obj_cls, '__name__', repr(obj_cls))
    accepted = init_param_names(obj_cls)
    owner = owner[:-len('.__init__')] if owner.endswith('.__init__') else owner
    owner_cls = owner.split('.')[-1]
    if key in accepted or (owner_cls and owner_cls not in _mro_names(obj_cls)):
        return None  # raised deeper down (a nested build), not by obj_cls's own signature
    close = suggest_names(key, accepted, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ''
    msg = (f'{cls_name} got an unexpected config key {key!r}.{hint} '
           f'Accepted keys: {", ".join(accepted) if accepted else "(none)"}.')
    return UnexpectedConfigKeyError(msg, cls_name=cls_name, key=key, suggestions=close)


def _mro_names(obj: Any) -> set[str]:
    if inspect.isclass(obj):
        return {k.__name__ for k in obj.__mro__}
    return {getattr(obj, '__name__', '')}


def _registry_label(registry: Registry) -> str:
    return f'{registry.scope} registry {registry_cli_name(registry)!r}'


def _unregistered_message(name: str, registry: Registry) -> str:
    parents = []
    parent = registry.parent
    while parent is not None:
        parents.append(parent)
        parent = parent.parent
    where = _registry_label(registry)
    if parents:
        where += ' (nor in its parent ' + ', '.join(_registry_label(p) for p in parents) + ')'
    close = suggest_names(name.split('.')[-1], registry_names(registry))
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ''
    return (f'{name!r} is not registered in {where}.{hint} List all with: '
            f'{LIST_MODULES_CMD} --registry {registry_cli_name(registry)}'
            + (' --include-parents' if parents else ''))


def _lookup(registry: Registry, name: str) -> Any:
    """``registry.get`` that returns None instead of raising for unknown names."""
    try:
        return registry.get(name)
    except RuntimeError as err:  # mmengine: 'Failed to get X' after trying an import path
        if 'Failed to get' in str(err):
            return None
        raise


def build_from_cfg_checked(cfg: Mapping,
                           registry: Registry,
                           expected_type: type | tuple[type, ...] | None = None,
                           default_args: Mapping | None = None) -> Any:
    """Build an object from ``registry`` with helpful errors.

    The build runs under ``registry``'s scope (``_scope_`` in ``cfg`` wins), so
    nested builds inside the object's ``__init__`` find mdkit classes too.

    Example:
        >>> from mdkit.registry import OPTIM_WRAPPERS
        >>> wrapper = build_from_cfg_checked(
        ...     dict(type='BF16OptimWrapper', optimizer=optimizer), OPTIM_WRAPPERS)

    Args:
        cfg (Mapping): Config with a ``type`` key (a registered name or a class).
        registry (Registry): The registry to build from (normally an mdkit one).
        expected_type (type | tuple[type, ...], optional): The built object
            must be an instance of this. Defaults to None (no check).
        default_args (Mapping, optional): Defaults merged under ``cfg``.
            Defaults to None.

    Returns:
        Any: The built object.

    Raises:
        TypeError: ``cfg`` is not a mapping, or the object is not an
            ``expected_type``.
        UnregisteredTypeError: ``type`` is not registered (a ``KeyError``).
        UnexpectedConfigKeyError: ``cfg`` has a key the class does not accept
            (a ``TypeError``).
    """
    if not isinstance(cfg, Mapping):
        raise TypeError(f'cfg must be a dict or Config, got {type(cfg).__name__}: {cfg!r}')
    cfg = dict(cfg)
    obj_type = cfg.get('type', (default_args or {}).get('type'))
    if obj_type is None:
        raise UnregisteredTypeError(
            f'Config for {_registry_label(registry)} has no "type" key: {cfg!r}')
    scope = cfg.setdefault('_scope_', registry.scope)
    target = registry
    if scope != registry.scope:
        target = registry._get_root_registry()._search_child(scope) or registry

    if isinstance(obj_type, str):
        obj_cls = _lookup(target, obj_type)
        if obj_cls is None:
            raise UnregisteredTypeError(_unregistered_message(obj_type, target))
    else:
        obj_cls = obj_type

    try:
        obj = registry.build(cfg, default_args=dict(default_args) if default_args else None)
    except TypeError as err:
        better = explain_unexpected_kwarg(err, obj_cls)
        if better is None:
            raise
        raise better from err

    if expected_type is not None and not isinstance(obj, expected_type):
        names = (expected_type.__name__ if isinstance(expected_type, type)
                 else ' | '.join(t.__name__ for t in expected_type))
        raise TypeError(
            f'{_registry_label(registry)} built {type(obj).__module__}.{type(obj).__name__} '
            f'from type={obj_type!r}, but an instance of {names} was expected.')
    return obj

"""Shims that make mmengine 0.10.7 work on torch >= 2.6 and on CPU-only machines.

The four problems and where each shim lives:

1. ``torch.load`` defaults to ``weights_only=True`` (torch >= 2.6), so resuming
   or ``load_from`` fails on the ``HistoryBuffer`` and numpy objects mmengine
   saves. :func:`allow_mmengine_checkpoint_globals` allow-lists exactly those
   globals (``weights_only`` stays on).
2. ``AmpOptimWrapper`` asserts a GPU: use
   :class:`~mdkit.engine.optim_wrappers.BF16OptimWrapper`.
3. ``--launcher pytorch`` calls ``torch.cuda.set_device`` on CPU: call
   :func:`~mdkit.engine.dist.init_dist_if_needed` before building the Runner.
4. DDP rejects ``device_ids`` for CPU modules: select
   :class:`~mdkit.engine.model_wrappers.MDKitDistributedDataParallel` with
   ``model_wrapper_cfg``.

:func:`apply_compat_shims` applies everything that can be applied globally
(1, and registration of 2 and 4); it is idempotent.
"""
from __future__ import annotations

from collections.abc import Callable

__all__ = [
    'mmengine_checkpoint_safe_globals', 'allow_mmengine_checkpoint_globals',
    'apply_compat_shims'
]

_SHIMS_APPLIED = False


def mmengine_checkpoint_safe_globals() -> list[Callable]:
    """Globals that an mmengine checkpoint needs beyond plain tensors.

    mmengine stores the message hub (``HistoryBuffer`` objects holding numpy
    arrays and scalars, whose statistics methods are pickled through
    ``getattr(HistoryBuffer, 'mean')``) next to the weights. ``getattr`` is
    safe to allow here: the weights-only unpickler still refuses to *call*
    anything that is not allow-listed.

    Returns:
        list[Callable]: Classes and functions to pass to
        ``torch.serialization.add_safe_globals``.
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer

    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray

    safe: list[Callable] = [
        HistoryBuffer,
        multiarray.scalar,
        multiarray._reconstruct,
        np.ndarray,
        np.dtype,
        getattr,
    ]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        for name in getattr(dtypes, '__all__', []):
            obj = getattr(dtypes, name, None)
            if isinstance(obj, type) and obj not in safe:
                safe.append(obj)
    return safe


def allow_mmengine_checkpoint_globals() -> bool:
    """Allow-list mmengine's checkpoint globals for ``weights_only`` loading.

    ``torch.load`` keeps its ``weights_only=True`` default; only the objects
    returned by :func:`mmengine_checkpoint_safe_globals` are added.

    Returns:
        bool: True when the globals are (now) allowed, False when this torch
        has no ``add_safe_globals`` (torch < 2.4, where loading needs no shim).
    """
    import torch

    serialization = torch.serialization
    if not hasattr(serialization, 'add_safe_globals'):  # pragma: no cover
        return False
    wanted = mmengine_checkpoint_safe_globals()
    present = set(serialization.get_safe_globals())
    missing = [obj for obj in wanted if obj not in present]
    if missing:
        serialization.add_safe_globals(missing)
    return True


def apply_compat_shims() -> None:
    """Apply every process-wide mmengine compatibility shim (idempotent).

    * allow-lists mmengine's checkpoint globals (shim 1), re-checked on every
      call so a test that cleared torch's safe globals gets them back;
    * registers ``BF16OptimWrapper`` (shim 2) and
      ``MDKitDistributedDataParallel`` (shim 4) in mdkit's registries.

    Shim 3 needs the launcher, so it is a call of its own:
    :func:`mdkit.engine.init_dist_if_needed`.
    """
    global _SHIMS_APPLIED
    allow_mmengine_checkpoint_globals()
    if not _SHIMS_APPLIED:
        import logging

        from mmengine.logging import print_log

        from . import model_wrappers, optim_wrappers  # noqa: F401  (registration)
        print_log('mdkit: mmengine compatibility shims applied', logger='current',
                  level=logging.DEBUG)
        _SHIMS_APPLIED = True

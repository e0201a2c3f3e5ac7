"""Distributed set-up that works without CUDA (``torchrun ... --launcher pytorch`` on CPU)."""
from __future__ import annotations

import datetime
import logging
import os
from typing import Any

__all__ = ['default_dist_backend', 'init_dist_if_needed']


def default_dist_backend() -> str:
    """Return 'nccl' when CUDA is available, else 'gloo'."""
    import torch

    return 'nccl' if torch.cuda.is_available() else 'gloo'


def init_dist_if_needed(launcher: str = 'none',
                        backend: str | None = None,
                        **kwargs: Any) -> bool:
    """Initialise ``torch.distributed`` before the Runner is built, CPU included.

    mmengine's ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` and so
    fails on CPU. Call this first: the Runner then finds the process group
    initialised and skips its own set-up. On CPU with the ``pytorch`` launcher
    (torchrun's ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``), it
    calls ``torch.distributed.init_process_group('gloo')`` itself; with CUDA
    it delegates to mmengine's ``init_dist`` (which sets the device). The
    ``slurm`` and ``mpi`` launchers need CUDA.

    Args:
        launcher (str): 'none', 'pytorch', 'slurm' or 'mpi'. Defaults to 'none'.
        backend (str, optional): Process-group backend. None picks 'nccl'
            with CUDA and 'gloo' without; 'nccl' without CUDA falls back to
            'gloo' with a warning. Defaults to None.
        **kwargs: Other ``dist_cfg`` entries (e.g. ``timeout`` in seconds),
            passed to ``init_process_group``.

    Returns:
        bool: True when the process runs distributed (now or already
        initialised), False for ``launcher='none'``.

    Raises:
        ValueError: For an unknown launcher.
        RuntimeError: For the ``slurm``/``mpi`` launchers without CUDA.
    """
    import torch
    import torch.distributed as torch_dist
    from mmengine.logging import print_log

    if launcher not in ('none', 'pytorch', 'slurm', 'mpi'):
        raise ValueError(f"Unknown launcher {launcher!r}; expected 'none', 'pytorch', "
                         "'slurm' or 'mpi'.")
    if launcher == 'none':
        return False
    if torch_dist.is_available() and torch_dist.is_initialized():
        return True

    cuda = torch.cuda.is_available()
    if backend is None:
        backend = default_dist_backend()
    elif backend == 'nccl' and not cuda:
        print_log("init_dist_if_needed: 'nccl' needs CUDA; using 'gloo' instead",
                  logger='current', level=logging.WARNING)
        backend = 'gloo'

    if not cuda and launcher != 'pytorch':
        raise RuntimeError(
            f'init_dist_if_needed: the {launcher!r} launcher needs CUDA in mmengine 0.10.7 '
            "(it calls torch.cuda.set_device); on CPU launch with torchrun and "
            "'--launcher pytorch'.")
    if cuda:
        from mmengine.dist import init_dist

        init_dist(launcher, backend=backend, **kwargs)
        return True

    timeout = kwargs.pop('timeout', None)
    if timeout is not None and not isinstance(timeout, datetime.timedelta):
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    elif timeout is not None:
        kwargs['timeout'] = timeout
    required = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
    missing = [k for k in required if k not in os.environ]
    if missing:
        raise RuntimeError(f"init_dist_if_needed('pytorch'): {', '.join(missing)} not set; "
                           'launch with torchrun (python -m torch.distributed.run).')
    rank = int(os.environ['RANK'])
    world_size = int(os.environ['WORLD_SIZE'])
    torch_dist.init_process_group(backend=backend, rank=rank, world_size=world_size, **kwargs)
    print_log(f'init_dist_if_needed: rank {rank}/{world_size} initialised with {backend!r}',
              logger='current', level=logging.DEBUG)
    return True

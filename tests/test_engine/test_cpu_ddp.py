"""Shims 3 and 4: ``torchrun ... --launcher pytorch`` on CPU with gloo and the CPU DDP wrapper."""
import importlib.util
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

from mdkit.engine import MDKitDistributedDataParallel, default_dist_backend, init_dist_if_needed
from mdkit.registry import MODEL_WRAPPERS

WORKER = osp.join(osp.dirname(osp.abspath(__file__)), '_ddp_worker.py')


def _load_worker():
    spec = importlib.util.spec_from_file_location('mdkit_test_ddp_worker', WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_wrapper_registered_and_reachable_from_mmengine_root():
    from mmengine.registry import MODEL_WRAPPERS as ROOT

    assert MODEL_WRAPPERS.get('MDKitDistributedDataParallel') is MDKitDistributedDataParallel
    # Runner.wrap_model looks the type up in the root registry: the scoped name must work.
    assert ROOT.get('mdkit.MDKitDistributedDataParallel') is MDKitDistributedDataParallel


def test_init_dist_if_needed_without_launcher():
    assert init_dist_if_needed('none') is False
    assert not (torch.distributed.is_available() and torch.distributed.is_initialized())
    with pytest.raises(ValueError, match='launcher'):
        init_dist_if_needed('torchrun')
    assert default_dist_backend() == ('nccl' if torch.cuda.is_available() else 'gloo')
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match='torchrun'):
            init_dist_if_needed('slurm')
        if 'RANK' not in os.environ:
            with pytest.raises(RuntimeError, match='RANK.*torchrun'):
                init_dist_if_needed('pytorch')


@pytest.mark.skipif(not torch.distributed.is_available(), reason='torch.distributed missing')
@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU/gloo path')
def test_torchrun_two_cpu_processes(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_addr', '127.0.0.1', '--master_port', str(_free_port()),
           WORKER, str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = [torch.load(tmp_path / f'rank{r}.pt') for r in range(2)]

    worker = _load_worker()
    for res in results:
        assert res['backend'] == 'gloo' and res['world_size'] == 2
        assert res['mmengine_init_failed'], "mmengine's init_dist worked on CPU"
        assert res['plain_ddp_failed'], 'plain MMDistributedDataParallel accepted a CPU module'
        assert res['wrapper'] == 'MDKitDistributedDataParallel'

    # Bare wrapper: every rank holds the mean of the per-rank gradients.
    local = []
    for rank in range(2):
        model = worker.build_model()
        x, y = worker.rank_batch(rank)
        model(x, y, mode='loss')['loss'].backward()
        local.append({k: p.grad for k, p in model.named_parameters()})
    for key in local[0]:
        expected = (local[0][key] + local[1][key]) / 2
        assert not torch.allclose(local[0][key], local[1][key])
        for res in results:
            torch.testing.assert_close(res['grads'][key], expected)

    # Runner: both ranks end identical, equal to one process training on the union of
    # the shards (DefaultSampler interleaves: iter 1 = samples 0..3, iter 2 = 4..7).
    model = worker.build_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = worker.PairDataset()
    for idx in ([0, 1, 2, 3], [4, 5, 6, 7]):
        x = torch.stack([data[i]['inputs'] for i in idx])
        y = torch.stack([data[i]['targets'] for i in idx])
        optimizer.zero_grad()
        model(x, y, mode='loss')['loss'].backward()
        optimizer.step()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(results[0]['params'][key], results[1]['params'][key])
        torch.testing.assert_close(results[0]['params'][key], value)

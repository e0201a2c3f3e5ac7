"""Shim 2: bf16 autocast optimizer wrapper that works on CPU."""
import pytest
import torch
from torch import nn

from mdkit.engine import BF16OptimWrapper
from mdkit.registry import OPTIM_WRAPPERS
from mdkit.utils import build_from_cfg_checked, register_all_modules


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 1))


def test_registered_and_built_by_mmengine_under_mdkit_scope():
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    register_all_modules()
    assert OPTIM_WRAPPERS.get('BF16OptimWrapper') is BF16OptimWrapper
    with DefaultScope.overwrite_default_scope('mdkit'):
        wrapper = build_optim_wrapper(
            _model(), dict(type='BF16OptimWrapper', optimizer=dict(type='SGD', lr=0.1)))
    assert isinstance(wrapper, BF16OptimWrapper)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only failure')
def test_mmengine_amp_wrapper_refuses_cpu():
    """Why the shim exists: AmpOptimWrapper asserts a GPU."""
    from mmengine.optim import AmpOptimWrapper

    optimizer = torch.optim.SGD(_model().parameters(), lr=0.1)
    with pytest.raises(AssertionError, match='gpu'):
        AmpOptimWrapper(optimizer=optimizer, dtype='bfloat16')


def test_bf16_activations_inside_context_only():
    model = _model()
    wrapper = build_from_cfg_checked(
        dict(type='BF16OptimWrapper',
             optimizer=torch.optim.SGD(model.parameters(), lr=0.1)),
        OPTIM_WRAPPERS, expected_type=BF16OptimWrapper)
    x = torch.randn(4, 8)
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cpu')
        out = model(x)
    assert out.dtype == torch.bfloat16
    assert model(x).dtype == torch.float32
    assert not torch.is_autocast_enabled('cpu')
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_disabled_wrapper_keeps_fp32():
    model = _model()
    wrapper = BF16OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                               enabled=False)
    with wrapper.optim_context(model):
        assert model(torch.randn(2, 8)).dtype == torch.float32


def test_training_steps_lower_the_loss():
    model = _model()
    wrapper = BF16OptimWrapper(optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
                               clip_grad=dict(max_norm=10.0))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 8, generator=g)
    y = x[:, :1] * 2 - x[:, 1:2]

    def loss_fn():
        with wrapper.optim_context(model):
            pred = model(x)
        return ((pred.float() - y) ** 2).mean()

    with torch.no_grad():
        first = loss_fn().item()
    for _ in range(20):
        wrapper.update_params(loss_fn())
    with torch.no_grad():
        last = loss_fn().item()
    assert last < 0.7 * first
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in model.parameters())

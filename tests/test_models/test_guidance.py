import pytest
import torch

from mdkit.models.guidance import BaseGuidance, ClassifierFreeGuidance, NoGuidance
from mdkit.registry import GUIDANCE


class _Linear:
    """A fake denoiser whose output depends on whether text is present."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x, t, mask, cond):
        self.calls += 1
        return x + cond['text_present'].float()[:, None, None] * 2.0 + 1.0


def _inputs(b=3, t=5, d=4):
    x = torch.randn(b, t, d)
    cond = dict(text_present=torch.ones(b, dtype=torch.bool), text_tokens=torch.randn(b, 2, 8))
    return x, torch.zeros(b, dtype=torch.long), torch.ones(b, t, dtype=torch.bool), cond


def test_scale_one_returns_main_and_zero_returns_reference():
    x, t, mask, cond = _inputs()
    net = _Linear()
    main = net(x, t, mask, cond)
    null = dict(cond, text_present=torch.zeros(3, dtype=torch.bool))
    ref = net(x, t, mask, null)
    assert torch.allclose(ClassifierFreeGuidance(scale=1.0).wrap(net, cond, mask)(x, t), main)
    assert torch.allclose(ClassifierFreeGuidance(scale=0.0).wrap(net, cond, mask)(x, t), ref)
    g = ClassifierFreeGuidance(scale=3.0).wrap(net, cond, mask)(x, t)
    assert torch.allclose(g, ref + 3.0 * (main - ref))


def test_one_forward_of_doubled_batch_and_window():
    x, t, mask, cond = _inputs()
    net = _Linear()
    fn = ClassifierFreeGuidance(scale=2.0, start=0.5, stop=1.0).wrap(net, cond, mask)
    out_early = fn(x, t, 0, 10)  # outside the window: plain conditional
    assert net.calls == 1 and torch.allclose(out_early, net(x, t, mask, cond))
    net.calls = 0
    fn(x, t, 5, 10)
    assert net.calls == 1  # main + reference in one call


def test_registry_and_bad_window():
    assert isinstance(GUIDANCE.build(dict(type='NoGuidance')), NoGuidance)
    with pytest.raises(ValueError, match='start <= stop'):
        BaseGuidance(scale=2.0, start=0.8, stop=0.2)

import pytest
import torch

from mdkit.models.guidance import (
    AutoGuidance,
    BaseGuidance,
    ClassifierFreeGuidance,
    CombinedGuidance,
    NoGuidance,
    dropout_perturbed,
)
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
    assert torch.allclose(ClassifierFreeGuidance(scale=0.0).wrap(net, cond, mask)(x, t), ref,
                          atol=1e-5)
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


class _TwoModal:
    """Fake denoiser with distinct text and video effects; counts calls and batch sizes."""

    def __init__(self, offset=0.0):
        self.calls, self.batches, self.offset = 0, [], offset

    def __call__(self, x, t, mask, cond):
        self.calls += 1
        self.batches.append(x.shape[0])
        tp = cond['text_present'].float()[:, None, None]
        vp = cond['video_present'].float()[:, None, None]
        return x * 0.5 + 3.0 * tp + 7.0 * vp + 11.0 * tp * vp + self.offset


def _two_modal_inputs(b=2, t=4, d=3):
    x, steps, mask, cond = _inputs(b, t, d)
    cond['video_present'] = torch.ones(b, dtype=torch.bool)
    return x, steps, mask, cond


def _drop(cond, *mods):
    return dict(cond, **{f'{m}_present': torch.zeros_like(cond[f'{m}_present']) for m in mods})


@pytest.mark.parametrize('cfg', [
    dict(type='ClassifierFreeGuidance', scale=1.0),
    dict(type='ClassifierFreeGuidance', modality_scales=dict(text=1.0, video=1.0)),
    dict(type='AutoGuidance', scale=1.0),
    dict(type='CombinedGuidance', guidances=[dict(type='AutoGuidance', scale=1.0),
                                             dict(type='ClassifierFreeGuidance', scale=1.0)]),
])
def test_scale_one_is_main_for_every_guidance(cfg):
    x, t, mask, cond = _two_modal_inputs()
    net, weak = _TwoModal(), _TwoModal(offset=5.0)
    out = GUIDANCE.build(cfg).wrap(net, cond, mask, weak_denoiser=weak)(x, t, 0, 10)
    assert torch.allclose(out, _TwoModal()(x, t, mask, cond))
    assert weak.calls == 0 and net.calls == 1  # no reference evaluated at weight 1


def test_reference_identical_to_main_returns_main_at_any_scale():
    x, t, mask, cond = _two_modal_inputs()
    net = _TwoModal()
    main = net(x, t, mask, cond)
    for scale in (0.0, 2.5, 7.0):
        ag = AutoGuidance(scale=scale).wrap(net, cond, mask, weak_denoiser=_TwoModal())
        assert torch.allclose(ag(x, t, 3, 10), main)
        both = CombinedGuidance([AutoGuidance(scale=scale), AutoGuidance(scale=scale + 1)])
        assert torch.allclose(both.wrap(net, cond, mask, _TwoModal())(x, t, 0, 10), main)


def test_autoguidance_formula_and_cfg_zero_is_reference():
    x, t, mask, cond = _two_modal_inputs()
    net, weak = _TwoModal(), _TwoModal(offset=-2.0)
    main, ref = net(x, t, mask, cond), weak(x, t, mask, cond)
    out = AutoGuidance(scale=3.0).wrap(net, cond, mask, weak)(x, t, 0, 5)
    assert torch.allclose(out, ref + 3.0 * (main - ref))
    assert torch.allclose(AutoGuidance(scale=0.0).wrap(net, cond, mask, weak)(x, t, 0, 5), ref,
                          atol=1e-5)
    for null in ('text', 'video', ('text', 'video')):
        cfg0 = ClassifierFreeGuidance(scale=0.0, null=null).wrap(net, cond, mask)(x, t, 0, 5)
        nulls = (null, ) if isinstance(null, str) else null
        assert torch.allclose(cfg0, net(x, t, mask, _drop(cond, *nulls)), atol=1e-5)


def test_per_modality_cfg_one_stacked_forward():
    x, t, mask, cond = _two_modal_inputs(b=2)
    net = _TwoModal()
    main = net(x, t, mask, cond)
    no_text, no_video = net(x, t, mask, _drop(cond, 'text')), net(x, t, mask, _drop(cond, 'video'))
    net.calls, net.batches = 0, []
    g = ClassifierFreeGuidance(modality_scales=dict(text=2.0, video=0.5))
    out = g.wrap(net, cond, mask)(x, t, 0, 4)
    expect = main + 1.0 * (main - no_text) - 0.5 * (main - no_video)
    assert torch.allclose(out, expect)
    assert net.calls == 1 and net.batches == [6]  # main + two references in one batch


def test_combined_guidance_formula_and_forward_count():
    x, t, mask, cond = _two_modal_inputs()
    net, weak = _TwoModal(), _TwoModal(offset=1.5)
    main, w_ref = net(x, t, mask, cond), weak(x, t, mask, cond)
    u_ref = net(x, t, mask, _drop(cond, 'text', 'video'))
    net.calls, net.batches, weak.calls = 0, [], 0
    g = GUIDANCE.build(dict(type='CombinedGuidance', guidances=[
        dict(type='AutoGuidance', scale=2.0),
        dict(type='ClassifierFreeGuidance', scale=3.0, null=('text', 'video'))]))
    out = g.wrap(net, cond, mask, weak)(x, t, 0, 4)
    assert torch.allclose(out, main + (main - w_ref) + 2.0 * (main - u_ref))
    assert (net.calls, net.batches, weak.calls) == (1, [4], 1)


def test_windows_and_schedules():
    g = ClassifierFreeGuidance(scale=3.0, start=0.2, stop=0.6)
    weights = [g.weight_at(3.0, i, 10) for i in range(10)]
    assert weights[:2] == [1.0, 1.0] and weights[6:] == [1.0] * 4
    assert weights[2:6] == [3.0] * 4
    inc = ClassifierFreeGuidance(scale=3.0, schedule='linear_increase')
    w = [inc.weight_at(3.0, i, 5) for i in range(5)]
    assert w[0] == 1.0 and w[-1] == 3.0 and all(a < b for a, b in zip(w, w[1:]))
    dec = AutoGuidance(scale=3.0, schedule='cosine_decrease')
    w = [dec.weight_at(3.0, i, 5) for i in range(5)]
    assert w[0] == 3.0 and w[-1] == 1.0 and all(a > b for a, b in zip(w, w[1:]))
    custom = AutoGuidance(scale=2.0, schedule=lambda p: 0.5)
    assert custom.weight_at(2.0, 2, 5) == 1.5
    # the model function honours the window: outside it, one plain forward
    x, t, mask, cond = _two_modal_inputs()
    net, weak = _TwoModal(), _TwoModal(offset=1.0)
    fn = AutoGuidance(scale=2.0, start=0.5).wrap(net, cond, mask, weak)
    assert torch.allclose(fn(x, t, 0, 4), net(x, t, mask, cond)) and weak.calls == 0
    fn(x, t, 2, 4)
    assert weak.calls == 1


def test_dropout_reference_restores_the_network():
    from torch import nn

    from mdkit.models.fusion.attention import MultiHeadAttention

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp, self.drop = nn.Linear(3, 8), nn.Dropout(0.0)
            self.attn, self.norm = MultiHeadAttention(8, 2), nn.LayerNorm(8)
            self.out = nn.Linear(8, 3)

        def forward(self, x, t, mask, cond):
            return self.out(self.norm(self.attn(self.drop(self.inp(x)))))

    torch.manual_seed(0)
    net = Net().eval()
    x, t, mask, cond = _inputs(d=3)
    main = net(x, t, mask, cond)
    with dropout_perturbed(net, 0.5):
        assert net.drop.training and net.drop.p == 0.5 and net.attn.dropout == 0.5
        assert not net.norm.training
    assert not net.drop.training and net.drop.p == 0.0 and net.attn.dropout == 0.0
    fn = AutoGuidance(scale=2.0, reference='dropout', dropout=0.5).wrap(net, cond, mask)
    torch.manual_seed(1)
    assert not torch.allclose(fn(x, t, 0, 1), main)  # the perturbed reference differs from main
    assert torch.allclose(net(x, t, mask, cond), main)  # and nothing stays perturbed
    with pytest.raises(ValueError, match='no dropout layers'):
        with dropout_perturbed(nn.Linear(2, 2), 0.1):
            pass


def test_guidance_errors():
    x, t, mask, cond = _inputs()
    net = _Linear()
    with pytest.raises(ValueError, match='needs a weak model'):
        AutoGuidance(scale=2.0).wrap(net, cond, mask)
    with pytest.raises(ValueError, match="drops modality 'video'"):
        ClassifierFreeGuidance(null='video').wrap(net, cond, mask)
    with pytest.raises(ValueError, match='unknown guidance schedule'):
        ClassifierFreeGuidance(schedule='linaer')
    with pytest.raises(ValueError, match='reference must be one of'):
        AutoGuidance(reference='ema')
    with pytest.raises(ValueError, match='at least one guidance'):
        CombinedGuidance([])
    with pytest.raises(KeyError, match='NoGuidanse'):
        CombinedGuidance([dict(type='NoGuidanse')])

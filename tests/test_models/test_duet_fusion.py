"""DUETFusion: unified text-video encoding, gated dynamic attention, temporal alignment."""
import pytest
import torch

from mdkit.models.fusion import DUETFusion, video_slot_times
from mdkit.registry import MODELS


def _fusion(**kw):
    torch.manual_seed(0)
    cfg = dict(width=32, num_layers=2, num_heads=2, text_dim=16, video_dim=24)
    cfg.update(kw)
    return DUETFusion(**cfg).eval()


def _cond(b=3, f=6):
    torch.manual_seed(1)
    return dict(text_tokens=torch.randn(b, 5, 16), text_mask=torch.ones(b, 5, dtype=torch.bool),
                video_tokens=torch.randn(b, f, 24), video_mask=torch.ones(b, f, dtype=torch.bool),
                text_present=torch.ones(b, dtype=torch.bool),
                video_present=torch.ones(b, dtype=torch.bool))


def _run(fusion, cond, t=12, i=0):
    b = cond['text_tokens'].shape[0]
    t_emb = torch.randn(b, 32, generator=torch.Generator().manual_seed(2))
    h = torch.randn(t_emb.shape[0], t, 32, generator=torch.Generator().manual_seed(3))
    mask = torch.ones(t_emb.shape[0], t, dtype=torch.bool)
    return fusion.layer_forward(i, h, fusion.embed(cond, t_emb), t_emb, mask)


def test_absent_or_padded_video_is_ignored():
    fusion, cond = _fusion(), _cond()
    cond['video_present'][1] = False
    cond['video_mask'][2, 4:] = False
    base = _run(fusion, cond)
    changed = dict(cond, video_tokens=cond['video_tokens'].clone())
    changed['video_tokens'][1] = float('nan')  # absent sample: even NaN must not leak
    changed['video_tokens'][2, 4:] = 100.0  # padded slots
    out = _run(fusion, changed)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[1:], base[1:], atol=1e-6)
    changed['video_tokens'][0, 0] += 1.0  # a present, valid slot does matter
    assert not torch.allclose(_run(fusion, changed)[0], base[0])


def test_streams_and_text_only_condition():
    fusion, cond = _fusion(), _cond()
    ctx = fusion.embed(cond, torch.randn(3, 32))
    assert ctx['text_context'].shape == (3, 6, 32) and ctx['video_context'].shape == (3, 7, 32)
    text_only = {k: v for k, v in cond.items() if not k.startswith('video')}
    out = _run(fusion, text_only)
    assert out.shape == (3, 12, 32) and torch.isfinite(out).all()
    # no video data at all == video marked absent
    absent = dict(cond, video_present=torch.zeros(3, dtype=torch.bool))
    assert torch.allclose(_run(fusion, absent), out, atol=1e-6)


def test_temporal_bias_aligns_motion_frames_with_their_video_slots():
    fusion = _fusion(encoder_layers=0)
    with torch.no_grad():
        fusion.time_slopes.fill_(6.0)  # strong locality
    cond = _cond(b=1, f=6)
    base = _run(fusion, cond, t=12)
    late = dict(cond, video_tokens=cond['video_tokens'].clone())
    late['video_tokens'][0, -1] += 3.0  # the last slot covers the last two motion frames
    diff = (_run(fusion, late, t=12) - base).norm(dim=-1)[0]
    assert diff[-1] > 20 * diff[0]
    # without the bias every frame sees the change alike
    flat = _fusion(encoder_layers=0, temporal_bias=False)
    diff = (_run(flat, late, t=12) - _run(flat, cond, t=12)).norm(dim=-1)[0]
    assert diff[-1] < 3 * diff[0]


def test_slot_times_and_given_times():
    vm = torch.tensor([[True, True, True, False]])
    mm = torch.ones(1, 12, dtype=torch.bool)
    assert torch.allclose(video_slot_times(vm, mm), torch.tensor([[1.5, 5.5, 9.5, 13.5]]))
    fusion, cond = _fusion(encoder_layers=0), _cond(b=1, f=6)
    with pytest.raises(ValueError, match='video_times must have shape'):
        fusion.embed(dict(cond, video_times=torch.zeros(1, 3)), torch.randn(1, 32))


def test_gates_depend_on_timestep_and_presence():
    fusion, cond = _fusion(), _cond()
    with torch.no_grad():
        for g in fusion.gates:
            g.weight.normal_()
    t_emb = torch.randn(3, 32)
    ctx = fusion.embed(cond, t_emb)
    gates = fusion.gate_values(0, ctx, t_emb)
    assert gates.shape == (3, 2) and ((gates > 0) & (gates < 1)).all()
    ctx2 = fusion.embed(dict(cond, video_present=torch.zeros(3, dtype=torch.bool)), t_emb)
    assert not torch.allclose(fusion.gate_values(0, ctx2, t_emb), gates)
    assert not torch.allclose(fusion.gate_values(0, ctx, t_emb.flip(0)), gates)
    fixed = _fusion(dynamic_gates=False)
    assert torch.equal(fixed.gate_values(0, fixed.embed(cond, t_emb), t_emb), torch.ones(3, 2))


def test_in_denoiser_trains_both_streams():
    den = MODELS.build(dict(type='MotionTransformerDenoiser', input_dim=8, width=32, num_layers=2,
                            num_heads=2, ff_dim=64, dropout=0.0,
                            fusion=dict(type='DUETFusion', text_dim=16, video_dim=24)))
    cond = _cond(b=2)
    x = torch.randn(2, 10, 8)
    out = den(x, torch.tensor([3, 50]), torch.ones(2, 10, dtype=torch.bool), cond)
    out.square().mean().backward()
    assert den.fusion.video_proj.weight.grad.abs().sum() > 0
    assert den.fusion.text_proj.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='video_tokens must have shape'):
        den(x, torch.tensor([3, 50]), None, dict(cond, video_tokens=torch.randn(2, 6, 5)))


def test_concat_token_baseline_ignores_absent_video():
    den = MODELS.build(dict(type='MotionTransformerDenoiser', input_dim=8, width=32, num_layers=1,
                            num_heads=2, ff_dim=64, dropout=0.0,
                            fusion=dict(type='ConcatTokenFusion', text_dim=16, video_dim=24)))
    den.eval()
    with torch.no_grad():  # leave the adaLN-zero start, where no branch reaches the output
        for p in den.parameters():
            p.normal_(0.0, 0.2)
    cond = _cond(b=2)
    cond['video_present'][1] = False
    x, t = torch.randn(2, 10, 8), torch.tensor([3, 50])
    base = den(x, t, None, cond)
    changed = dict(cond, video_tokens=cond['video_tokens'].clone())
    changed['video_tokens'][1] = 50.0
    out = den(x, t, None, changed)
    assert torch.allclose(out[1], base[1], atol=1e-5)
    changed['video_tokens'][0] = 50.0
    assert not torch.allclose(den(x, t, None, changed)[0], base[0])

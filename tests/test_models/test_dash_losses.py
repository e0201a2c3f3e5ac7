"""DASH alignment losses: pure terms against direct computations, masking, gradients, errors."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mdkit.models.losses import (
    CKALoss,
    CosineAlignmentLoss,
    DASHLoss,
    GramMatchingLoss,
    MMDLoss,
    MomentMatchingLoss,
    cosine_alignment,
    gram_matching,
    linear_cka,
    mmd_rbf,
    moment_matching,
    resample_valid,
)
from mdkit.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLASSES = [MomentMatchingLoss, MMDLoss, GramMatchingLoss, CKALoss, CosineAlignmentLoss, DASHLoss]
ALL_TERMS = dict(distribution=dict(moment=1.0, mmd=0.5), structure=dict(gram=1.0, cka=0.7),
                 cosine=0.3)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=gen(seed), dtype=dtype)


def prefix_mask(lengths, total):
    return torch.arange(total)[None] < torch.tensor(lengths)[:, None]


def batch(b=4, t=12, f=6, cm=5, cv=3, seed=0, motion_lengths=None, video_lengths=None):
    motion = randn(b, t, cm, seed=seed).float().requires_grad_(True)
    video = randn(b, f, cv, seed=seed + 1).float()
    motion_mask = prefix_mask(motion_lengths or [t - i for i in range(b)], t)
    video_mask = prefix_mask(video_lengths or [f - i % 2 for i in range(b)], f)
    return motion, video, motion_mask, video_mask


def build(cls, in_dim=5, out_dim=3, seed=0, **kwargs):
    torch.manual_seed(seed)
    if cls is DASHLoss:
        kwargs = {**ALL_TERMS, **kwargs}
    if cls in (GramMatchingLoss, CKALoss):
        kwargs.setdefault('use_projector', True)
    return cls(in_dim=in_dim, out_dim=out_dim, **kwargs)


# ---------------------------------------------------------------------------------------------
# resample_valid
# ---------------------------------------------------------------------------------------------
def test_resample_valid_matches_np_interp_and_hits_endpoints():
    x = randn(4, 9, 3)
    mask = prefix_mask([9, 5, 1, 0], 9)
    mask[0, 3] = False  # a hole: the valid frames are taken in order
    out = resample_valid(x, mask, 7)
    assert out.shape == (4, 7, 3) and out.dtype == x.dtype
    for b in range(3):
        valid = x[b][mask[b]].numpy()
        src = np.linspace(0, len(valid) - 1, 7)
        ref = np.stack([np.interp(src, np.arange(len(valid)), valid[:, c]) for c in range(3)], -1)
        np.testing.assert_allclose(out[b].numpy(), ref, atol=1e-12)
        torch.testing.assert_close(out[b, 0], x[b][mask[b]][0], rtol=0, atol=1e-12)
        torch.testing.assert_close(out[b, -1], x[b][mask[b]][-1], rtol=0, atol=1e-12)
    assert (out[3] == 0).all()  # no valid frame -> zeros
    for b in range(3):  # the same as F.interpolate on the valid part alone
        ref = torch.nn.functional.interpolate(x[b][mask[b]].T[None], size=7, mode='linear',
                                              align_corners=True)[0].T
        torch.testing.assert_close(out[b], ref, rtol=0, atol=1e-12)


def test_resample_valid_ignores_padding_and_is_differentiable():
    x = randn(3, 10, 4).requires_grad_(True)
    mask = prefix_mask([10, 6, 3], 10)
    out = resample_valid(x, mask, 5)
    x2 = x.detach().clone()
    x2[~mask] = float('nan')
    torch.testing.assert_close(resample_valid(x2, mask, 5), out.detach(), rtol=0, atol=0)
    out.pow(2).sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad[~mask] == 0).all()
    assert (x.grad[mask].abs().sum(-1) > 0).sum() >= 3
    assert torch.autograd.gradcheck(lambda z: resample_valid(z, mask, 4), (randn(3, 10, 2)
                                                                          .requires_grad_(True), ))


def test_resample_valid_errors():
    x = randn(2, 5, 3)
    with pytest.raises(ValueError, match=r'num_slots must be an int >= 2, got 1'):
        resample_valid(x, torch.ones(2, 5, dtype=torch.bool), 1)
    with pytest.raises(ValueError, match=r'mask must have shape \(B, T\) = \(2, 5\).*got \(2, 4\)'):
        resample_valid(x, torch.ones(2, 4, dtype=torch.bool), 4)
    with pytest.raises(ValueError, match=r'x must have shape \(B, T, C\), got \(5, 3\)'):
        resample_valid(x[0], torch.ones(5, dtype=torch.bool), 4)


# ---------------------------------------------------------------------------------------------
# Pure terms against direct computations
# ---------------------------------------------------------------------------------------------
def test_moment_matching_matches_numpy_and_its_limits():
    x, y = randn(20, 4, seed=1), randn(13, 4, seed=2) * 2 + 0.5
    xn, yn = x.numpy(), y.numpy()
    mean = ((xn.mean(0) - yn.mean(0))**2).mean()
    cov = ((np.cov(xn, rowvar=False) - np.cov(yn, rowvar=False))**2).sum() / (4 * 16)
    torch.testing.assert_close(moment_matching(x, y).item(), mean + cov)
    torch.testing.assert_close(moment_matching(x, y, mean_weight=0.3, cov_weight=2.0).item(),
                               0.3 * mean + 2.0 * cov)
    # same distribution (the same tokens in another order): zero
    assert moment_matching(x, x[torch.randperm(20, generator=gen())]).item() < 1e-12
    # a mean shift d leaves the covariance: the loss is ||d||^2 / C
    shift = torch.tensor([1.0, -2.0, 0.0, 0.5], dtype=torch.float64)
    torch.testing.assert_close(moment_matching(x, x + shift).item(), 5.25 / 4)


def _mmd_reference(x, y, widths, unbiased):
    def k(a, b):
        return np.mean([np.exp(-((a - b)**2).sum() / h) for h in widths])

    n, m = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if not unbiased or i != j)
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if not unbiased or i != j)
    kxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m))
    den = (n * (n - 1), m * (m - 1)) if unbiased else (n * n, m * m)
    return max(kxx / den[0] + kyy / den[1] - 2 * kxy / (n * m), 0.0)


@pytest.mark.parametrize('unbiased', [False, True])
def test_mmd_matches_loops(unbiased):
    x, y = randn(7, 3, seed=3), randn(5, 3, seed=4) + 0.7
    xn, yn = x.numpy(), y.numpy()
    ref = _mmd_reference(xn, yn, (0.5, 2.0), unbiased)
    torch.testing.assert_close(mmd_rbf(x, y, bandwidths=[0.5, 2.0], unbiased=unbiased).item(), ref)
    # median heuristic: (lower) median of squared distances between distinct pooled tokens
    pooled = np.concatenate([xn, yn])
    d = [((pooled[i] - pooled[j])**2).sum() for i in range(12) for j in range(i + 1, 12)]
    median = np.sort(d)[(len(d) - 1) // 2]
    ref = _mmd_reference(xn, yn, [median * k for k in (0.5, 1, 2, 4)], unbiased)
    torch.testing.assert_close(mmd_rbf(x, y, unbiased=unbiased).item(), ref)
    # the deterministic stride subsample
    sub = mmd_rbf(x, y, bandwidths=[1.0], unbiased=unbiased, max_tokens=4)
    ref = _mmd_reference(xn[[0, 1, 3, 5]], yn[[0, 1, 2, 3]], [1.0], unbiased)
    torch.testing.assert_close(sub.item(), ref)


def test_mmd_near_zero_for_same_distribution_and_larger_when_shifted():
    x, y = randn(400, 4, seed=5), randn(400, 4, seed=6)
    same = mmd_rbf(x, y, unbiased=True).item()
    shifted = mmd_rbf(x, y + 1.0, unbiased=True).item()
    assert 0 <= same < 0.01 and shifted > 0.1 and shifted > 20 * same
    assert mmd_rbf(x, y).item() < 0.02  # the biased estimate too
    assert mmd_rbf(x[:1], x[:1]).item() == 0  # one token each, identical: clamped exact zero


def test_gram_matching_matches_loop():
    x, y = randn(2, 5, 4, seed=7), randn(2, 5, 3, seed=8)
    for center in (False, True):
        total = 0.0
        for b in range(2):
            xs, ys = x[b].numpy(), y[b].numpy()
            if center:
                xs, ys = xs - xs.mean(0), ys - ys.mean(0)
            gx = np.array([[a @ c / np.linalg.norm(a) / np.linalg.norm(c) for c in xs] for a in xs])
            gy = np.array([[a @ c / np.linalg.norm(a) / np.linalg.norm(c) for c in ys] for a in ys])
            total += ((gx - gy)**2).mean()
        torch.testing.assert_close(gram_matching(x, y, center=center).item(), total / 2)
    assert gram_matching(x, 3 * x).item() < 1e-12


def _cka_reference(x, y):
    n = len(x)
    h = np.eye(n) - 1 / n
    k, l_ = h @ x @ x.T @ h, h @ y @ y.T @ h
    return (k * l_).sum() / np.sqrt((k * k).sum() * (l_ * l_).sum())


def test_linear_cka_matches_numpy_in_both_forms():
    # (5 tokens, 6/7 channels): token-Gram form; (40 tokens, 2/3 channels): feature form
    for n, cx, cy in ((5, 6, 7), (40, 2, 3)):
        x, y = randn(3, n, cx, seed=9), randn(3, n, cy, seed=10)
        y = y + 0.5 * x[..., :1]  # some shared structure
        cka = linear_cka(x, y)
        assert cka.shape == (3, )
        ref = [_cka_reference(x[b].numpy(), y[b].numpy()) for b in range(3)]
        np.testing.assert_allclose(cka.numpy(), ref, rtol=1e-10)
        torch.testing.assert_close(linear_cka(x[0], y[0]), cka[0])


def test_linear_cka_identity_invariance_and_independence():
    x = randn(2, 16, 6, seed=11)
    torch.testing.assert_close(linear_cka(x, x), torch.ones(2, dtype=torch.float64))
    q, _ = torch.linalg.qr(randn(6, 6, seed=12))
    assert torch.allclose(q.T @ q, torch.eye(6, dtype=torch.float64), atol=1e-12)
    y = randn(2, 16, 4, seed=13) + x[..., :4]
    base = linear_cka(x, y)
    torch.testing.assert_close(linear_cka(3.7 * x @ q, y), base)
    torch.testing.assert_close(linear_cka(x @ q, 1e-3 * y), base)
    torch.testing.assert_close(linear_cka(1e4 * x, y), base)
    assert (base > 0.2).all() and (base < 1).all()
    # long independent sequences: near 0
    a, b = randn(4000, 4, seed=14), randn(4000, 4, seed=15)
    assert linear_cka(a, b).item() < 0.01


def test_linear_cka_constant_sequence_is_zero_with_finite_gradient():
    x = torch.ones(1, 8, 3, dtype=torch.float64, requires_grad=True)
    cka = linear_cka(x, randn(1, 8, 2))
    cka.sum().backward()
    assert cka.item() == 0 and torch.isfinite(x.grad).all()


def test_cosine_alignment_matches_loop():
    x, y = randn(2, 4, 3, seed=16), randn(2, 4, 3, seed=17)
    ref = np.mean([1 - x[b, s].numpy() @ y[b, s].numpy()
                   / np.linalg.norm(x[b, s].numpy()) / np.linalg.norm(y[b, s].numpy())
                   for b in range(2) for s in range(4)])
    torch.testing.assert_close(cosine_alignment(x, y).item(), ref)
    assert cosine_alignment(x, 2 * x).item() < 1e-12
    with pytest.raises(ValueError, match='same width'):
        cosine_alignment(x, y[..., :2])


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------
def test_registered_with_documented_examples():
    import mdkit.models.losses.dash as module

    for cls in CLASSES:
        assert MODELS.get(cls.__name__) is cls and cls.__module__ == module.__name__
        code = '\n'.join(line.strip()[4:] for line in cls.__doc__.split('Example:')[1].splitlines()
                         if line.strip().startswith(('>>> ', '... ')))
        scope = dict(MODELS=MODELS)
        exec(code, scope)  # noqa: S102 - our own docstring
        assert isinstance(scope['loss'], cls) and scope['loss'].loss_weight == 1.0


@pytest.mark.parametrize('name', ['dash_full', 'dash_distribution', 'dash_structure',
                                  'repa_cosine'])
def test_configs_build_with_generator_dims(name):
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'losses', f'{name}.py'))
    assert 'in_dim' not in cfg.align_loss and 'out_dim' not in cfg.align_loss
    loss = MODELS.build(cfg.align_loss, default_args=dict(in_dim=5, out_dim=3))
    motion, video, motion_mask, video_mask = batch()
    value = loss(motion, video, motion_mask, video_mask=video_mask)
    assert torch.isfinite(value) and value.item() > 0
    assert set(loss.last_terms) == set(loss.terms)


@pytest.mark.parametrize('cls', CLASSES)
def test_absent_samples_and_padding_do_not_count(cls):
    loss = build(cls)
    motion, video, motion_mask, video_mask = batch(b=4)
    present = torch.tensor([True, False, True, True])
    value = loss(motion, video, motion_mask, present, video_mask)
    value.backward()
    # the absent sample and every padded frame: other content (even NaN), zero gradient
    assert (motion.grad[1] == 0).all() and (motion.grad[~motion_mask] == 0).all()
    assert motion.grad[0].abs().sum() > 0
    motion2, video2 = motion.detach().clone(), video.clone()
    motion2[1], video2[1] = 100.0, float('nan')
    motion2[~motion_mask] = float('nan')
    video2[~video_mask] = -50.0
    torch.testing.assert_close(loss(motion2, video2, motion_mask, present, video_mask), value)
    # the same as a batch of the present samples only
    keep = present.nonzero()[:, 0]
    torch.testing.assert_close(
        loss(motion[keep], video[keep], motion_mask[keep], None, video_mask[keep]), value)


@pytest.mark.parametrize('cls', CLASSES)
def test_no_video_in_batch_gives_graph_connected_zero(cls):
    loss = build(cls)
    motion, video, motion_mask, video_mask = batch(b=3)
    with torch.no_grad():
        motion[~motion_mask] = float('nan')  # padding content must not leak into the zero
    value = loss(motion, video, motion_mask, torch.zeros(3, dtype=torch.bool), video_mask)
    value.backward()
    assert value.item() == 0 and torch.isfinite(motion.grad).all()
    assert all(p.grad is not None and (p.grad == 0).all() for p in loss.parameters())
    assert set(loss.last_terms) == set(loss.terms)
    assert all(v.item() == 0 for v in loss.last_terms.values())
    # a sample whose video slots are all masked counts as absent
    video_mask = torch.zeros_like(video_mask)
    assert loss(motion, video, motion_mask, None, video_mask).item() == 0


@pytest.mark.parametrize('cls', CLASSES)
def test_gradient_reaches_projector_and_motion(cls):
    loss = build(cls)
    motion, video, motion_mask, video_mask = batch()
    value = loss(motion, video, motion_mask, video_mask=video_mask)
    value.backward()
    assert torch.isfinite(value) and value.item() > 0
    assert motion.grad[motion_mask].abs().sum() > 0 and torch.isfinite(motion.grad).all()
    assert loss.projector is not None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in loss.projector.parameters())


def test_dash_is_the_weighted_sum_of_the_single_terms():
    dash = build(DASHLoss, loss_weight=2.0, structure=dict(gram=1.0, cka=dict(weight=0.7,
                                                                              per_batch=True)))
    motion, video, motion_mask, video_mask = batch(seed=3)
    present = torch.tensor([True, True, False, True])
    total = dash(motion, video, motion_mask, present, video_mask)
    singles = dict(moment=(MomentMatchingLoss, {}), mmd=(MMDLoss, {}), gram=(GramMatchingLoss, {}),
                   cka=(CKALoss, dict(per_batch=True)), cosine=(CosineAlignmentLoss, {}))
    expected = 0
    for name, (cls, kwargs) in singles.items():
        single = build(cls, **kwargs)
        single.projector.load_state_dict(dash.projector.state_dict())
        value = single(motion, video, motion_mask, present, video_mask)
        torch.testing.assert_close(dash.last_terms[name], value.detach())
        assert not dash.last_terms[name].requires_grad
        expected = expected + dash.terms[name][0] * value
    torch.testing.assert_close(total, 2.0 * expected)
    assert set(dash.last_terms) == set(singles)


def test_dash_zero_weight_skips_term_and_raw_structure_needs_no_projector():
    dash = DASHLoss(5, 3, distribution=dict(moment=1.0, mmd=0.0), structure=dict(gram=0.0, cka=1.0))
    assert set(dash.terms) == {'moment', 'cka'}
    raw = DASHLoss(5, 3, distribution=dict(moment=0.0), structure_input='raw')
    assert raw.projector is None and set(raw.terms) == {'gram', 'cka'}
    motion, video, motion_mask, video_mask = batch()
    value = raw(motion, video, motion_mask, video_mask=video_mask)
    ref = GramMatchingLoss(5, 3)(motion, video, motion_mask, video_mask=video_mask) \
        + CKALoss(5, 3)(motion, video, motion_mask, video_mask=video_mask)
    torch.testing.assert_close(value, ref)
    same = DASHLoss(4, 4, use_projector=False, cosine=1.0)
    assert same.projector is None
    m = torch.randn(2, 8, 4)
    assert same(m, m, torch.ones(2, 8, dtype=torch.bool)).abs().item() < 1e-5


def test_cka_loss_is_rotation_and_scale_invariant_on_raw_features():
    loss = CKALoss(5, 7)
    motion, _, motion_mask, _ = batch(seed=4)
    video = torch.randn(4, 9, 7, generator=gen(5))
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=gen(6)))
    base = loss(motion, video, motion_mask)
    torch.testing.assert_close(loss(2.5 * motion @ q, video, motion_mask), base)
    torch.testing.assert_close(loss(motion, 0.1 * video, motion_mask), base)
    # video = motion through an orthonormal embedding 5 -> 7, scaled, on the same clock
    embed, _ = torch.linalg.qr(torch.randn(7, 5, generator=gen(7)))
    same = loss(motion, 3.0 * motion.detach() @ embed.T, motion_mask, video_mask=motion_mask)
    assert same.item() < 1e-5 and base.item() > 0.1


def test_adam_on_projector_reduces_dash_on_linear_pair():
    motion, _, motion_mask, _ = batch(b=8, t=20, cm=6, seed=8)
    motion = motion.detach()
    w = torch.randn(6, 4, generator=gen(9))
    video = 0.5 * motion @ w + 1.0  # same clock: video slot t == motion frame t
    loss = build(DASHLoss, in_dim=6, out_dim=4, distribution=dict(moment=1.0, mmd=1.0))
    optim = torch.optim.Adam(loss.parameters(), lr=1e-2)
    values, terms = [], []
    for _ in range(60):
        optim.zero_grad()
        value = loss(motion, video, motion_mask, video_mask=motion_mask)
        value.backward()
        optim.step()
        values.append(value.item())
        terms.append(loss.last_terms)
    assert values[-1] < 0.5 * values[0]
    for name in ('moment', 'mmd', 'cka', 'cosine'):
        assert terms[-1][name] < 0.8 * terms[0][name], name


def test_input_errors_name_argument_and_shapes():
    loss = build(DASHLoss)
    motion, video, motion_mask, video_mask = batch(b=2)
    with pytest.raises(ValueError, match=r'motion_feat must have shape \(B, T, C_m=5\), '
                                         r'got \(12, 5\)'):
        loss(motion[0], video, motion_mask)
    with pytest.raises(ValueError, match=r'video_feat \(1, 6, 3\) has batch size 1, expected 2'):
        loss(motion, video[:1], motion_mask)
    with pytest.raises(ValueError, match=r'motion_feat \(2, 12, 4\) has width 4, expected '
                                         r'in_dim=5'):
        loss(motion[..., :4], video, motion_mask)
    with pytest.raises(ValueError, match=r'video_feat \(2, 6, 2\) has width 2, expected '
                                         r'out_dim=3'):
        loss(motion, video[..., :2], motion_mask)
    with pytest.raises(ValueError, match=r'motion_mask must have shape \(B, T\) = \(2, 12\)'):
        loss(motion, video, motion_mask[:, :5])
    with pytest.raises(ValueError, match=r'video_mask must have shape \(B, T\) = \(2, 6\)'):
        loss(motion, video, motion_mask, video_mask=motion_mask)
    with pytest.raises(ValueError, match=r'video_present must have shape \(B,\) = \(2,\), '
                                         r'got \(3,\)'):
        loss(motion, video, motion_mask, torch.ones(3, dtype=torch.bool))
    bad = motion.detach().clone()
    bad[0, 0, 0] = float('nan')
    with pytest.raises(ValueError, match=r'motion_feat \(2, 12, 5\) holds NaN'):
        loss(bad, video, motion_mask)
    bad = video.clone()
    bad[1, 0, 0] = float('inf')
    with pytest.raises(ValueError, match=r'video_feat \(2, 6, 3\) holds NaN or inf'):
        loss(motion, bad, motion_mask)
    # ... but not for an absent sample
    loss(motion, bad, motion_mask, torch.tensor([True, False]))


def test_constructor_errors():
    with pytest.raises(ValueError, match=r'in_dim \(5\) must equal out_dim \(3\)'):
        MomentMatchingLoss(5, 3, use_projector=False)
    GramMatchingLoss(5, 3, use_projector=False)  # structure terms accept different widths
    with pytest.raises(ValueError, match=r'in_dim must be an int >= 1, got None'):
        DASHLoss(None, 3)
    with pytest.raises(ValueError, match=r"Unknown structure term 'gramm'"):
        DASHLoss(5, 3, structure=dict(gramm=1.0))
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['centre'\] for DASH term 'gram'"):
        DASHLoss(5, 3, structure=dict(gram=dict(weight=1.0, centre=True)))
    with pytest.raises(ValueError, match='at least one term'):
        DASHLoss(5, 3, distribution=dict(moment=0.0), structure=dict(gram=0.0, cka=0.0))
    with pytest.raises(ValueError, match=r'distribution.moment must be a float >= 0, got -1'):
        DASHLoss(5, 3, distribution=dict(moment=-1))
    with pytest.raises(ValueError, match='bandwidths must be None or a non-empty list'):
        MMDLoss(5, 3, bandwidths=[0.0])
    with pytest.raises(ValueError, match='num_slots must be an int >= 2'):
        CKALoss(5, 3, num_slots=1)

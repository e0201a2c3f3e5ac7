"""Fusion blocks: the embed/layer_forward interface, absence handling, helpful errors."""
import pytest
import torch

import mdkit.models.fusion  # noqa: F401  (registers the blocks)
from mdkit.models.fusion import (
    AdditiveFusion,
    BaseFusion,
    CrossAttentionFusion,
    MultiHeadAttention,
    PrefixTokenFusion,
    gather_modality,
    masked_mean,
)
from mdkit.registry import MODELS
from mdkit.utils import UnexpectedConfigKeyError, UnregisteredTypeError, build_from_cfg_checked

W, N, H, CT = 32, 2, 2, 16
DEFAULTS = dict(width=W, num_layers=N, num_heads=H, dropout=0.0)
FUSIONS = ['PrefixTokenFusion', 'CrossAttentionFusion', 'AdditiveFusion']


def _build(name, **kwargs):
    torch.manual_seed(0)
    return build_from_cfg_checked(dict(type=name, text_dim=CT, **kwargs), MODELS,
                                  expected_type=BaseFusion, default_args=DEFAULTS).eval()


def _cond(b=3, length=5, present=None, mask=None):
    g = torch.Generator().manual_seed(1)
    cond = dict(text_tokens=torch.randn(b, length, CT, generator=g),
                text_mask=torch.ones(b, length, dtype=torch.bool) if mask is None else mask,
                text_pooled=torch.randn(b, CT, generator=g))
    if present is not None:
        cond['text_present'] = torch.tensor(present)
    return cond


def _run(fusion, cond, t_emb, h):
    """Every layer of a fusion block applied in turn to h (B, T, W)."""
    ctx = fusion.embed(cond, t_emb)
    mask = torch.ones(h.shape[:2], dtype=torch.bool)
    for i in range(N):
        h = fusion.layer_forward(i, h, ctx, t_emb, mask)
    return ctx, h


def _effect(fusion, cond, t_emb, h):
    """What the block hands the denoiser: [prefix; fused h], (B, P + T, W)."""
    ctx, out = _run(fusion, cond, t_emb, h)
    return out if ctx['prefix'] is None else torch.cat([ctx['prefix'], out], 1)


@pytest.mark.parametrize('name', FUSIONS)
def test_build_and_interface_shapes(name):
    fusion = _build(name)
    assert type(fusion).__name__ == name and name.endswith('Fusion')
    assert (fusion.width, fusion.num_layers, fusion.num_heads) == (W, N, H)
    t_emb, h = torch.randn(3, W), torch.randn(3, 7, W)
    ctx, out = _run(fusion, _cond(), t_emb, h)
    assert set(ctx) >= {'prefix', 'prefix_mask', 'context', 'context_mask'}
    assert out.shape == h.shape and torch.isfinite(out).all()
    for key, mkey in (('prefix', 'prefix_mask'), ('context', 'context_mask')):
        if ctx[key] is not None:
            assert ctx[key].shape[0] == 3 and ctx[key].shape[-1] == W
            assert ctx[mkey].shape == ctx[key].shape[:2] and ctx[mkey].dtype == torch.bool
    if name == 'PrefixTokenFusion':
        assert ctx['prefix'].shape == (3, 1, W) and ctx['context'] is None
        assert torch.equal(out, h)  # identity per layer
    else:
        assert ctx['prefix'] is None and not torch.allclose(out, h)


@pytest.mark.parametrize('name', FUSIONS)
def test_absent_text_is_finite_ignored_and_differs(name):
    fusion = _build(name)
    t_emb, h = torch.randn(3, W), torch.randn(3, 7, W)
    present = _effect(fusion, _cond(present=[True, True, True]), t_emb, h)
    flagged = _effect(fusion, _cond(present=[True, False, True]), t_emb, h)
    masked = torch.ones(3, 5, dtype=torch.bool)
    masked[1] = False
    fully_masked = _effect(fusion, _cond(mask=masked), t_emb, h)
    junk = _cond(present=[True, False, True])
    junk['text_tokens'][1] = float('nan')
    junk['text_pooled'][1] = float('nan')
    with_junk = _effect(fusion, junk, t_emb, h)
    no_text = _effect(fusion, {}, t_emb, h)
    ctx = fusion.embed({}, t_emb)
    for out in (flagged, fully_masked, with_junk, no_text):
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out[1], no_text[1])  # absent == no text at all
    assert not ctx['text_present'].any()
    torch.testing.assert_close(flagged[[0, 2]], present[[0, 2]])
    assert (flagged[1] - present[1]).abs().max() > 1e-4


def test_cross_attention_masks_tokens_and_keeps_a_null_key():
    fusion = _build('CrossAttentionFusion')
    mask = torch.tensor([[True, True, False, False, False]] * 3)
    cond = _cond(mask=mask)
    t_emb, h = torch.randn(3, W), torch.randn(3, 7, W)
    ctx, out = _run(fusion, cond, t_emb, h)
    assert ctx['context'].shape == (3, 6, W)
    assert ctx['context_mask'][:, 0].all()  # the null token is always a valid key
    cond['text_tokens'][:, 2:] = 1e3  # padded text tokens do not matter
    torch.testing.assert_close(_run(fusion, cond, t_emb, h)[1], out)
    cond['text_tokens'][:, 0] += 1.0  # valid ones do
    assert not torch.allclose(_run(fusion, cond, t_emb, h)[1], out)


def test_prefix_token_options():
    fusion = _build('PrefixTokenFusion')
    t_emb = torch.randn(2, W)
    tokens, mask = torch.randn(2, 4, CT), torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]]).bool()
    from_tokens = fusion.embed(dict(text_tokens=tokens, text_mask=mask), t_emb)['prefix']
    from_pooled = fusion.embed(dict(text_pooled=masked_mean(tokens, mask)), t_emb)['prefix']
    torch.testing.assert_close(from_tokens, from_pooled)  # pooled falls back to the masked mean
    combined = _build('PrefixTokenFusion', combine_timestep=True)
    cond = dict(text_pooled=torch.randn(2, CT))
    torch.testing.assert_close(combined.embed(cond, t_emb)['prefix'][:, 0],
                               fusion.embed(cond, t_emb)['prefix'][:, 0] + t_emb)


def test_additive_layers():
    t_emb, h = torch.randn(2, W), torch.randn(2, 5, W)
    mask = torch.ones(2, 5, dtype=torch.bool)
    cond = dict(text_pooled=torch.randn(2, CT))
    once = _build('AdditiveFusion')
    ctx = once.embed(cond, t_emb)
    torch.testing.assert_close(once.layer_forward(0, h, ctx, t_emb, mask), h + ctx['context'])
    assert torch.equal(once.layer_forward(1, h, ctx, t_emb, mask), h)
    every = _build('AdditiveFusion', every_layer=True)
    torch.testing.assert_close(every.layer_forward(1, h, ctx, t_emb, mask), h + ctx['context'])


@pytest.mark.parametrize('name', FUSIONS)
def test_wrong_text_width_names_expected_and_got(name):
    fusion = _build(name)
    with pytest.raises(ValueError, match=f'text_dim={CT}'):
        fusion.embed(dict(text_tokens=torch.randn(2, 4, CT + 1),
                          text_pooled=torch.randn(2, CT + 1)), torch.randn(2, W))


def test_gather_modality_checks_and_folds_absence():
    b = 2
    with pytest.raises(ValueError, match='text_mask'):
        gather_modality(dict(text_tokens=torch.randn(b, 4, CT),
                             text_mask=torch.ones(b, 3, dtype=torch.bool)), 'text', b, CT)
    with pytest.raises(ValueError, match='text_present'):
        gather_modality(dict(text_pooled=torch.randn(b, CT),
                             text_present=torch.ones(b + 1, dtype=torch.bool)), 'text', b, CT)
    with pytest.raises(ValueError, match=r'\(B=2'):
        gather_modality(dict(text_tokens=torch.randn(b + 1, 4, CT)), 'text', b, CT)
    mask = torch.tensor([[True, False, False], [False, False, False]])
    out = gather_modality(dict(video_tokens=torch.randn(b, 3, 8), video_mask=mask), 'video', b, 8)
    assert out.present.tolist() == [True, False]
    assert torch.equal(out.mask, mask)
    assert (out.tokens[0, 1:] == 0).all() and (out.pooled[1] == 0).all()
    none = gather_modality(None, 'video', b, 8)
    assert none.tokens is None and none.pooled is None and not none.present.any()


def test_base_fusion_contract_and_validation():
    base = BaseFusion(W, N, H)
    h = torch.randn(1, 3, W)
    assert base.layer_forward(0, h, {}, torch.randn(1, W), torch.ones(1, 3).bool()) is h
    with pytest.raises(NotImplementedError):
        base.embed({}, torch.randn(1, W))
    with pytest.raises(ValueError, match='num_layers'):
        BaseFusion(W, 0)
    with pytest.raises(ValueError, match='dropout'):
        BaseFusion(W, N, dropout=1.5)
    with pytest.raises(ValueError, match=r't_emb must have shape \(B, 32\)'):
        _build('CrossAttentionFusion').embed({}, torch.randn(2, W + 1))
    with pytest.raises(ValueError, match='divisible'):
        MultiHeadAttention(30, 4)


def test_registry_errors_are_helpful():
    with pytest.raises(UnregisteredTypeError, match='CrossAttentionFusion') as err:
        _build('CrossAtentionFusion')
    assert isinstance(err.value, KeyError)
    with pytest.raises(UnexpectedConfigKeyError, match='text_dim'):
        _build('CrossAttentionFusion', txt_dim=8)


@pytest.mark.parametrize('cls', [PrefixTokenFusion, CrossAttentionFusion, AdditiveFusion])
def test_state_dict_round_trip(cls):
    torch.manual_seed(0)
    a = cls(text_dim=CT, **DEFAULTS).eval()
    torch.manual_seed(1)
    b = cls(text_dim=CT, **DEFAULTS).eval()
    t_emb, h, cond = torch.randn(3, W), torch.randn(3, 7, W), _cond(present=[True, False, True])
    assert not torch.allclose(_effect(a, cond, t_emb, h), _effect(b, cond, t_emb, h))
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(_effect(a, cond, t_emb, h), _effect(b, cond, t_emb, h))

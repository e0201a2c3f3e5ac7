"""MotionTransformerDenoiser: shapes, padding invariance, absent text, training, errors."""
import pytest
import torch
from torch import nn

import mdkit.models.denoisers  # noqa: F401  (registers denoisers and fusion blocks)
from mdkit.models.denoisers import (
    FrameWindowProjection,
    MotionTransformerDenoiser,
    sinusoidal_positions,
)
from mdkit.models.fusion import BaseFusion, MultiHeadAttention, fusion_outputs, gather_modality
from mdkit.registry import MODELS
from mdkit.utils import UnexpectedConfigKeyError, UnregisteredTypeError, build_from_cfg_checked

D, W, CT = 12, 32, 16
FUSIONS = ['PrefixTokenFusion', 'CrossAttentionFusion', 'AdditiveFusion']
TIMESTEPS = ['adaln', 'token', 'add']


def _net(fusion='CrossAttentionFusion', seed=0, **kwargs):
    torch.manual_seed(seed)
    fusion_cfg = fusion if isinstance(fusion, (dict, nn.Module)) else dict(type=fusion, text_dim=CT)
    cfg = dict(type='MotionTransformerDenoiser', input_dim=D, width=W, num_layers=2, num_heads=2,
               ff_dim=64, fusion=fusion_cfg)
    cfg.update(kwargs)
    return build_from_cfg_checked(cfg, MODELS, expected_type=MotionTransformerDenoiser)


def _perturb(net, seed=123):
    """Give zero-initialised (adaLN) weights random values so every path is active."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return net


def _cond(b, length=5, present=None, seed=1):
    g = torch.Generator().manual_seed(seed)
    cond = dict(text_tokens=torch.randn(b, length, CT, generator=g),
                text_mask=torch.ones(b, length, dtype=torch.bool),
                text_pooled=torch.randn(b, CT, generator=g))
    cond['text_present'] = torch.ones(b, dtype=torch.bool) if present is None else \
        torch.tensor(present)
    return cond


def _lengths_mask(lengths, t_max):
    return torch.arange(t_max)[None] < torch.tensor(lengths)[:, None]


@pytest.mark.parametrize('timestep_conditioning', TIMESTEPS)
@pytest.mark.parametrize('fusion', FUSIONS)
def test_shapes_every_fusion_and_timestep_conditioning(fusion, timestep_conditioning):
    net = _net(fusion, timestep_conditioning=timestep_conditioning)
    assert net.fusion.width == W and net.fusion.num_layers == 2
    mask = _lengths_mask([9, 6, 1], 9)
    out, hidden = net(torch.randn(3, 9, D), torch.tensor([0, 10, 999]), mask, _cond(3),
                      return_hidden=True)
    assert out.shape == (3, 9, D) and torch.isfinite(out).all()
    assert (out[~mask] == 0).all()  # padded frames are zero
    assert len(hidden) == 2 and all(h.shape == (3, 9, W) for h in hidden)  # no prefix tokens


@pytest.mark.parametrize('timestep_conditioning', TIMESTEPS)
@pytest.mark.parametrize('fusion', FUSIONS)
def test_valid_frames_do_not_depend_on_padding(fusion, timestep_conditioning):
    net = _perturb(_net(fusion, timestep_conditioning=timestep_conditioning)).eval()
    torch.manual_seed(5)
    x = torch.randn(1, 11, D)
    t = torch.tensor([37])
    alone = net(x, t, torch.ones(1, 11, dtype=torch.bool), _cond(1))
    cond2 = {k: torch.cat([v, v], 0) for k, v in _cond(1).items()}
    for t_max, junk in ((17, 1e4), (40, float('nan'))):
        batch = torch.full((2, t_max, D), junk)
        batch[0, :11] = x[0]
        batch[1] = torch.randn(t_max, D)
        out = net(batch, torch.cat([t, torch.tensor([900])]), _lengths_mask([11, t_max], t_max),
                  cond2)
        torch.testing.assert_close(out[0, :11], alone[0], atol=1e-5, rtol=0)
        assert (out[0, 11:] == 0).all()


@pytest.mark.parametrize('fusion', FUSIONS)
def test_absent_text_is_finite_and_differs(fusion):
    net = _perturb(_net(fusion, timestep_conditioning='token')).eval()
    x, t = torch.randn(3, 8, D), torch.tensor([5, 5, 5])
    with torch.inference_mode():
        with_text = net(x, t, None, _cond(3))
        dropped = net(x, t, None, _cond(3, present=[True, False, True]))
        masked = _cond(3)
        masked['text_mask'][1] = False
        fully_masked = net(x, t, None, masked)
        no_cond = net(x, t, None, None)
    for out in (dropped, fully_masked, no_cond):
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out[1], no_cond[1])
    torch.testing.assert_close(dropped[[0, 2]], with_text[[0, 2]])
    assert (dropped[1] - with_text[1]).abs().max() > 1e-4


def test_prefix_tokens_are_excluded_from_the_output():
    net = _perturb(_net('PrefixTokenFusion', timestep_conditioning='token')).eval()
    x = torch.randn(2, 6, D)
    out = net(x, torch.tensor([3, 4]), None, _cond(2))
    assert out.shape == x.shape
    # The output is the projection of the motion tokens: a last-layer motion token
    # pushed through final_norm/output_proj reproduces it exactly.
    _, hidden = net(x, torch.tensor([3, 4]), None, _cond(2), return_hidden=True)
    torch.testing.assert_close(net.output_proj(net.final_norm(hidden[-1])), out)


def test_adaln_starts_as_identity_trunk():
    net = _net('PrefixTokenFusion', timestep_conditioning='adaln').eval()
    x = torch.randn(1, 10, D)
    base = net(x, torch.tensor([3]), None, _cond(1))
    x2 = x.clone()
    x2[0, 4] += 1.0
    changed = (net(x2, torch.tensor([3]), None, _cond(1)) - base).abs().amax(-1)[0]
    assert changed[4] > 0 and (changed[torch.arange(10) != 4] == 0).all()  # no mixing yet


@pytest.mark.parametrize('fusion,timestep_conditioning',
                         [('CrossAttentionFusion', 'adaln'), ('PrefixTokenFusion', 'token'),
                          ('AdditiveFusion', 'add')])
def test_training_reduces_loss_and_reaches_every_parameter(fusion, timestep_conditioning):
    net = _net(fusion, timestep_conditioning=timestep_conditioning, dropout=0.0).train()
    torch.manual_seed(3)
    x = torch.randn(4, 10, D)
    mask = _lengths_mask([10, 7, 10, 4], 10)
    t = torch.tensor([1, 200, 500, 900])
    cond = _cond(4, present=[True, False, True, True])
    target = torch.randn(4, 10, D) * mask[..., None]
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = ((net(x, t, mask, cond) - target) ** 2)[mask].mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    dead = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f'parameters without gradient: {dead}'


def test_arbitrary_length_with_sinusoidal_positions():
    net = _net().eval()
    out = net(torch.randn(1, 300, D), torch.tensor([7]), None, _cond(1))
    assert out.shape == (1, 300, D) and torch.isfinite(out).all()
    pe = sinusoidal_positions(1000, W)
    assert pe.shape == (1000, W) and torch.unique(pe, dim=0).shape[0] == 1000


def test_learned_positions_respect_max_length():
    net = _net(pos_encoding='learned', max_length=64).eval()
    assert net(torch.randn(1, 64, D), torch.tensor([7]), None, _cond(1)).shape == (1, 64, D)
    with pytest.raises(ValueError, match='max_length=64'):
        net(torch.randn(1, 80, D), torch.tensor([7]), None, _cond(1))
    with pytest.raises(ValueError, match='max_length'):
        _net(pos_encoding='learned')


def test_state_dict_round_trip():
    a = _perturb(_net(pos_encoding='learned', max_length=16, seed=0)).eval()
    b = _net(pos_encoding='learned', max_length=16, seed=1).eval()
    x, t, cond = torch.randn(2, 9, D), torch.tensor([3, 300]), _cond(2, present=[True, False])
    assert not torch.allclose(a(x, t, None, cond), b(x, t, None, cond))
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a(x, t, None, cond), b(x, t, None, cond), atol=0, rtol=0)


def test_fusion_type_typo_gives_helpful_key_error():
    with pytest.raises(KeyError, match='CrossAttentionFusion') as err:
        _net(dict(type='CrossAtentionFusion', text_dim=CT))
    assert isinstance(err.value, UnregisteredTypeError)
    assert 'list_modules' in str(err.value)
    with pytest.raises(UnexpectedConfigKeyError, match='text_dim'):
        _net(dict(type='CrossAttentionFusion', text_dimm=CT))


def test_bad_inputs_raise_clear_errors():
    net = _net().eval()
    x, t = torch.randn(2, 5, D), torch.tensor([1, 2])
    with pytest.raises(ValueError, match=f'D={D + 1}.*input_dim={D}'):
        net(torch.randn(2, 5, D + 1), t, None, _cond(2))
    with pytest.raises(ValueError, match='mask must have shape'):
        net(x, t, torch.ones(2, 6, dtype=torch.bool), _cond(2))
    bad = x.clone()
    bad[1, 2, 3] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        net(bad, t, None, _cond(2))
    with pytest.raises(ValueError, match='timesteps'):
        net(x, torch.tensor([1, 2, 3]), None, _cond(2))
    with pytest.raises(ValueError, match='text_dim=16'):
        net(x, t, None, dict(text_tokens=torch.randn(2, 3, CT + 2)))
    # a scalar timestep broadcasts; float timesteps work
    torch.testing.assert_close(net(x, 4, None, _cond(2)), net(x, torch.tensor([4.0, 4.0]), None,
                                                               _cond(2)))


def test_frame_window_projections():
    """proj_kernel_size=5: temporal-conv projections, still padding-independent at valid frames."""
    net = _perturb(_net(proj_kernel_size=5)).eval()
    assert isinstance(net.input_proj, FrameWindowProjection)
    assert net.input_proj.conv.kernel_size == (5, ) and net.output_proj.conv.kernel_size == (5, )
    torch.manual_seed(5)
    x = torch.randn(1, 11, D)
    t = torch.tensor([37])
    alone = net(x, t, torch.ones(1, 11, dtype=torch.bool), _cond(1))
    batch = torch.full((1, 20, D), float('nan'))
    batch[0, :11] = x[0]
    out = net(batch, t, _lengths_mask([11], 20), _cond(1))
    torch.testing.assert_close(out[0, :11], alone[0], atol=1e-5, rtol=0)
    assert (out[0, 11:] == 0).all()
    # with the layers' adaLN gates still at zero (as built), only the two 5-frame windows mix
    # frames: a change at frame 5 reaches frames 1..9 and no others
    net0 = _net(proj_kernel_size=5).eval()
    x2 = x.clone()
    x2[0, 5] += 1.0
    diff = (net0(x2, t, None, _cond(1)) - net0(x, t, None, _cond(1))).abs().sum(-1)[0]
    assert (diff[1:10] > 0).all() and (diff[:1] == 0).all() and (diff[10:] == 0).all()
    assert _net().input_proj.__class__ is nn.Linear  # the default stays per-frame


def test_bad_configs():
    with pytest.raises(ValueError, match='proj_kernel_size must be odd'):
        _net(proj_kernel_size=4)
    with pytest.raises(ValueError, match='proj_kernel_size must be a positive int'):
        _net(proj_kernel_size=0)
    with pytest.raises(ValueError, match='timestep_conditioning'):
        _net(timestep_conditioning='film')
    with pytest.raises(ValueError, match='prediction_type'):
        _net(prediction_type='x0')
    with pytest.raises(ValueError, match='divisible'):
        _net(width=30, num_heads=4)
    with pytest.raises(ValueError, match='width=64'):
        _net(dict(type='CrossAttentionFusion', text_dim=CT, width=64))
    assert _net(prediction_type='epsilon').prediction_type == 'epsilon'


class _VideoTextGateFusion(BaseFusion):
    """A DUET-shaped stand-in: attends to text and video with timestep/presence gates."""

    def __init__(self, width, num_layers, num_heads=4, dropout=0.0, attn_dropout=None,
                 text_dim=CT, video_dim=8):
        super().__init__(width, num_layers, num_heads, dropout, attn_dropout)
        self.text_dim, self.video_dim = text_dim, video_dim
        self.text_proj = nn.Linear(text_dim, width)
        self.video_proj = nn.Linear(video_dim, width)
        self.null = nn.Parameter(torch.zeros(1, 1, width))
        self.attn = nn.ModuleList(MultiHeadAttention(width, num_heads, context_dim=width)
                                  for _ in range(num_layers))
        self.gate = nn.Linear(width + 2, 2 * num_layers)

    def embed(self, cond, t_emb):
        b = self._batch(t_emb)
        text = gather_modality(cond, 'text', b, self.text_dim, t_emb.device)
        video = gather_modality(cond, 'video', b, self.video_dim, t_emb.device)
        ones = torch.ones(b, 1, dtype=torch.bool)
        context = torch.cat([self.null.expand(b, -1, -1), self.text_proj(text.tokens),
                             self.video_proj(video.tokens)], 1)
        context_mask = torch.cat([ones, text.mask, video.mask], 1)
        flags = torch.stack([text.present, video.present], 1).float()
        gates = torch.sigmoid(self.gate(torch.cat([t_emb, flags], 1)))
        return fusion_outputs(context=context, context_mask=context_mask, gates=gates)

    def layer_forward(self, i, h, ctx, t_emb, h_mask):
        gate = ctx['gates'][:, i, None, None]
        return h + gate * self.attn[i](h, ctx['context'], ctx['context_mask'])


def test_a_video_fusion_block_plugs_in_without_changing_the_denoiser():
    fusion = _VideoTextGateFusion(W, 2, 2)
    net = _net(fusion).eval()
    assert net.fusion is fusion
    cond = _cond(2)
    cond.update(video_tokens=torch.randn(2, 4, 8), video_mask=torch.ones(2, 4, dtype=torch.bool),
                video_present=torch.tensor([True, False]))
    x, t = torch.randn(2, 6, D), torch.tensor([5, 5])
    out = net(x, t, None, cond)
    assert out.shape == (2, 6, D) and torch.isfinite(out).all()
    cond['video_tokens'][1] = 1e3  # absent video is ignored
    torch.testing.assert_close(net(x, t, None, cond), out)


def test_attention_dropout_is_separate_from_dropout():
    """``attn_dropout`` reaches every attention (own and the fusion block's); None inherits."""
    net = _net(dropout=0.1, attn_dropout=0.0)
    assert all(layer.attn.dropout == 0.0 for layer in net.layers)
    assert net.fusion.attn_dropout == 0.0 and net.fusion.dropout == 0.1
    assert all(attn.dropout == 0.0 for attn in net.fusion.attns)
    assert net.layers[0].drop1.p == 0.1  # residual dropout untouched
    inherited = _net(dropout=0.2)
    assert inherited.layers[0].attn.dropout == 0.2 and inherited.fusion.attn_dropout == 0.2
    with pytest.raises(ValueError, match='attn_dropout must be in'):
        _net(attn_dropout=1.0)
    # only attention-weight dropout on: training forwards are random, eval is not
    net = _perturb(_net(dropout=0.0, attn_dropout=0.5))
    x, t, cond = torch.randn(2, 8, D), torch.tensor([5, 50]), _cond(2)
    net.train()
    assert not torch.allclose(net(x, t, None, cond), net(x, t, None, cond))
    net.eval()
    assert torch.equal(net(x, t, None, cond), net(x, t, None, cond))

"""Transformer motion denoiser with a pluggable fusion block.

Shapes: B batch, T motion frames, D motion feature width, W model width,
P prefix tokens.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mdkit.models.fusion import BaseFusion, MultiHeadAttention
from mdkit.registry import MODELS
from mdkit.utils.registry_utils import build_from_cfg_checked
from mdkit.utils.typing_utils import ConfigType

from .embeddings import sinusoidal_positions, timestep_embedding

__all__ = ['MotionTransformerDenoiser', 'DenoiserLayer', 'FrameWindowProjection']

_ACTIVATIONS = dict(gelu=nn.GELU, relu=nn.ReLU, silu=nn.SiLU)
POS_ENCODINGS = ('sinusoidal', 'learned')
TIMESTEP_CONDITIONINGS = ('adaln', 'token', 'add')
PREDICTION_TYPES = ('sample', 'epsilon', 'v_prediction')


def _choice(name: str, value: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f'MotionTransformerDenoiser: {name} must be one of {options}, '
                         f'got {value!r}')
    return value


def _modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale) + shift


class DenoiserLayer(nn.Module):
    """One pre-norm layer: self-attention, (fusion, applied by the caller), FFN.

    With ``adaln=True`` the layer norms have no affine parameters and the
    timestep embedding gives shift, scale and gate for both sub-blocks
    (DiT adaLN-Zero): the projection is zero-initialised, so every gate starts
    at 0 and the layer starts as the identity.

    Args:
        width (int): Width W.
        num_heads (int): Attention heads.
        ff_dim (int): Hidden width of the feed-forward network.
        dropout (float): Dropout probability on residual branches and in the FFN.
        activation (str): ``'gelu'``, ``'relu'`` or ``'silu'``.
        adaln (bool): Timestep modulation of the sub-blocks.
        attn_dropout (float): Dropout on the self-attention weights.
    """

    def __init__(self, width: int, num_heads: int, ff_dim: int, dropout: float,
                 activation: str, adaln: bool, attn_dropout: float) -> None:
        super().__init__()
        self.adaln = adaln
        self.norm1 = nn.LayerNorm(width, elementwise_affine=not adaln)
        self.attn = MultiHeadAttention(width, num_heads, attn_dropout)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=not adaln)
        self.ff = nn.Sequential(nn.Linear(width, ff_dim), _ACTIVATIONS[activation](),
                                nn.Dropout(dropout), nn.Linear(ff_dim, width))
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)
        if adaln:
            self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
            nn.init.zeros_(self.modulation[1].weight)
            nn.init.zeros_(self.modulation[1].bias)

    def modulation_params(self, t_emb: Tensor) -> tuple[Tensor, ...] | None:
        """Six (B, 1, W) tensors: shift/scale/gate for attention, then for the FFN."""
        if not self.adaln:
            return None
        return self.modulation(t_emb)[:, None].chunk(6, dim=-1)

    def attention_block(self, h: Tensor, key_mask: Tensor | None,
                        mod: tuple[Tensor, ...] | None) -> Tensor:
        """``h + gate * attn(modulated LN(h))``; h is (B, P + T, W)."""
        x = self.norm1(h)
        if mod is None:
            return h + self.drop1(self.attn(x, key_mask=key_mask))
        x = _modulate(x, mod[0], mod[1])
        return h + mod[2] * self.drop1(self.attn(x, key_mask=key_mask))

    def ff_block(self, h: Tensor, mod: tuple[Tensor, ...] | None) -> Tensor:
        """``h + gate * ffn(modulated LN(h))``; h is (B, P + T, W)."""
        x = self.norm2(h)
        if mod is None:
            return h + self.drop2(self.ff(x))
        x = _modulate(x, mod[3], mod[4])
        return h + mod[5] * self.drop2(self.ff(x))


class FrameWindowProjection(nn.Module):
    """Linear map of each frame together with its neighbours: a temporal convolution.

    Frame ``i`` of the output reads frames ``i - k // 2 .. i + k // 2`` of the
    input, with zeros beyond either end; the caller zeroes padded frames first,
    so a valid frame sees the same zeros whether the clip is padded or not.

    Args:
        in_dim (int): Input width.
        out_dim (int): Output width.
        kernel_size (int): Odd window length k.
    """

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_dim, out_dim, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, in_dim) -> (B, T, out_dim)."""
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


def _frame_projection(in_dim: int, out_dim: int, kernel_size: int) -> nn.Module:
    if kernel_size == 1:
        return nn.Linear(in_dim, out_dim)
    return FrameWindowProjection(in_dim, out_dim, kernel_size)


@MODELS.register_module()
class MotionTransformerDenoiser(nn.Module):
    """Pre-norm transformer that denoises motion features under a fusion block.

    Forward: ``x_t`` is projected to W, positions are added (sinusoidal for
    any T, or learned up to ``max_length``), the fusion block's prefix tokens
    (and, with ``timestep_conditioning='token'``, the timestep token) are
    prepended, then each layer runs self-attention over [prefix; motion]
    with a key padding mask, ``fusion.layer_forward(i, ...)`` on the motion
    tokens, and a feed-forward network. The output drops the prefix, is
    projected back to D and is zero at padded frames. Valid frames never see
    padded content, so their output does not depend on the amount of padding.

    The denoiser never reads condition keys: the fusion block owns them, so
    e.g. a text+video DUET block needs no change here.

    Args:
        input_dim (int): Motion feature width D (set by the generator from the codec).
        width (int): Model width W. Defaults to 256.
        num_layers (int): Transformer layers N. Defaults to 4.
        num_heads (int): Attention heads; must divide ``width``. Defaults to 4.
        ff_dim (int): Feed-forward hidden width. Defaults to 1024.
        dropout (float): Dropout probability. Defaults to 0.1.
        attn_dropout (float | None): Dropout on attention weights (the
            self-attention and the fusion block's); None means ``dropout``.
            On CPU any value above 0 sends attention to PyTorch's unfused
            kernel and draws a mask over every (T, T) score matrix, which
            roughly triples the cost of self-attention
            (``benchmarks/bench_train.py``); the CPU-sized configs set 0.
            Defaults to None.
        activation (str): ``'gelu'``, ``'relu'`` or ``'silu'``. Defaults to ``'gelu'``.
        fusion (dict | BaseFusion | None): Fusion block config (``MODELS``),
            built with ``default_args=dict(width, num_layers, num_heads,
            dropout, attn_dropout)``, or a built block. Defaults to None, meaning
            ``dict(type='CrossAttentionFusion', text_dim=384)``.
        max_length (int | None): Longest motion for ``pos_encoding='learned'``
            (required there); unused by the sinusoidal encoding, which has no
            length cap. Defaults to None.
        pos_encoding (str): ``'sinusoidal'`` or ``'learned'``. Defaults to ``'sinusoidal'``.
        timestep_conditioning (str): ``'adaln'`` (adaLN-Zero modulation of
            every sub-block), ``'token'`` (a prefix token) or ``'add'`` (added
            to every motion token). Defaults to ``'adaln'``.
        prediction_type (str): What the output means: ``'sample'``,
            ``'epsilon'`` or ``'v_prediction'``. Metadata for the generator;
            the network is the same. Defaults to ``'sample'``.
        proj_kernel_size (int): Frames each input and output projection reads:
            1 is a per-frame linear map; an odd k > 1 makes both projections
            temporal convolutions over k frames (:class:`FrameWindowProjection`),
            so the network can filter its noisy input and its output along
            time directly. Defaults to 1.

    Example:
        >>> import torch
        >>> from mdkit.registry import MODELS
        >>> import mdkit.models.denoisers  # registers denoisers and fusion blocks
        >>> net = MODELS.build(dict(
        ...     type='MotionTransformerDenoiser', input_dim=12, width=32, num_layers=2,
        ...     num_heads=2, ff_dim=64, fusion=dict(type='CrossAttentionFusion', text_dim=16)))
        >>> x_t, t = torch.randn(2, 30, 12), torch.tensor([10, 500])
        >>> mask = torch.arange(30)[None] < torch.tensor([[30], [18]])
        >>> cond = dict(text_tokens=torch.randn(2, 5, 16),
        ...             text_mask=torch.ones(2, 5, dtype=torch.bool),
        ...             text_present=torch.tensor([True, False]))
        >>> net(x_t, t, mask, cond).shape
        torch.Size([2, 30, 12])
    """

    def __init__(self,
                 input_dim: int,
                 width: int = 256,
                 num_layers: int = 4,
                 num_heads: int = 4,
                 ff_dim: int = 1024,
                 dropout: float = 0.1,
                 attn_dropout: float | None = None,
                 activation: str = 'gelu',
                 fusion: ConfigType | BaseFusion | None = None,
                 max_length: int | None = None,
                 pos_encoding: str = 'sinusoidal',
                 timestep_conditioning: str = 'adaln',
                 prediction_type: str = 'sample',
                 proj_kernel_size: int = 1) -> None:
        super().__init__()
        for key, value in (('input_dim', input_dim), ('width', width),
                           ('num_layers', num_layers), ('num_heads', num_heads),
                           ('ff_dim', ff_dim), ('proj_kernel_size', proj_kernel_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'MotionTransformerDenoiser: {key} must be a positive int, '
                                 f'got {value!r}')
        if width % num_heads:
            raise ValueError(f'MotionTransformerDenoiser: width ({width}) must be divisible by '
                             f'num_heads ({num_heads})')
        if proj_kernel_size % 2 == 0:
            raise ValueError(f'MotionTransformerDenoiser: proj_kernel_size must be odd (a window '
                             f'centred on each frame), got {proj_kernel_size}')
        attn_dropout = dropout if attn_dropout is None else attn_dropout
        for key, value in (('dropout', dropout), ('attn_dropout', attn_dropout)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f'MotionTransformerDenoiser: {key} must be in [0, 1), got '
                                 f'{value}')
        self.input_dim = input_dim
        self.width = width
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.activation = _choice('activation', activation, tuple(_ACTIVATIONS))
        self.pos_encoding = _choice('pos_encoding', pos_encoding, POS_ENCODINGS)
        self.timestep_conditioning = _choice('timestep_conditioning', timestep_conditioning,
                                             TIMESTEP_CONDITIONINGS)
        self.prediction_type = _choice('prediction_type', prediction_type, PREDICTION_TYPES)
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise ValueError(f'MotionTransformerDenoiser: max_length must be a positive int or '
                             f'None, got {max_length!r}')
        if pos_encoding == 'learned' and max_length is None:
            raise ValueError("MotionTransformerDenoiser: pos_encoding='learned' needs max_length "
                             '(the longest motion in frames) in the config')
        self.max_length = max_length
        self.proj_kernel_size = proj_kernel_size
        adaln = timestep_conditioning == 'adaln'

        self.input_proj = _frame_projection(input_dim, width, proj_kernel_size)
        if self.pos_encoding == 'learned':
            self.pos_embedding = nn.Parameter(torch.randn(max_length, width) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(),
                                      nn.Linear(width, width))
        self.input_drop = nn.Dropout(dropout)
        self.fusion = self._build_fusion(fusion, dropout, attn_dropout)
        self.layers = nn.ModuleList(
            DenoiserLayer(width, num_heads, ff_dim, dropout, activation, adaln, attn_dropout)
            for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=not adaln)
        if adaln:
            self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
            nn.init.zeros_(self.final_modulation[1].weight)
            nn.init.zeros_(self.final_modulation[1].bias)
        self.output_proj = _frame_projection(width, input_dim, proj_kernel_size)

    def _build_fusion(self, fusion: ConfigType | BaseFusion | None, dropout: float,
                      attn_dropout: float) -> nn.Module:
        if fusion is None:
            fusion = dict(type='CrossAttentionFusion', text_dim=384)
        if isinstance(fusion, Mapping):
            default_args = dict(width=self.width, num_layers=self.num_layers,
                                num_heads=self.num_heads, dropout=dropout,
                                attn_dropout=attn_dropout)
            fusion = build_from_cfg_checked(fusion, MODELS, expected_type=nn.Module,
                                            default_args=default_args)
        missing = [m for m in ('embed', 'layer_forward') if not callable(getattr(fusion, m, None))]
        if not isinstance(fusion, nn.Module) or missing:
            raise TypeError(f'MotionTransformerDenoiser: fusion must be an nn.Module with embed() '
                            f'and layer_forward() (see BaseFusion), got {type(fusion).__name__}')
        for key in ('width', 'num_layers'):
            got = getattr(fusion, key, getattr(self, key))
            if got != getattr(self, key):
                raise ValueError(f'MotionTransformerDenoiser: fusion {type(fusion).__name__} has '
                                 f'{key}={got}, but the denoiser has {key}={getattr(self, key)}; '
                                 f'leave {key} out of the fusion config')
        return fusion

    # -- input checks --------------------------------------------------------------------
    def _check_inputs(self, x_t: Tensor, timesteps: Tensor | float, mask: Tensor | None
                      ) -> tuple[Tensor, Tensor]:
        if not torch.is_tensor(x_t) or x_t.dim() != 3:
            raise ValueError(f'x_t must be a (B, T, D) tensor, got '
                             f'{tuple(x_t.shape) if torch.is_tensor(x_t) else type(x_t)}')
        b, t, d = x_t.shape
        if d != self.input_dim:
            raise ValueError(f'x_t has feature width D={d}, but the denoiser expects '
                             f'input_dim={self.input_dim}')
        if self.pos_encoding == 'learned' and t > self.max_length:
            raise ValueError(f'x_t has T={t} frames, more than max_length={self.max_length} of '
                             "the learned positional encoding; raise max_length in the config "
                             "(and retrain) or use pos_encoding='sinusoidal'")
        if mask is None:
            mask = torch.ones(b, t, dtype=torch.bool, device=x_t.device)
        elif tuple(mask.shape) != (b, t):
            raise ValueError(f'mask must have shape (B, T) = {(b, t)} like x_t, got '
                             f'{tuple(mask.shape)}')
        mask = mask.to(torch.bool)
        if not bool((torch.isfinite(x_t).all(-1) | ~mask).all()):
            raise ValueError('x_t contains NaN or Inf at valid (mask=True) frames')
        timesteps = torch.as_tensor(timesteps, device=x_t.device)
        if timesteps.numel() == 1:
            timesteps = timesteps.reshape(1).expand(b)
        elif tuple(timesteps.shape) != (b,):
            raise ValueError(f'timesteps must have shape (B,) = ({b},) or be a scalar, got '
                             f'{tuple(timesteps.shape)}')
        return timesteps, mask

    def positions(self, length: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        """Positional encoding of ``length`` frames.

        Args:
            length (int): Number of frames T.
            device (torch.device): Device.
            dtype (torch.dtype): Dtype.

        Returns:
            Tensor: (T, W).
        """
        if self.pos_encoding == 'learned':
            return self.pos_embedding[:length].to(dtype)
        return sinusoidal_positions(length, self.width, device, dtype)

    def embed_timesteps(self, timesteps: Tensor) -> Tensor:
        """Sinusoidal embedding followed by the MLP: (B,) -> (B, W)."""
        emb = timestep_embedding(timesteps, self.width)
        return self.time_mlp(emb.to(self.time_mlp[0].weight.dtype))

    # -- forward ---------------------------------------------------------------------------
    def forward(self, x_t: Tensor, timesteps: Tensor | float, mask: Tensor | None = None,
                cond: Mapping | None = None, return_hidden: bool = False
                ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Predict ``prediction_type`` for noisy motion.

        Args:
            x_t (Tensor): (B, T, D) noisy motion (padded frames: anything finite
                or not; they are replaced by zeros).
            timesteps (Tensor | float): (B,) long or float timesteps, or a scalar.
            mask (Tensor | None): (B, T) bool, True = valid frame. Defaults
                to None (all valid).
            cond (Mapping | None): Condition dict, read by the fusion block only
                (see :mod:`mdkit.models.fusion.base`). Defaults to None (no
                condition: the blocks use their null tokens).
            return_hidden (bool): Also return the motion tokens after every
                layer (e.g. for feature-alignment losses). Defaults to False.

        Returns:
            Tensor | tuple[Tensor, list[Tensor]]: (B, T, D) prediction, zero at
            padded frames; with ``return_hidden``, also N tensors (B, T, W).

        Raises:
            ValueError: Wrong feature width, mask or timestep shape, a motion
                longer than ``max_length`` with learned positions, or NaN/Inf
                at valid frames.
        """
        timesteps, mask = self._check_inputs(x_t, timesteps, mask)
        all_valid = bool(mask.all())
        if not all_valid:
            x_t = torch.where(mask[..., None], x_t, x_t.new_zeros(()))
        b, t, _ = x_t.shape

        t_emb = self.embed_timesteps(timesteps)
        h = self.input_proj(x_t) + self.positions(t, x_t.device, x_t.dtype)
        if self.timestep_conditioning == 'add':
            h = h + t_emb[:, None]
        h = self.input_drop(h)

        ctx = self.fusion.embed(cond, t_emb)
        prefixes, prefix_masks = [], []
        if self.timestep_conditioning == 'token':
            prefixes.append(t_emb[:, None])
            prefix_masks.append(torch.ones(b, 1, dtype=torch.bool, device=h.device))
        if ctx.get('prefix') is not None:
            prefix = ctx['prefix']
            prefix_mask = ctx.get('prefix_mask')
            if prefix_mask is None:
                prefix_mask = torch.ones(prefix.shape[:2], dtype=torch.bool, device=h.device)
            prefixes.append(prefix)
            prefix_masks.append(prefix_mask.to(torch.bool))
        num_prefix = sum(p.shape[1] for p in prefixes)

        key_mask = None
        if num_prefix:
            h = torch.cat(prefixes + [h], 1)
            if not all_valid or not all(bool(m.all()) for m in prefix_masks):
                key_mask = torch.cat(prefix_masks + [mask], 1)
        elif not all_valid:
            key_mask = mask
        if key_mask is not None:
            # A sample without any valid token would give all-masked rows (NaN);
            # let it attend to everything: its output is zeroed anyway.
            key_mask = key_mask | ~key_mask.any(1, keepdim=True)

        hidden = []
        for i, layer in enumerate(self.layers):
            mod = layer.modulation_params(t_emb)
            h = layer.attention_block(h, key_mask, mod)
            if num_prefix:
                motion = self.fusion.layer_forward(i, h[:, num_prefix:], ctx, t_emb, mask)
                h = torch.cat([h[:, :num_prefix], motion], 1)
            else:
                h = self.fusion.layer_forward(i, h, ctx, t_emb, mask)
            h = layer.ff_block(h, mod)
            if return_hidden:
                hidden.append(h[:, num_prefix:])

        h = self.final_norm(h[:, num_prefix:])
        if self.timestep_conditioning == 'adaln':
            shift, scale = self.final_modulation(t_emb)[:, None].chunk(2, dim=-1)
            h = _modulate(h, shift, scale)
        if self.proj_kernel_size > 1 and not all_valid:  # windows must not read padded tokens
            h = torch.where(mask[..., None], h, h.new_zeros(()))
        out = self.output_proj(h)
        if not all_valid:
            out = torch.where(mask[..., None], out, out.new_zeros(()))
        return (out, hidden) if return_hidden else out

    def extra_repr(self) -> str:
        return (f'input_dim={self.input_dim}, width={self.width}, num_layers={self.num_layers}, '
                f'num_heads={self.num_heads}, pos_encoding={self.pos_encoding!r}, '
                f'max_length={self.max_length}, '
                f'timestep_conditioning={self.timestep_conditioning!r}, '
                f'prediction_type={self.prediction_type!r}, '
                f'proj_kernel_size={self.proj_kernel_size}')

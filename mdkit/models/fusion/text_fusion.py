"""Text-only fusion blocks: prefix token (MDM), per-layer cross-attention, additive.

Shapes: B batch, T motion frames, L text tokens, W denoiser width, Ct text width.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mdkit.registry import MODELS

from .attention import MultiHeadAttention
from .base import BaseFusion, fusion_outputs, gather_modality

__all__ = ['PrefixTokenFusion', 'CrossAttentionFusion', 'AdditiveFusion']


def _null_param(*shape: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape) * 0.02)


def _pooled_or_null(text, proj: nn.Module, null: Tensor, batch: int) -> Tensor:
    """(B, W): the projected pooled text where present, the null vector elsewhere."""
    null = null.expand(batch, -1)
    if text.pooled is None:
        return null
    return torch.where(text.present[:, None], proj(text.pooled), null)


@MODELS.register_module()
class PrefixTokenFusion(BaseFusion):
    """MDM-style fusion: the pooled text becomes one token prepended to the motion.

    The denoiser's self-attention sees the token; :meth:`layer_forward` is the
    identity. Samples without text get a learned null token instead.

    Args:
        width (int): Denoiser width W.
        num_layers (int): Denoiser layers (unused; part of the interface).
        num_heads (int): Attention heads (unused). Defaults to 4.
        dropout (float): Dropout (unused). Defaults to 0.0.
        text_dim (int): Width Ct of the text features. Defaults to 384.
        combine_timestep (bool): Add the timestep embedding to the text token
            (one token carries both, exactly as MDM). Use it with the
            denoiser's ``timestep_conditioning='add'`` or ``'adaln'`` rather
            than ``'token'``. Defaults to False.

    Example:
        >>> import torch
        >>> from mdkit.registry import MODELS
        >>> import mdkit.models.fusion  # registers the blocks
        >>> fusion = MODELS.build(dict(type='PrefixTokenFusion', text_dim=16, width=32,
        ...                            num_layers=2))
        >>> cond = dict(text_pooled=torch.randn(3, 16))
        >>> fusion.embed(cond, torch.randn(3, 32))['prefix'].shape
        torch.Size([3, 1, 32])
    """

    def __init__(self, width: int, num_layers: int, num_heads: int = 4, dropout: float = 0.0,
                 attn_dropout: float | None = None,
                 text_dim: int = 384, combine_timestep: bool = False) -> None:
        super().__init__(width, num_layers, num_heads, dropout, attn_dropout)
        self.text_dim = int(text_dim)
        self.combine_timestep = bool(combine_timestep)
        self.text_proj = nn.Linear(self.text_dim, self.width)
        self.null_token = _null_param(1, self.width)

    def embed(self, cond: Mapping | None, t_emb: Tensor) -> dict:
        """One prefix token per sample (text, or the null token where absent).

        Args:
            cond (Mapping | None): Uses ``text_pooled`` (else the masked mean of
                ``text_tokens``), ``text_mask``, ``text_present``.
            t_emb (Tensor): (B, W) timestep embedding.

        Returns:
            dict: ``prefix`` (B, 1, W), ``prefix_mask`` (B, 1) all True,
            ``text_present`` (B,); no context.
        """
        b = self._batch(t_emb)
        text = gather_modality(cond, 'text', b, self.text_dim, t_emb.device, type(self).__name__)
        token = _pooled_or_null(text, self.text_proj, self.null_token.to(t_emb.dtype), b)
        if self.combine_timestep:
            token = token + t_emb
        prefix_mask = torch.ones(b, 1, dtype=torch.bool, device=t_emb.device)
        return fusion_outputs(prefix=token[:, None], prefix_mask=prefix_mask,
                              text_present=text.present)

    def extra_repr(self) -> str:
        return (super().extra_repr()
                + f', text_dim={self.text_dim}, combine_timestep={self.combine_timestep}')


@MODELS.register_module()
class CrossAttentionFusion(BaseFusion):
    """Per-layer pre-norm cross-attention from motion tokens to the text tokens.

    Text tokens are projected to W and layer-normed once (:meth:`embed`); a
    learned null token is always the first context token, so a sample without
    text (``text_present=False`` or an all-False ``text_mask`` row) attends to
    the null token only: no all-masked attention row, no NaN, and the result
    does not depend on the dropped tokens. In layer i,
    ``h = h + dropout(attn_i(LN_i(h), context, context_mask))``.

    Args:
        width (int): Denoiser width W.
        num_layers (int): Denoiser layers N (one cross-attention per layer).
        num_heads (int): Attention heads. Defaults to 4.
        dropout (float): Dropout on attention weights and output. Defaults to 0.0.
        text_dim (int): Width Ct of the text tokens. Defaults to 384.

    Example:
        >>> import torch
        >>> from mdkit.registry import MODELS
        >>> import mdkit.models.fusion  # registers the blocks
        >>> fusion = MODELS.build(dict(type='CrossAttentionFusion', text_dim=16, width=32,
        ...                            num_layers=2, num_heads=2))
        >>> cond = dict(text_tokens=torch.randn(3, 7, 16),
        ...             text_mask=torch.ones(3, 7, dtype=torch.bool))
        >>> t_emb = torch.randn(3, 32)
        >>> ctx = fusion.embed(cond, t_emb)
        >>> ctx['context'].shape  # null token + 7 text tokens
        torch.Size([3, 8, 32])
        >>> h, h_mask = torch.randn(3, 10, 32), torch.ones(3, 10, dtype=torch.bool)
        >>> fusion.layer_forward(0, h, ctx, t_emb, h_mask).shape
        torch.Size([3, 10, 32])
    """

    def __init__(self, width: int, num_layers: int, num_heads: int = 4, dropout: float = 0.0,
                 attn_dropout: float | None = None,
                 text_dim: int = 384) -> None:
        super().__init__(width, num_layers, num_heads, dropout, attn_dropout)
        self.text_dim = int(text_dim)
        self.text_proj = nn.Linear(self.text_dim, self.width)
        self.context_norm = nn.LayerNorm(self.width)
        self.null_token = _null_param(1, 1, self.width)
        self.norms = nn.ModuleList(nn.LayerNorm(self.width) for _ in range(self.num_layers))
        self.attns = nn.ModuleList(
            MultiHeadAttention(self.width, self.num_heads, self.attn_dropout,
                               context_dim=self.width)
            for _ in range(self.num_layers))
        self.drop = nn.Dropout(self.dropout)

    def embed(self, cond: Mapping | None, t_emb: Tensor) -> dict:
        """Project the text tokens into the context ``[null; text]``.

        Args:
            cond (Mapping | None): Uses ``text_tokens``, ``text_mask``, ``text_present``.
            t_emb (Tensor): (B, W) timestep embedding.

        Returns:
            dict: ``context`` (B, 1 + L, W), ``context_mask`` (B, 1 + L),
            ``text_present`` (B,); no prefix.
        """
        b = self._batch(t_emb)
        text = gather_modality(cond, 'text', b, self.text_dim, t_emb.device, type(self).__name__)
        null = self.null_token.to(t_emb.dtype).expand(b, -1, -1)
        null_mask = torch.ones(b, 1, dtype=torch.bool, device=t_emb.device)
        if text.tokens is None:
            context, context_mask = null, null_mask
        else:
            tokens = self.context_norm(self.text_proj(text.tokens))
            context = torch.cat([null, tokens], 1)
            context_mask = torch.cat([null_mask, text.mask], 1)
        return fusion_outputs(context=context, context_mask=context_mask,
                              text_present=text.present)

    def layer_forward(self, i: int, h: Tensor, ctx: dict, t_emb: Tensor,
                      h_mask: Tensor) -> Tensor:
        """``h + dropout(cross_attn_i(LN_i(h), context))``.

        Args:
            i (int): Layer index.
            h (Tensor): (B, T, W) motion tokens.
            ctx (dict): From :meth:`embed`.
            t_emb (Tensor): (B, W) (unused).
            h_mask (Tensor): (B, T) (unused: queries are independent).

        Returns:
            Tensor: (B, T, W).
        """
        attn = self.attns[i](self.norms[i](h), ctx['context'], ctx['context_mask'])
        return h + self.drop(attn)

    def extra_repr(self) -> str:
        return super().extra_repr() + f', text_dim={self.text_dim}'


@MODELS.register_module()
class AdditiveFusion(BaseFusion):
    """Cheapest baseline: the projected pooled text is added to every motion token.

    The addition happens in :meth:`layer_forward` of layer 0 (after its
    self-attention), or of every layer with ``every_layer=True``. Samples
    without text get a learned null embedding.

    Args:
        width (int): Denoiser width W.
        num_layers (int): Denoiser layers N.
        num_heads (int): Attention heads (unused). Defaults to 4.
        dropout (float): Dropout (unused). Defaults to 0.0.
        text_dim (int): Width Ct of the text features. Defaults to 384.
        every_layer (bool): Add in every layer rather than only in layer 0.
            Defaults to False.

    Example:
        >>> import torch
        >>> from mdkit.registry import MODELS
        >>> import mdkit.models.fusion  # registers the blocks
        >>> fusion = MODELS.build(dict(type='AdditiveFusion', text_dim=16, width=32,
        ...                            num_layers=2))
        >>> t_emb = torch.randn(3, 32)
        >>> ctx = fusion.embed(dict(text_pooled=torch.randn(3, 16)), t_emb)
        >>> h, h_mask = torch.randn(3, 10, 32), torch.ones(3, 10, dtype=torch.bool)
        >>> fusion.layer_forward(0, h, ctx, t_emb, h_mask).shape
        torch.Size([3, 10, 32])
    """

    def __init__(self, width: int, num_layers: int, num_heads: int = 4, dropout: float = 0.0,
                 attn_dropout: float | None = None,
                 text_dim: int = 384, every_layer: bool = False) -> None:
        super().__init__(width, num_layers, num_heads, dropout, attn_dropout)
        self.text_dim = int(text_dim)
        self.every_layer = bool(every_layer)
        self.text_proj = nn.Linear(self.text_dim, self.width)
        self.null_embedding = _null_param(1, self.width)

    def embed(self, cond: Mapping | None, t_emb: Tensor) -> dict:
        """Pooled text (or the null embedding) as a one-token context.

        Args:
            cond (Mapping | None): Uses ``text_pooled`` (else the masked mean of
                ``text_tokens``), ``text_mask``, ``text_present``.
            t_emb (Tensor): (B, W) timestep embedding.

        Returns:
            dict: ``context`` (B, 1, W), ``context_mask`` (B, 1), ``text_present`` (B,).
        """
        b = self._batch(t_emb)
        text = gather_modality(cond, 'text', b, self.text_dim, t_emb.device, type(self).__name__)
        emb = _pooled_or_null(text, self.text_proj, self.null_embedding.to(t_emb.dtype), b)
        context_mask = torch.ones(b, 1, dtype=torch.bool, device=t_emb.device)
        return fusion_outputs(context=emb[:, None], context_mask=context_mask,
                              text_present=text.present)

    def layer_forward(self, i: int, h: Tensor, ctx: dict, t_emb: Tensor,
                      h_mask: Tensor) -> Tensor:
        """``h + context`` in layer 0 (or every layer), else ``h``.

        Args:
            i (int): Layer index.
            h (Tensor): (B, T, W) motion tokens.
            ctx (dict): From :meth:`embed`.
            t_emb (Tensor): (B, W) (unused).
            h_mask (Tensor): (B, T) (unused).

        Returns:
            Tensor: (B, T, W).
        """
        if i == 0 or self.every_layer:
            return h + ctx['context']
        return h

    def extra_repr(self) -> str:
        return (super().extra_repr()
                + f', text_dim={self.text_dim}, every_layer={self.every_layer}')

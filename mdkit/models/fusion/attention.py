"""Multi-head attention on ``F.scaled_dot_product_attention`` with boolean key masks.

Shared by the denoiser (self-attention) and the fusion blocks (cross-attention).
Shapes: B batch, N query tokens, S key tokens, W width.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['MultiHeadAttention']


class MultiHeadAttention(nn.Module):
    """Multi-head (self- or cross-) attention with a key padding mask.

    Self-attention (``context_dim=None`` and no ``context`` in ``forward``)
    uses one fused q/k/v projection; cross-attention projects the context
    with its own k/v projection, so context and queries may differ in width.

    Args:
        width (int): Query / output width W.
        num_heads (int): Number of heads; must divide ``width``.
        dropout (float): Dropout on the attention weights in training.
            Defaults to 0.0.
        context_dim (int | None): Width of the context for cross-attention.
            Defaults to None (self-attention).
        bias (bool): Bias in the projections. Defaults to True.

    Example:
        >>> import torch
        >>> attn = MultiHeadAttention(32, 2)
        >>> x, valid = torch.randn(2, 5, 32), torch.ones(2, 5, dtype=torch.bool)
        >>> attn(x, key_mask=valid).shape
        torch.Size([2, 5, 32])
    """

    def __init__(self, width: int, num_heads: int, dropout: float = 0.0,
                 context_dim: int | None = None, bias: bool = True) -> None:
        super().__init__()
        if width % num_heads != 0:
            raise ValueError(f'width ({width}) must be divisible by num_heads ({num_heads})')
        self.width = width
        self.num_heads = num_heads
        self.head_dim = width // num_heads
        self.dropout = float(dropout)
        self.is_cross = context_dim is not None
        if self.is_cross:
            self.q_proj = nn.Linear(width, width, bias=bias)
            self.kv_proj = nn.Linear(context_dim, 2 * width, bias=bias)
        else:
            self.qkv_proj = nn.Linear(width, 3 * width, bias=bias)
        self.out_proj = nn.Linear(width, width, bias=bias)

    def _heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, context: Tensor | None = None,
                key_mask: Tensor | None = None, attn_bias: Tensor | None = None) -> Tensor:
        """Attend from ``x`` to ``context`` (or to ``x`` itself).

        Args:
            x (Tensor): (B, N, W) queries.
            context (Tensor | None): (B, S, C) keys/values for cross-attention;
                required iff the module was built with ``context_dim``.
            key_mask (Tensor | None): (B, S) bool, True = attend. Every row
                must keep at least one True key (else the output is NaN); the
                callers guarantee it (null tokens, or unmasking empty rows).
                Defaults to None (all keys valid).
            attn_bias (Tensor | None): (B, heads or 1, N, S) float added to the
                attention logits (e.g. a temporal-distance penalty). Defaults to None.

        Returns:
            Tensor: (B, N, W).
        """
        b, n, _ = x.shape
        if self.is_cross:
            if context is None:
                raise ValueError('cross-attention needs a context tensor')
            q = self._heads(self.q_proj(x))
            k, v = self.kv_proj(context).chunk(2, dim=-1)
            k, v = self._heads(k), self._heads(v)
        else:
            if context is not None:
                raise ValueError('self-attention module got a context; build it with context_dim')
            q, k, v = (self._heads(t) for t in self.qkv_proj(x).chunk(3, dim=-1))
        attn_mask = None if key_mask is None else key_mask[:, None, None, :]
        if attn_bias is not None:
            attn_bias = attn_bias.to(q.dtype)
            attn_mask = attn_bias if attn_mask is None else attn_bias.masked_fill(
                ~attn_mask, float('-inf'))
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, self.width))


"""The fusion-block interface shared by the text-only baselines and DUET.

A fusion block turns the condition dict into W-wide tokens once per denoiser
forward (:meth:`BaseFusion.embed`) and may then act on the motion tokens inside
every denoiser layer (:meth:`BaseFusion.layer_forward`). The denoiser never
reads condition keys itself, so a new block (e.g. DUET, attending to text and
video with gates conditioned on the timestep and on modality presence) plugs
in without touching the denoiser.

Condition dict (every key optional; B batch, L text tokens, F video tokens,
C feature widths):

* ``text_tokens`` (B, L, Ct), ``text_mask`` (B, L) bool (True = valid),
  ``text_pooled`` (B, Ct), ``text_present`` (B,) bool;
* ``video_tokens`` (B, F, Cv), ``video_mask`` (B, F) bool,
  ``video_pooled`` (B, Cv), ``video_present`` (B,) bool.

``<name>_present=False`` (or a row of ``<name>_mask`` that is all False) means
the modality is absent for that sample: its tokens must be ignored.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import Tensor, nn

__all__ = ['BaseFusion', 'ModalityInputs', 'gather_modality', 'masked_mean', 'fusion_outputs']


class ModalityInputs(NamedTuple):
    """One modality of a condition dict, validated and with absence applied.

    Attributes:
        tokens (Tensor | None): (B, N, C) tokens, zeroed where ``mask`` is False.
        mask (Tensor | None): (B, N) bool, True = valid token of a present sample.
        pooled (Tensor | None): (B, C) pooled feature (the given one, else the
            masked mean of the tokens); zero for absent samples.
        present (Tensor): (B,) bool, True where the sample has this modality.
    """

    tokens: Tensor | None
    mask: Tensor | None
    pooled: Tensor | None
    present: Tensor


def masked_mean(tokens: Tensor, mask: Tensor) -> Tensor:
    """Mean over valid tokens; zero for rows without any.

    Args:
        tokens (Tensor): (B, N, C).
        mask (Tensor): (B, N) bool, True = valid.

    Returns:
        Tensor: (B, C).
    """
    weights = mask.to(tokens.dtype)[..., None]
    total = (tokens * weights).sum(1)
    return total / weights.sum(1).clamp_min(1.0)


def gather_modality(cond: Mapping | None, name: str, batch_size: int, dim: int,
                    device: torch.device | None = None, owner: str = 'fusion') -> ModalityInputs:
    """Read and check ``<name>_tokens/_mask/_pooled/_present`` from a condition dict.

    Absence (``<name>_present`` False, an all-False mask row, or no data at all)
    is folded into ``mask`` and ``present``; tokens of masked positions are
    replaced by zeros so that nothing there (not even NaN) can leak into
    attention.

    Args:
        cond (Mapping | None): The condition dict.
        name (str): Modality prefix, e.g. ``'text'`` or ``'video'``.
        batch_size (int): Expected B.
        dim (int): Expected feature width C of tokens and pooled features.
        device (torch.device | None): Device of the ``present`` tensor built
            when no data is given. Defaults to None (CPU).
        owner (str): Name used in error messages. Defaults to ``'fusion'``.

    Returns:
        ModalityInputs: tokens, mask, pooled, present.

    Raises:
        ValueError: On a batch size, width or mask shape mismatch.
    """
    cond = cond or {}
    tokens = cond.get(f'{name}_tokens')
    mask = cond.get(f'{name}_mask')
    pooled = cond.get(f'{name}_pooled')
    present = cond.get(f'{name}_present')
    ref = next((x for x in (tokens, pooled, present) if torch.is_tensor(x)), None)
    if ref is not None:
        device = ref.device
    if tokens is not None:
        if tokens.dim() != 3 or tokens.shape[0] != batch_size or tokens.shape[-1] != dim:
            raise ValueError(
                f'{owner}: {name}_tokens must have shape (B={batch_size}, N, {dim}), got '
                f'{tuple(tokens.shape)}; the expected width is {name}_dim={dim} in the fusion '
                'config')
        if mask is None:
            mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=device)
        elif tuple(mask.shape) != tuple(tokens.shape[:2]):
            raise ValueError(f'{owner}: {name}_mask must have shape {tuple(tokens.shape[:2])} '
                             f'(like {name}_tokens), got {tuple(mask.shape)}')
        mask = mask.to(torch.bool)
    if pooled is not None and tuple(pooled.shape) != (batch_size, dim):
        raise ValueError(f'{owner}: {name}_pooled must have shape ({batch_size}, {dim}), got '
                         f'{tuple(pooled.shape)}; the expected width is {name}_dim={dim}')
    if present is None:
        has_data = tokens is not None or pooled is not None
        present = torch.full((batch_size,), has_data, dtype=torch.bool, device=device)
    else:
        present = torch.as_tensor(present, dtype=torch.bool, device=device)
        if tuple(present.shape) != (batch_size,):
            raise ValueError(f'{owner}: {name}_present must have shape ({batch_size},), got '
                             f'{tuple(present.shape)}')
    if tokens is not None:
        present = present & mask.any(1)
        mask = mask & present[:, None]
        tokens = torch.where(mask[..., None], tokens, tokens.new_zeros(()))
        if pooled is None:
            pooled = masked_mean(tokens, mask)
    if pooled is not None:
        pooled = torch.where(present[:, None], pooled, pooled.new_zeros(()))
    return ModalityInputs(tokens, mask, pooled, present)


def fusion_outputs(prefix: Tensor | None = None, prefix_mask: Tensor | None = None,
                   context: Tensor | None = None, context_mask: Tensor | None = None,
                   **extra) -> dict:
    """The dict :meth:`BaseFusion.embed` returns (extra keys pass through to layers).

    Args:
        prefix (Tensor | None): (B, P, W) tokens prepended to the motion tokens.
        prefix_mask (Tensor | None): (B, P) bool, True = valid.
        context (Tensor | None): (B, S, W) tokens for per-layer fusion.
        context_mask (Tensor | None): (B, S) bool, True = valid.
        **extra: Anything else the block's ``layer_forward`` needs
            (e.g. presence flags or gate inputs).

    Returns:
        dict: ``prefix``, ``prefix_mask``, ``context``, ``context_mask`` and ``extra``.
    """
    return dict(prefix=prefix, prefix_mask=prefix_mask, context=context,
                context_mask=context_mask, **extra)


class BaseFusion(nn.Module):
    """Base class of fusion blocks (``MODELS``, names end in ``Fusion``).

    The denoiser builds its block with ``default_args=dict(width=W,
    num_layers=N, num_heads=H, dropout=p, attn_dropout=q)`` plus the block's
    own config keys, then per forward calls :meth:`embed` once and
    :meth:`layer_forward` in each of its N layers, after self-attention and
    before the feed-forward.

    Args:
        width (int): Denoiser width W.
        num_layers (int): Number of denoiser layers N.
        num_heads (int): Attention heads of the denoiser. Defaults to 4.
        dropout (float): Dropout probability. Defaults to 0.0.
        attn_dropout (float | None): Dropout on attention weights, for blocks
            that attend; None means ``dropout``. Defaults to None.
    """

    def __init__(self, width: int, num_layers: int, num_heads: int = 4,
                 dropout: float = 0.0, attn_dropout: float | None = None) -> None:
        super().__init__()
        for key, value in (('width', width), ('num_layers', num_layers),
                           ('num_heads', num_heads)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{type(self).__name__}: {key} must be a positive int, got '
                                 f'{value!r}')
        attn_dropout = dropout if attn_dropout is None else attn_dropout
        for key, value in (('dropout', dropout), ('attn_dropout', attn_dropout)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f'{type(self).__name__}: {key} must be in [0, 1), got {value}')
        self.width = int(width)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self.attn_dropout = float(attn_dropout)

    def embed(self, cond: Mapping | None, t_emb: Tensor) -> dict:
        """Turn the conditions into W-wide tokens, once per denoiser forward.

        Args:
            cond (Mapping | None): The condition dict (see the module docstring).
            t_emb (Tensor): (B, W) timestep embedding; gives B and the device.

        Returns:
            dict: See :func:`fusion_outputs`: ``prefix`` (B, P, W) | None,
            ``prefix_mask`` (B, P) | None, ``context`` (B, S, W) | None,
            ``context_mask`` (B, S) | None, plus any extra keys.
        """
        raise NotImplementedError

    def layer_forward(self, i: int, h: Tensor, ctx: dict, t_emb: Tensor,
                      h_mask: Tensor) -> Tensor:
        """Per-layer fusion on the motion tokens (identity here).

        Args:
            i (int): Denoiser layer index in [0, N).
            h (Tensor): (B, T, W) motion tokens (prefix tokens excluded, so
                index t is motion frame t).
            ctx (dict): What :meth:`embed` returned.
            t_emb (Tensor): (B, W) timestep embedding.
            h_mask (Tensor): (B, T) bool, True = valid frame.

        Returns:
            Tensor: (B, T, W), the residual already added.
        """
        return h

    def extra_repr(self) -> str:
        return (f'width={self.width}, num_layers={self.num_layers}, '
                f'num_heads={self.num_heads}, dropout={self.dropout}, '
                f'attn_dropout={self.attn_dropout}')

    def _batch(self, t_emb: Tensor) -> int:
        if t_emb.dim() != 2 or t_emb.shape[-1] != self.width:
            raise ValueError(f'{type(self).__name__}: t_emb must have shape (B, {self.width}), '
                             f'got {tuple(t_emb.shape)}')
        return t_emb.shape[0]

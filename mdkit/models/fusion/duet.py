"""DUET fusion: unified encoding of text and video, dynamic gated attention from motion.

Shapes: B batch, T motion frames, L text tokens, F video slots, W denoiser
width, Ct / Cv text / video feature widths, H attention heads.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mdkit.models.denoisers.embeddings import timestep_embedding
from mdkit.registry import MODELS

from .attention import MultiHeadAttention
from .base import BaseFusion, ModalityInputs, fusion_outputs, gather_modality

__all__ = ['DUETFusion', 'video_slot_times']


def video_slot_times(video_mask: Tensor, motion_mask: Tensor,
                     times: Tensor | None = None) -> Tensor:
    """Motion-frame time of every video slot.

    Args:
        video_mask (Tensor): (B, F) bool valid slots.
        motion_mask (Tensor): (B, T) bool valid motion frames.
        times (Tensor | None): (B, F) given times (e.g. ``video_times`` from the
            video encoder). Defaults to None: the valid slots are spread
            evenly over the valid motion frames, slot f at
            ``(f + 0.5) * T_valid / F_valid - 0.5``.

    Returns:
        Tensor: (B, F) float times in motion frames.
    """
    if times is not None:
        return times.to(torch.float32)
    n_slots = video_mask.sum(1, keepdim=True).clamp_min(1).to(torch.float32)
    n_frames = motion_mask.sum(1, keepdim=True).clamp_min(1).to(torch.float32)
    index = torch.arange(video_mask.shape[1], device=video_mask.device, dtype=torch.float32)
    return (index[None] + 0.5) * n_frames / n_slots - 0.5


@MODELS.register_module()
class DUETFusion(BaseFusion):
    """MotionDuet's fusion block: unified encoding + dynamic attention over text and video.

    **Unified encoding** (once per denoiser forward, :meth:`embed`): text
    tokens and video slots are projected to W, tagged with a learned modality
    embedding, video slots get a sinusoidal embedding of their motion-frame time
    (so they are aligned with the denoiser's motion positions), and
    ``encoder_layers`` pre-norm transformer layers let the two streams attend
    to each other. Each stream starts with a learned null token, so an absent
    modality (``<m>_present=False``) contributes its null token only.

    **Dynamic attention** (every denoiser layer, :meth:`layer_forward`): motion
    tokens cross-attend to the text stream and to the video stream separately;
    video attention carries a learned temporal-distance penalty per head
    (``-softplus(a_h) * |t - tau| / slot_spacing``) so a motion frame looks
    mostly at the video around its own time. The two results are mixed with
    gates ``sigmoid(MLP([t_emb, text_present, video_present]))``, conditioned on
    the diffusion timestep and on which modalities are present:
    ``h = h + dropout(g_text * A_text + g_video * A_video)``.

    Args:
        width (int): Denoiser width W.
        num_layers (int): Denoiser layers N (one gated pair of attentions each).
        num_heads (int): Attention heads. Defaults to 4.
        dropout (float): Dropout on attention weights and outputs. Defaults to 0.0.
        text_dim (int): Width Ct of the text tokens. Defaults to 384.
        video_dim (int): Width Cv of the video slot features. Defaults to 768.
        encoder_layers (int): Joint text-video encoder layers; 0 encodes each
            stream by its projection only. Defaults to 1.
        temporal_bias (bool): The learned temporal-distance penalty on video
            attention. Defaults to True.
        dynamic_gates (bool): Timestep/presence-conditioned gates; False uses
            fixed gates of 1 (plain cross-attention to both streams).
            Defaults to True.

    Example:
        >>> import torch
        >>> from mdkit.registry import MODELS
        >>> import mdkit.models.fusion  # registers the blocks
        >>> fusion = MODELS.build(dict(type='DUETFusion', text_dim=16, video_dim=24, width=32,
        ...                            num_layers=2, num_heads=2))
        >>> cond = dict(text_tokens=torch.randn(3, 7, 16), video_tokens=torch.randn(3, 5, 24),
        ...             video_present=torch.tensor([True, False, True]))
        >>> t_emb = torch.randn(3, 32)
        >>> ctx = fusion.embed(cond, t_emb)
        >>> ctx['text_context'].shape, ctx['video_context'].shape  # null token first
        (torch.Size([3, 8, 32]), torch.Size([3, 6, 32]))
        >>> h, h_mask = torch.randn(3, 10, 32), torch.ones(3, 10, dtype=torch.bool)
        >>> fusion.layer_forward(0, h, ctx, t_emb, h_mask).shape
        torch.Size([3, 10, 32])
    """

    def __init__(self, width: int, num_layers: int, num_heads: int = 4, dropout: float = 0.0,
                 attn_dropout: float | None = None,
                 text_dim: int = 384, video_dim: int = 768, encoder_layers: int = 1,
                 temporal_bias: bool = True, dynamic_gates: bool = True) -> None:
        super().__init__(width, num_layers, num_heads, dropout, attn_dropout)
        if not isinstance(encoder_layers, int) or encoder_layers < 0:
            raise ValueError(f'DUETFusion: encoder_layers must be an int >= 0, got '
                             f'{encoder_layers!r}')
        self.text_dim, self.video_dim = int(text_dim), int(video_dim)
        self.encoder_layers = encoder_layers
        self.temporal_bias = bool(temporal_bias)
        self.dynamic_gates = bool(dynamic_gates)
        w = self.width
        self.text_proj = nn.Linear(self.text_dim, w)
        self.video_proj = nn.Linear(self.video_dim, w)
        self.modality_embed = nn.Parameter(torch.randn(2, w) * 0.02)
        self.null_tokens = nn.Parameter(torch.randn(2, w) * 0.02)
        self.encoder = nn.ModuleList(
            nn.TransformerEncoderLayer(w, self.num_heads, 2 * w, self.dropout, batch_first=True,
                                       norm_first=True) for _ in range(encoder_layers))
        self.context_norm = nn.LayerNorm(w)
        self.norms = nn.ModuleList(nn.LayerNorm(w) for _ in range(num_layers))
        self.text_attns = nn.ModuleList(
            MultiHeadAttention(w, self.num_heads, self.attn_dropout, context_dim=w)
            for _ in range(num_layers))
        self.video_attns = nn.ModuleList(
            MultiHeadAttention(w, self.num_heads, self.attn_dropout, context_dim=w)
            for _ in range(num_layers))
        # softplus(-1.5) ~ 0.2 per slot of distance at initialisation
        self.time_slopes = nn.Parameter(torch.full((num_layers, self.num_heads), -1.5))
        self.gates = nn.ModuleList(nn.Linear(w + 2, 2) for _ in range(num_layers))
        for gate in self.gates:  # start at sigmoid(0) = 0.5 for both streams
            nn.init.zeros_(gate.weight)
            nn.init.zeros_(gate.bias)
        self.drop = nn.Dropout(self.dropout)

    def _stream(self, mod: ModalityInputs, proj: nn.Module, index: int, b: int, ref: Tensor,
                times: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``[null; projected tokens]`` (B, 1 + N, W) and its mask."""
        null = self.null_tokens[index].to(ref.dtype).expand(b, 1, -1)
        null_mask = torch.ones(b, 1, dtype=torch.bool, device=ref.device)
        if mod.tokens is None:
            return null, null_mask
        tokens = proj(mod.tokens) + self.modality_embed[index].to(ref.dtype)
        if times is not None:
            emb = timestep_embedding(times.reshape(-1), self.width).view(*times.shape, -1)
            tokens = tokens + emb.to(tokens.dtype)
        tokens = torch.where(mod.mask[..., None], tokens, tokens.new_zeros(()))
        return torch.cat([null, tokens], 1), torch.cat([null_mask, mod.mask], 1)

    def embed(self, cond: Mapping | None, t_emb: Tensor) -> dict:
        """Encode the text and video streams together.

        Args:
            cond (Mapping | None): ``text_*`` and ``video_*`` keys (see
                :mod:`mdkit.models.fusion.base`); optional ``video_times``
                (B, F) motion-frame time of each slot.
            t_emb (Tensor): (B, W) timestep embedding.

        Returns:
            dict: ``text_context`` (B, 1 + L, W), ``text_context_mask``,
            ``video_context`` (B, 1 + F, W), ``video_context_mask``,
            ``video_slot_mask`` (B, F) | None, ``video_times`` | None,
            ``text_present`` and ``video_present`` (B,); no prefix.
        """
        b = self._batch(t_emb)
        name = type(self).__name__
        text = gather_modality(cond, 'text', b, self.text_dim, t_emb.device, name)
        video = gather_modality(cond, 'video', b, self.video_dim, t_emb.device, name)
        given_times = (cond or {}).get('video_times')
        if given_times is not None and video.tokens is not None and \
                tuple(given_times.shape) != tuple(video.tokens.shape[:2]):
            raise ValueError(f'{name}: video_times must have shape '
                             f'{tuple(video.tokens.shape[:2])}, got {tuple(given_times.shape)}')
        text_ctx, text_mask = self._stream(text, self.text_proj, 0, b, t_emb)
        video_ctx, video_mask = self._stream(video, self.video_proj, 1, b, t_emb,
                                             given_times if video.tokens is not None else None)
        if self.encoder_layers:
            joint = torch.cat([text_ctx, video_ctx], 1)
            pad = ~torch.cat([text_mask, video_mask], 1)
            for layer in self.encoder:
                joint = layer(joint, src_key_padding_mask=pad)
            text_ctx, video_ctx = joint.split([text_ctx.shape[1], video_ctx.shape[1]], 1)
        text_ctx, video_ctx = self.context_norm(text_ctx), self.context_norm(video_ctx)
        return fusion_outputs(
            text_context=text_ctx, text_context_mask=text_mask, video_context=video_ctx,
            video_context_mask=video_mask, video_slot_mask=video.mask,
            video_times=given_times, text_present=text.present, video_present=video.present)

    def _video_bias(self, i: int, ctx: dict, h_mask: Tensor) -> Tensor | None:
        """(B, H, T, 1 + F) temporal-distance penalty (0 for the null token)."""
        if not self.temporal_bias or ctx['video_slot_mask'] is None:
            return None
        if '_video_dist' not in ctx:  # shared by all layers of one forward
            slots = ctx['video_slot_mask']
            tau = video_slot_times(slots, h_mask, ctx.get('video_times'))
            spacing = (h_mask.sum(1, keepdim=True).clamp_min(1) /
                       slots.sum(1, keepdim=True).clamp_min(1)).to(tau.dtype)
            frames = torch.arange(h_mask.shape[1], device=h_mask.device, dtype=tau.dtype)
            dist = (frames[None, :, None] - tau[:, None, :]).abs() / spacing[:, :, None]
            ctx['_video_dist'] = F.pad(dist, (1, 0))  # null token: no penalty
        slope = F.softplus(self.time_slopes[i])
        return -slope[None, :, None, None] * ctx['_video_dist'][:, None]

    def gate_values(self, i: int, ctx: dict, t_emb: Tensor) -> Tensor:
        """(B, 2) gates of layer ``i`` for the text and the video stream."""
        if not self.dynamic_gates:
            return t_emb.new_ones(t_emb.shape[0], 2)
        flags = torch.stack([ctx['text_present'], ctx['video_present']], 1).to(t_emb.dtype)
        return torch.sigmoid(self.gates[i](torch.cat([t_emb, flags], 1)))

    def layer_forward(self, i: int, h: Tensor, ctx: dict, t_emb: Tensor,
                      h_mask: Tensor) -> Tensor:
        """``h + dropout(g_text * A_text(LN(h)) + g_video * A_video(LN(h)))``.

        Args:
            i (int): Layer index.
            h (Tensor): (B, T, W) motion tokens.
            ctx (dict): From :meth:`embed`.
            t_emb (Tensor): (B, W) timestep embedding (gate input).
            h_mask (Tensor): (B, T) valid frames (for slot times).

        Returns:
            Tensor: (B, T, W).
        """
        x = self.norms[i](h)
        a_text = self.text_attns[i](x, ctx['text_context'], ctx['text_context_mask'])
        a_video = self.video_attns[i](x, ctx['video_context'], ctx['video_context_mask'],
                                      attn_bias=self._video_bias(i, ctx, h_mask))
        g = self.gate_values(i, ctx, t_emb).to(h.dtype)
        return h + self.drop(g[:, 0, None, None] * a_text + g[:, 1, None, None] * a_video)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f', text_dim={self.text_dim}, video_dim={self.video_dim}, '
                f'encoder_layers={self.encoder_layers}, temporal_bias={self.temporal_bias}, '
                f'dynamic_gates={self.dynamic_gates}')

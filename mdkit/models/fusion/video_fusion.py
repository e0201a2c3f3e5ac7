"""Text + video baselines with the DUET interface: concatenated prefix tokens.

Shapes: B batch, T motion frames, F video slots, W denoiser width.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mdkit.models.denoisers.embeddings import timestep_embedding
from mdkit.registry import MODELS

from .base import BaseFusion, fusion_outputs, gather_modality
from .duet import video_slot_times
from .text_fusion import _null_param, _pooled_or_null

__all__ = ['ConcatTokenFusion']


@MODELS.register_module()
class ConcatTokenFusion(BaseFusion):
    """MDM-style concatenation: one text token and the video slots prepended to the motion.

    The denoiser's self-attention sees ``[text; video slots; motion]``; video
    slots carry a sinusoidal embedding of their motion-frame time (given
    ``video_times``, else spread over the motion) plus a learned modality
    embedding. Absent video leaves only masked slots (ignored), absent text the
    learned null token. :meth:`layer_forward` is the identity.

    Args:
        width (int): Denoiser width W.
        num_layers (int): Denoiser layers (unused).
        num_heads (int): Attention heads (unused). Defaults to 4.
        dropout (float): Dropout (unused). Defaults to 0.0.
        text_dim (int): Text feature width. Defaults to 384.
        video_dim (int): Video feature width. Defaults to 768.

    Example:
        >>> import torch
        >>> from mdkit.registry import MODELS
        >>> import mdkit.models.fusion  # registers the blocks
        >>> fusion = MODELS.build(dict(type='ConcatTokenFusion', text_dim=16, video_dim=24,
        ...                            width=32, num_layers=2))
        >>> cond = dict(text_pooled=torch.randn(2, 16), video_tokens=torch.randn(2, 5, 24))
        >>> fusion.embed(cond, torch.randn(2, 32))['prefix'].shape
        torch.Size([2, 6, 32])
    """

    def __init__(self, width: int, num_layers: int, num_heads: int = 4, dropout: float = 0.0,
                 attn_dropout: float | None = None,
                 text_dim: int = 384, video_dim: int = 768) -> None:
        super().__init__(width, num_layers, num_heads, dropout, attn_dropout)
        self.text_dim, self.video_dim = int(text_dim), int(video_dim)
        self.text_proj = nn.Linear(self.text_dim, self.width)
        self.video_proj = nn.Linear(self.video_dim, self.width)
        self.null_token = _null_param(1, self.width)
        self.video_embed = _null_param(self.width)

    def embed(self, cond: Mapping | None, t_emb: Tensor) -> dict:
        """``prefix`` (B, 1 + F, W) = [text or null; video slots], with its mask."""
        b = self._batch(t_emb)
        name = type(self).__name__
        text = gather_modality(cond, 'text', b, self.text_dim, t_emb.device, name)
        video = gather_modality(cond, 'video', b, self.video_dim, t_emb.device, name)
        token = _pooled_or_null(text, self.text_proj, self.null_token.to(t_emb.dtype), b)
        prefix, mask = token[:, None], torch.ones(b, 1, dtype=torch.bool, device=t_emb.device)
        if video.tokens is not None:
            times = (cond or {}).get('video_times')
            if times is None:  # spread over the slots themselves (motion length unknown here)
                times = video_slot_times(video.mask, video.mask)
            slots = self.video_proj(video.tokens) + self.video_embed.to(t_emb.dtype)
            slots = slots + timestep_embedding(times.reshape(-1), self.width).view(
                *times.shape, -1).to(slots.dtype)
            slots = torch.where(video.mask[..., None], slots, slots.new_zeros(()))
            prefix = torch.cat([prefix, slots], 1)
            mask = torch.cat([mask, video.mask], 1)
        return fusion_outputs(prefix=prefix, prefix_mask=mask, text_present=text.present,
                              video_present=video.present)

    def extra_repr(self) -> str:
        return super().extra_repr() + f', text_dim={self.text_dim}, video_dim={self.video_dim}'

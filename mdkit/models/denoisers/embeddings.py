"""Sinusoidal embeddings of diffusion timesteps and motion frame positions."""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ['timestep_embedding', 'sinusoidal_positions']


def _sinusoid(values: Tensor, dim: int, max_period: float) -> Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(max_period)
                      * torch.arange(half, dtype=torch.float32, device=values.device) / half)
    args = values.to(torch.float32)[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, emb.new_zeros(emb.shape[0], 1)], dim=-1)
    return emb


def timestep_embedding(timesteps: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps.

    Args:
        timesteps (Tensor): (B,) integer or float timesteps.
        dim (int): Embedding width W.
        max_period (float): Longest period. Defaults to 10000.

    Returns:
        Tensor: (B, W) float32.

    Example:
        >>> import torch
        >>> timestep_embedding(torch.tensor([0, 10, 999]), 32).shape
        torch.Size([3, 32])
    """
    return _sinusoid(timesteps.reshape(-1), dim, max_period)


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None,
                         dtype: torch.dtype = torch.float32, max_period: float = 10000.0
                         ) -> Tensor:
    """Sinusoidal positional encoding for any number of frames (no length cap).

    Args:
        length (int): Number of frames T.
        dim (int): Width W.
        device (torch.device | None): Device. Defaults to None (CPU).
        dtype (torch.dtype): Output dtype. Defaults to float32.
        max_period (float): Longest period. Defaults to 10000.

    Returns:
        Tensor: (T, W).

    Example:
        >>> sinusoidal_positions(300, 32).shape
        torch.Size([300, 32])
    """
    pos = torch.arange(length, dtype=torch.float32, device=device)
    return _sinusoid(pos, dim, max_period).to(dtype)

"""The interface every text-motion evaluator implements (the T2M metrics depend on nothing else)."""
from __future__ import annotations

import hashlib
import os
from abc import ABCMeta, abstractmethod

import torch
from mmengine.model import BaseModule

__all__ = ['BaseMotionEvaluator', 'file_sha256']


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file (names the exact evaluator weights in results)."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()


class BaseMotionEvaluator(BaseModule, metaclass=ABCMeta):
    """Embeds texts and motions into one space for FID, R-precision, MM-Dist, diversity.

    Subclasses set ``embed_dim`` and ``feature_dim`` (263 for HumanML3D
    features, 251 for KIT-ML), keep their own normalisation statistics and are
    frozen (``eval()``, no gradients) once loaded. The metrics call only
    :meth:`encode_motion`, :meth:`encode_text` and :meth:`identity`.
    """

    embed_dim: int = 0
    feature_dim: int = 263
    unit_length: int = 1

    @abstractmethod
    def encode_motion(self, motion: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Embed motions.

        Args:
            motion (Tensor): (B, T, feature_dim) de-normalised features, zero
                padded after each length.
            lengths (Tensor): (B,) valid frames per motion.

        Returns:
            Tensor: (B, embed_dim) float32 embeddings.
        """

    @abstractmethod
    def encode_text(self, texts: list, tokens: list | None = None) -> torch.Tensor:
        """Embed captions.

        Args:
            texts (list[str]): Captions.
            tokens (list[list[str]] | None): Optional ``word/POS`` tokens per
                caption (the ``#``-separated field of HumanML3D text files);
                evaluators that need them tokenise ``texts`` themselves when absent.

        Returns:
            Tensor: (B, embed_dim) float32 embeddings.
        """

    def identity(self) -> dict:
        """What produced these embeddings: class name, weights file and its hash."""
        ckpt = getattr(self, 'checkpoint', None)
        out = dict(type=type(self).__name__, checkpoint=ckpt)
        if ckpt and os.path.isfile(ckpt):
            out['checkpoint_sha256'] = file_sha256(ckpt)
        return out

    def check_motion(self, motion: torch.Tensor, lengths: torch.Tensor) -> None:
        """Raise a clear error for motions the evaluator cannot embed."""
        if motion.dim() != 3 or motion.shape[-1] != self.feature_dim:
            raise ValueError(f'{type(self).__name__} expects motions of shape (B, T, '
                             f'{self.feature_dim}), got {tuple(motion.shape)}; was the '
                             'evaluator made for another skeleton?')
        if len(lengths) != len(motion):
            raise ValueError(f'{len(lengths)} lengths for {len(motion)} motions')
        if (lengths < 1).any() or (lengths > motion.shape[1]).any():
            raise ValueError(f'lengths must lie in [1, {motion.shape[1]}], got '
                             f'{lengths.tolist()}')
        if not torch.isfinite(motion).all():
            raise ValueError('motion features contain NaN or inf')

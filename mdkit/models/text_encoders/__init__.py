"""Frozen text encoders (``MODELS``): MiniLM offline by default, CLIP/T5/BERT by local path.

Every encoder maps ``list[str]`` to ``tokens`` (B, L, C), ``mask`` (B, L) bool
and ``pooled`` (B, C), and offers ``null_embedding(B)`` for guidance.
"""
from .base import BaseTextEncoder, TextEmbeddingCache, cat_text_embeddings, pad_text_embedding
from .hf_text_encoder import HFTextEncoder
from .minilm_text_encoder import MiniLMTextEncoder, minilm_model_path

__all__ = [
    'BaseTextEncoder', 'TextEmbeddingCache', 'HFTextEncoder', 'MiniLMTextEncoder',
    'minilm_model_path', 'cat_text_embeddings', 'pad_text_embedding'
]

"""Frozen adapters around local Hugging Face ``transformers`` text models.

Shapes: B batch, L text tokens, C channels. ``transformers`` is imported
inside the loaders, never at ``import mdkit``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import os.path as osp

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor

from mdkit.registry import MODELS
from mdkit.utils.frozen_module import (
    NO_DOWNLOAD_HINT,
    hf_progress_bar_disabled,
    resolve_local_folder,
)

from .base import BaseTextEncoder, TextEncoding

__all__ = ['HFTextEncoder', 'MODEL_TYPE_TO_CLASS', 'POOLING_MODES']

#: ``config.json`` ``model_type`` -> ``transformers`` class holding only the text
#: encoder; any other type loads with ``AutoModel`` (the encoder half is kept
#: when the model is an encoder-decoder).
MODEL_TYPE_TO_CLASS = {
    'clip': 'CLIPTextModel',
    'clip_text_model': 'CLIPTextModel',
    't5': 'T5EncoderModel',
    'mt5': 'MT5EncoderModel',
    'umt5': 'UMT5EncoderModel',
}
#: Pooling modes of :class:`HFTextEncoder`.
POOLING_MODES = ('mean', 'cls', 'eos', 'pooler')

def _folder_fingerprint(*folders: str, chunk: int = 1 << 16) -> str:
    """Cheap content fingerprint of the files directly inside ``folders``.

    Hashes each file's name, size and its first and last ``chunk`` bytes, so
    it is fast for multi-GB checkpoints yet tells apart two random models
    saved with the same config.
    """
    h = hashlib.sha1()
    for folder in dict.fromkeys(osp.realpath(f) for f in folders):
        for name in sorted(os.listdir(folder)):
            path = osp.join(folder, name)
            if name.startswith('.') or not osp.isfile(path):
                continue
            size = osp.getsize(path)
            h.update(f'{name}:{size}:'.encode())
            with open(path, 'rb') as f:
                h.update(f.read(chunk))
                if size > chunk:
                    f.seek(max(size - chunk, chunk))
                    h.update(f.read(chunk))
    return h.hexdigest()[:16]


def load_hf_text_model(model_dir: str, tokenizer_dir: str | None = None):
    """Load a text encoder and its tokenizer from local folders, offline.

    The class comes from ``model_type`` in ``config.json``
    (:data:`MODEL_TYPE_TO_CLASS`, else ``AutoModel``); weights load in float32.

    Args:
        model_dir (str): Folder with ``config.json`` and the weights.
        tokenizer_dir (str | None): Folder with the tokenizer files; None uses
            ``model_dir``. Defaults to None.

    Returns:
        tuple: ``(model, tokenizer, model_type)``.
    """
    config_file = osp.join(model_dir, 'config.json')
    if not osp.isfile(config_file):
        raise FileNotFoundError(f'no config.json in {model_dir!r}. {NO_DOWNLOAD_HINT}')
    with open(config_file, encoding='utf-8') as f:
        model_type = json.load(f).get('model_type')
    # batches of captions gain nothing from the tokenizer's thread pool, and a used pool
    # makes every forked DataLoader worker print a warning; respect an explicit choice
    os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
    import transformers

    cls = getattr(transformers, MODEL_TYPE_TO_CLASS.get(model_type, 'AutoModel'))
    tokenizer_dir = tokenizer_dir or model_dir
    with hf_progress_bar_disabled():
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                tokenizer_dir, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise FileNotFoundError(
                f'could not load a tokenizer from {tokenizer_dir!r} ({exc}). Save it there '
                'with `tokenizer.save_pretrained(folder)` or pass `tokenizer_path`. '
                f'{NO_DOWNLOAD_HINT}') from exc
        model = cls.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
    if getattr(model.config, 'is_encoder_decoder', False) and hasattr(model, 'get_encoder'):
        model = model.get_encoder()
    return model, tokenizer, model_type


@MODELS.register_module()
class HFTextEncoder(BaseTextEncoder):
    """Frozen ``transformers`` text model (CLIP text, T5, BERT, DistilBERT) from a local folder.

    The model class is picked from ``model_type`` in the saved ``config.json``:
    ``CLIPTextModel`` for CLIP, ``T5EncoderModel`` for T5, ``AutoModel`` for
    the rest. ``tokens`` is the last hidden state (B, L, C) restricted to the
    real tokens (special tokens included); ``pooled`` (B, C) follows
    ``pooling``:

    * ``'mean'``: attention-masked mean of the tokens (sentence-transformers).
    * ``'cls'``: the first token (BERT ``[CLS]``, CLIP ``<bos>``).
    * ``'eos'``: the last real token (CLIP ``<eos>``, T5 ``</s>``, BERT ``[SEP]``).
    * ``'pooler'``: the model's ``pooler_output`` (CLIP: final-norm ``<eos>``
      state; BERT: tanh dense on ``[CLS]``); only for models that have one.

    Nothing is downloaded: ``model_path`` must be a folder written with
    ``save_pretrained`` (tokenizer files next to the weights, or in
    ``tokenizer_path``). Weights load in float32; use ``.to(dtype)`` to cast.

    Example:
        >>> from mdkit.registry import MODELS
        >>> enc = MODELS.build(dict(  # doctest: +SKIP
        ...     type='HFTextEncoder', model_path='/path/to/clip-vit-base-patch32', pooling='eos'))
        >>> out = enc(['a person walks forward'])  # doctest: +SKIP
        >>> out['tokens'].shape, out['mask'].shape, out['pooled'].shape  # doctest: +SKIP
        (torch.Size([1, 7, 512]), torch.Size([1, 7]), torch.Size([1, 512]))

    Args:
        model_path (str): Local folder of the saved model.
        max_length (int): Most tokens per text, special tokens included;
            longer texts are truncated with a ``UserWarning``. Must not exceed
            the model's ``max_position_embeddings``. Defaults to 77.
        pooling (str): One of ``'mean'``, ``'cls'``, ``'eos'``, ``'pooler'``.
            Defaults to ``'mean'``.
        cache_size (int): Texts kept in the in-memory LRU cache; 0 disables
            it. Defaults to 10000.
        cache_dir (str | None): Folder of the per-text disk cache (``.pt``
            files keyed by a hash of model identity, settings and text); None
            disables it. Defaults to None.
        subfolder (str | None): Sub-folder of ``model_path`` holding the model
            (e.g. ``'text_encoder'``). Defaults to None.
        tokenizer_path (str | None): Folder of the tokenizer; None uses the
            model folder. Defaults to None.
        normalize_pooled (bool): L2-normalise ``pooled``. Defaults to False.
        frozen (bool): Freeze weights, keep eval mode, cache outputs.
            Defaults to True.
    """

    def __init__(self, model_path: str, max_length: int = 77, pooling: str = 'mean',
                 cache_size: int = 10000, cache_dir: str | None = None,
                 subfolder: str | None = None, tokenizer_path: str | None = None,
                 normalize_pooled: bool = False, frozen: bool = True):
        super().__init__(max_length=max_length, cache_size=cache_size, cache_dir=cache_dir,
                         frozen=frozen)
        if pooling not in POOLING_MODES:
            raise ValueError(f'pooling must be one of {POOLING_MODES}, got {pooling!r}')
        if model_path is None:
            raise FileNotFoundError(f'HFTextEncoder needs model_path. {NO_DOWNLOAD_HINT}')
        model_dir = resolve_local_folder(model_path, subfolder, 'model')
        tokenizer_dir = (model_dir if tokenizer_path is None
                         else resolve_local_folder(tokenizer_path, None, 'tokenizer'))
        self.model_path = model_dir
        self.tokenizer_path = tokenizer_dir
        self.pooling = pooling
        self.normalize_pooled = bool(normalize_pooled)
        model, tokenizer, self.model_type = load_hf_text_model(model_dir, tokenizer_dir)
        self.model = model
        self.tokenizer = tokenizer
        self.out_dim = int(model.config.hidden_size)
        max_pos = getattr(model.config, 'max_position_embeddings', None)
        if isinstance(max_pos, int) and self.max_length > max_pos:
            raise ValueError(f'max_length={self.max_length} exceeds the model\'s '
                             f'max_position_embeddings={max_pos}')
        if pooling == 'pooler' and not self._has_pooler():
            raise ValueError(f"pooling='pooler' needs a model with a pooler output (CLIP text, "
                             f"BERT); {type(model).__name__} has none: use 'mean', 'cls' or "
                             "'eos'")
        if tokenizer.pad_token_id is None:  # right-padding value, masked out anyway
            fallback = tokenizer.eos_token or tokenizer.unk_token
            if fallback is None:
                raise ValueError(f'the tokenizer in {tokenizer_dir!r} has no pad, eos or unk '
                                 'token to pad batches with')
            tokenizer.pad_token = fallback
        self._identity = (f'{type(model).__name__}:{_folder_fingerprint(model_dir, tokenizer_dir)}'
                          f':pooling={pooling}:normalize={self.normalize_pooled}')
        self._freeze()
        print_log(f'{type(self).__name__}: loaded {type(model).__name__} from {model_dir} '
                  f'(out_dim={self.out_dim}, pooling={pooling})', logger='current',
                  level=logging.DEBUG)

    def _has_pooler(self) -> bool:
        if self.model_type in ('clip', 'clip_text_model'):
            return True
        return getattr(self.model, 'pooler', None) is not None

    def identity(self) -> str:
        """str: Model class, content fingerprint of the folders, pooling settings."""
        return self._identity

    def _tokenize(self, texts: list[str]) -> tuple[Tensor, Tensor, list[int]]:
        """Token ids (B, L), attention mask (B, L) and untruncated token counts."""
        tok = self.tokenizer
        counts = [len(ids) for ids in tok(texts, add_special_tokens=True, truncation=False,
                                          verbose=False)['input_ids']]
        enc = tok(texts, padding=True, truncation=True, max_length=self.max_length,
                  return_tensors='pt')
        ids, attn = enc['input_ids'], enc['attention_mask']
        empty = attn.sum(1) == 0
        if empty.any():  # a tokenizer without special tokens: keep one (pad) token
            if ids.shape[1] == 0:
                ids = ids.new_full((ids.shape[0], 1), tok.pad_token_id)
                attn = attn.new_zeros(ids.shape)
            attn[empty, 0] = 1
            counts = [max(c, 1) for c in counts]
        return ids, attn, counts

    def _pool(self, hidden: Tensor, attn: Tensor, out) -> Tensor:
        """Pool hidden states (B, L, C) into (B, C)."""
        if self.pooling == 'mean':
            m = attn.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        elif self.pooling == 'cls':
            pooled = hidden[:, 0]
        elif self.pooling == 'eos':
            pos = torch.arange(attn.shape[1], device=attn.device)
            last = (attn.bool() * pos).argmax(1)
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        else:
            pooled = out.pooler_output
        if self.normalize_pooled:
            pooled = F.normalize(pooled, dim=-1)
        return pooled

    def _encode_batch(self, texts: list[str]) -> list[TextEncoding]:
        """Run the tokenizer and the model on texts (no cache)."""
        ids, attn, counts = self._tokenize(texts)
        device = self.device
        ids, attn = ids.to(device), attn.to(device)
        out = self.model(input_ids=ids, attention_mask=attn)
        hidden = out.last_hidden_state
        pooled = self._pool(hidden, attn, out)
        keep = attn.bool()
        return [dict(tokens=hidden[i][keep[i]], pooled=pooled[i], num_tokens=counts[i])
                for i in range(len(texts))]

"""Frozen text encoders: input checks, per-text caching, padding and the null condition.

Shapes: B batch, L text tokens, C channels. Every encoder returns a dict with
``tokens`` (B, L, C) float, ``mask`` (B, L) bool (True = real token) and
``pooled`` (B, C) float, on the encoder's device and in its dtype.
"""
from __future__ import annotations

import hashlib
import logging
import os
import os.path as osp
import tempfile
import warnings
from collections import OrderedDict
from collections.abc import Sequence

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from mdkit.utils.frozen_module import FrozenModuleMixin

__all__ = [
    'BaseTextEncoder', 'TextEncoding', 'TextEmbeddingCache', 'pad_text_embedding',
    'cat_text_embeddings'
]

#: One text's cached encoding: ``tokens`` (L_i, C) real tokens only, ``pooled`` (C,),
#: ``num_tokens`` (int, the length before truncation, special tokens included).
TextEncoding = dict


def pad_text_embedding(emb: dict[str, Tensor], length: int) -> dict[str, Tensor]:
    """Pad ``tokens``/``mask`` of an encoder output to ``length`` tokens.

    Padded positions have zero tokens and ``mask`` False; ``pooled`` is unchanged.

    Args:
        emb (dict[str, Tensor]): ``tokens`` (B, L, C), ``mask`` (B, L), ``pooled`` (B, C).
        length (int): Target number of tokens, at least L.

    Returns:
        dict[str, Tensor]: ``tokens`` (B, length, C), ``mask`` (B, length), ``pooled`` (B, C).
    """
    tokens, mask = emb['tokens'], emb['mask']
    cur = tokens.shape[1]
    if length < cur:
        raise ValueError(f'cannot pad {cur} tokens down to {length}')
    if length == cur:
        return dict(emb)
    extra = length - cur
    tokens = torch.cat([tokens, tokens.new_zeros(tokens.shape[0], extra, tokens.shape[2])], 1)
    mask = torch.cat([mask, mask.new_zeros(mask.shape[0], extra)], 1)
    return dict(emb, tokens=tokens, mask=mask)


def cat_text_embeddings(embs: Sequence[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Concatenate encoder outputs along the batch, padding to the longest L.

    Useful for classifier-free guidance: ``cat_text_embeddings([enc(texts),
    enc.null_embedding(len(texts))])``.

    Args:
        embs (Sequence[dict[str, Tensor]]): Outputs with ``tokens`` (B_i, L_i, C),
            ``mask`` (B_i, L_i) and ``pooled`` (B_i, C).

    Returns:
        dict[str, Tensor]: ``tokens`` (sum B_i, max L_i, C), ``mask`` (sum B_i, max L_i),
        ``pooled`` (sum B_i, C).
    """
    if not embs:
        raise ValueError('cat_text_embeddings needs at least one embedding dict')
    length = max(e['tokens'].shape[1] for e in embs)
    padded = [pad_text_embedding(e, length) for e in embs]
    return {k: torch.cat([p[k] for p in padded], 0) for k in ('tokens', 'mask', 'pooled')}


class TextEmbeddingCache:
    """In-memory LRU cache of per-text encodings plus an optional on-disk cache.

    Entries are keyed by a string the encoder builds from the model identity,
    its settings (``max_length``, pooling, dtype) and the text. On disk each
    entry is one ``.pt`` file named by the SHA-1 of that key (sharded in
    256 sub-folders), written atomically so concurrent workers may share a
    folder. Tensors are stored on the CPU exactly as computed, so a cache hit
    returns bit-identical values.

    Args:
        size (int): Most entries kept in memory; 0 disables the memory cache.
            Defaults to 10000.
        cache_dir (str | None): Folder of the disk cache; None disables it.
            Defaults to None.
    """

    def __init__(self, size: int = 10000, cache_dir: str | None = None):
        if size < 0:
            raise ValueError(f'cache_size must be >= 0, got {size}')
        self.size = int(size)
        self.cache_dir = None if cache_dir is None else osp.abspath(osp.expanduser(cache_dir))
        self._memory: OrderedDict[str, TextEncoding] = OrderedDict()
        self.hits = 0
        self.disk_hits = 0
        self.misses = 0
        if self.cache_dir is not None:
            os.makedirs(self.cache_dir, exist_ok=True)

    def __len__(self) -> int:
        return len(self._memory)

    def clear(self) -> None:
        """Empty the memory cache (the disk cache is left alone)."""
        self._memory.clear()

    @staticmethod
    def _digest(key: str) -> str:
        return hashlib.sha1(key.encode('utf-8')).hexdigest()

    def path(self, key: str) -> str:
        """str: Disk file of ``key`` (whether or not it exists yet)."""
        if self.cache_dir is None:
            raise ValueError('this cache has no cache_dir')
        digest = self._digest(key)
        return osp.join(self.cache_dir, digest[:2], digest + '.pt')

    def get(self, key: str, text: str) -> TextEncoding | None:
        """Return the entry for ``key`` (memory first, then disk) or None."""
        entry = self._memory.get(key)
        if entry is not None:
            self._memory.move_to_end(key)
            self.hits += 1
            return entry
        if self.cache_dir is not None:
            path = self.path(key)
            if osp.isfile(path):
                try:
                    data = torch.load(path, map_location='cpu', weights_only=True)
                except Exception as exc:  # a truncated or foreign file: recompute it
                    print_log(f'ignoring unreadable text cache file {path}: {exc}',
                              logger='current', level=logging.WARNING)
                    data = None
                if data is not None and data.get('key') == key and data.get('text') == text:
                    entry = dict(tokens=data['tokens'], pooled=data['pooled'],
                                 num_tokens=int(data['num_tokens']))
                    self._remember(key, entry)
                    self.disk_hits += 1
                    return entry
        self.misses += 1
        return None

    def _remember(self, key: str, entry: TextEncoding) -> None:
        if self.size == 0:
            return
        self._memory[key] = entry
        self._memory.move_to_end(key)
        while len(self._memory) > self.size:
            self._memory.popitem(last=False)

    def put(self, key: str, text: str, entry: TextEncoding) -> None:
        """Store ``entry`` in memory and, when enabled, on disk."""
        self._remember(key, entry)
        if self.cache_dir is None:
            return
        path = self.path(key)
        os.makedirs(osp.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix='.tmp', dir=osp.dirname(path))
        try:
            with os.fdopen(fd, 'wb') as f:
                torch.save(dict(key=key, text=text, tokens=entry['tokens'],
                                pooled=entry['pooled'], num_tokens=entry['num_tokens']), f)
            os.replace(tmp, path)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise


class BaseTextEncoder(FrozenModuleMixin, nn.Module):
    """Common part of the frozen text encoders: checks, caching, padding, null condition.

    Subclasses set ``out_dim`` and ``max_length`` and implement
    :meth:`_encode_batch` (encode already-validated texts without caching) and
    :meth:`identity` (a string naming the weights, used in cache keys).

    While ``frozen`` (the default) every parameter has ``requires_grad=False``,
    the module stays in eval mode even when a parent calls ``.train()``, the
    forward runs under ``torch.no_grad()`` and outputs are cached per text.

    Args:
        max_length (int): Most tokens per text (special tokens included);
            longer texts are truncated with a warning. Defaults to 77.
        cache_size (int): Texts kept in the in-memory LRU cache; 0 disables it.
            Defaults to 10000.
        cache_dir (str | None): Folder for a per-text disk cache; None
            disables it. Defaults to None.
        frozen (bool): Freeze the weights (see above). With False gradients
            flow, ``.train()`` is honoured and nothing is cached.
            Defaults to True.
    """

    out_dim: int
    max_length: int

    def __init__(self, max_length: int = 77, cache_size: int = 10000,
                 cache_dir: str | None = None, frozen: bool = True):
        super().__init__()
        if int(max_length) < 2:
            raise ValueError(f'max_length must be >= 2, got {max_length}')
        self.max_length = int(max_length)
        # frozen weights come from the pretrained folder, not from checkpoints: they stay out
        # of state dicts (FrozenModuleMixin) and state dicts without them load
        self._init_frozen_weights(frozen)
        if not self.frozen and cache_dir is not None:
            raise ValueError('cache_dir needs frozen=True: a trainable encoder cannot be cached')
        self.cache = TextEmbeddingCache(cache_size if self.frozen else 0,
                                        cache_dir if self.frozen else None)
        self._null_cache: dict[str, TextEncoding] = {}
        # new weights make cached outputs stale: forget them (the disk cache is keyed by
        # the weights folder, so it assumes loaded weights equal that folder's)
        self.register_load_state_dict_post_hook(BaseTextEncoder._forget_cached)

    @staticmethod
    def _forget_cached(module: BaseTextEncoder, incompatible_keys) -> None:
        module.cache.clear()
        module._null_cache.clear()

    # -- to implement --------------------------------------------------------------------
    def identity(self) -> str:
        """str: Names the weights and settings that determine the outputs."""
        raise NotImplementedError

    def _encode_batch(self, texts: list[str]) -> list[TextEncoding]:
        """Encode texts (no checks, no cache).

        Returns:
            list[dict]: Per text ``tokens`` (L_i, C) real tokens only, ``pooled`` (C,),
            ``num_tokens`` (int, the token count before truncation).
        """
        raise NotImplementedError

    def _cache_key(self, text: str) -> str:
        return f'{self.identity()}|max_length={self.max_length}|dtype={self.dtype}|text={text}'

    def cache_file(self, text: str) -> str | None:
        """Disk-cache file of ``text`` for the current settings; None without ``cache_dir``."""
        if self.cache.cache_dir is None:
            return None
        return self.cache.path(self._cache_key(text))

    # -- public API ----------------------------------------------------------------------
    @staticmethod
    def _check_texts(texts) -> list[str]:
        if isinstance(texts, str | bytes):
            raise TypeError('texts must be a list of str, got a single '
                            f'{type(texts).__name__}; wrap one caption in a list')
        if not isinstance(texts, Sequence):
            raise TypeError(f'texts must be a list of str, got {type(texts).__name__}')
        texts = list(texts)
        if not texts:
            raise ValueError('texts is empty: pass at least one caption')
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f'texts[{i}] must be str, got {type(text).__name__}')
            if not text.strip():
                raise ValueError(
                    f'texts[{i}] is empty or whitespace only ({text!r}); call '
                    'null_embedding(batch_size) to request the unconditional (empty-text) '
                    'embedding used by classifier-free guidance')
        return texts

    def _warn_truncated(self, texts: list[str], entries: list[TextEncoding]) -> None:
        long = [(i, e['num_tokens']) for i, e in enumerate(entries)
                if e['num_tokens'] > self.max_length]
        if not long:
            return
        shown = ', '.join(f'texts[{i}] has {n} tokens' for i, n in long[:10])
        more = f' and {len(long) - 10} more' if len(long) > 10 else ''
        warnings.warn(
            f'{type(self).__name__}: {len(long)} of {len(texts)} text(s) longer than '
            f'max_length={self.max_length} tokens were truncated to {self.max_length} '
            f'tokens: {shown}{more}', UserWarning, stacklevel=2)

    def _lookup(self, texts: list[str]) -> list[TextEncoding]:
        """Per-text encodings, from the cache where possible, each text encoded once."""
        if not self.frozen:
            return self._encode_batch(texts)
        entries: dict[str, TextEncoding] = {}
        todo: list[str] = []
        keys = {t: self._cache_key(t) for t in dict.fromkeys(texts)}
        for text, key in keys.items():
            entry = self.cache.get(key, text)
            if entry is None:
                todo.append(text)
            else:
                entries[text] = entry
        if todo:
            with torch.no_grad():
                new = self._encode_batch(todo)
            for text, entry in zip(todo, new):
                entry = dict(tokens=entry['tokens'].detach().to('cpu', copy=True),
                             pooled=entry['pooled'].detach().to('cpu', copy=True),
                             num_tokens=int(entry['num_tokens']))
                self.cache.put(keys[text], text, entry)
                entries[text] = entry
        return [entries[t] for t in texts]

    def _collate(self, entries: list[TextEncoding]) -> dict[str, Tensor]:
        """Pad per-text encodings into a batch on the module's device."""
        length = max(e['tokens'].shape[0] for e in entries)
        first = entries[0]['tokens']
        tokens = first.new_zeros(len(entries), length, first.shape[-1])
        mask = torch.zeros(len(entries), length, dtype=torch.bool)
        for i, e in enumerate(entries):
            n = e['tokens'].shape[0]
            tokens[i, :n] = e['tokens']
            mask[i, :n] = True
        pooled = torch.stack([e['pooled'] for e in entries])
        device = self.device
        return dict(tokens=tokens.to(device), mask=mask.to(device), pooled=pooled.to(device))

    def forward(self, texts: list[str]) -> dict[str, Tensor]:
        """Encode a batch of captions.

        Args:
            texts (list[str]): B non-empty captions. Texts longer than
                ``max_length`` tokens are truncated with one ``UserWarning``
                per call.

        Returns:
            dict[str, Tensor]: ``tokens`` (B, L, C) with L the longest text in
            the batch, ``mask`` (B, L) bool (True = real token, padding False
            and zero), ``pooled`` (B, C); on the module's device and dtype.

        Raises:
            TypeError: ``texts`` is not a list of str.
            ValueError: A text is empty or whitespace only (use
                :meth:`null_embedding` for the unconditional embedding).
        """
        texts = self._check_texts(texts)
        entries = self._lookup(texts)
        self._warn_truncated(texts, entries)
        if self.frozen:
            with torch.no_grad():
                return self._collate(entries)
        return self._stack_trainable(entries)

    def _stack_trainable(self, entries: list[TextEncoding]) -> dict[str, Tensor]:
        """Pad without breaking the autograd graph (``frozen=False``)."""
        length = max(e['tokens'].shape[0] for e in entries)
        tokens, masks = [], []
        for e in entries:
            t = e['tokens']
            pad = length - t.shape[0]
            tokens.append(torch.cat([t, t.new_zeros(pad, t.shape[-1])], 0))
            m = torch.zeros(length, dtype=torch.bool, device=t.device)
            m[:t.shape[0]] = True
            masks.append(m)
        return dict(tokens=torch.stack(tokens), mask=torch.stack(masks),
                    pooled=torch.stack([e['pooled'] for e in entries]))

    def null_embedding(self, batch_size: int, length: int | None = None) -> dict[str, Tensor]:
        """The explicit "no text" condition for classifier-free guidance.

        It is the encoding of the empty string ``""``: the tokenizer's special
        tokens only (``[CLS] [SEP]`` for BERT, ``<bos> <eos>`` for CLIP,
        ``</s>`` for T5), so its mask has at least one valid token and
        attention never sees an all-masked row. It is computed once per dtype
        and cached (not for ``frozen=False``), then repeated over the batch.

        Args:
            batch_size (int): B.
            length (int | None): Pad ``tokens``/``mask`` to this many tokens
                (mask False) so it concatenates with a conditional batch;
                None keeps the natural length. Defaults to None.

        Returns:
            dict[str, Tensor]: ``tokens`` (B, L0, C), ``mask`` (B, L0) bool,
            ``pooled`` (B, C); identical rows, on the module's device and dtype.
        """
        if int(batch_size) < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        if self.frozen:
            key = self._cache_key('')
            entry = self._null_cache.get(key)
            if entry is None:
                with torch.no_grad():
                    new = self._encode_batch([''])[0]
                entry = dict(tokens=new['tokens'].detach().to('cpu', copy=True),
                             pooled=new['pooled'].detach().to('cpu', copy=True),
                             num_tokens=int(new['num_tokens']))
                self._null_cache = {key: entry}
            with torch.no_grad():
                out = self._collate([entry] * int(batch_size))
        else:
            out = self._stack_trainable(self._encode_batch([''])[:1] * int(batch_size))
        if length is not None:
            out = pad_text_embedding(out, int(length))
        return out

    def extra_repr(self) -> str:
        return (f'out_dim={self.out_dim}, max_length={self.max_length}, frozen={self.frozen}, '
                f'cache_size={self.cache.size}, cache_dir={self.cache.cache_dir!r}')

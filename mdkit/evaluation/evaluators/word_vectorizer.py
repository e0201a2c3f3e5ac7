"""GloVe word vectors plus part-of-speech one-hots, the text input of the T2M evaluator.

The published evaluator of Guo et al. (CVPR 2022) reads every caption as
``word/POS`` tokens (HumanML3D / KIT-ML ``texts/*.txt``, second ``#`` field,
POS tags from spaCy) and turns each token into a 300-d GloVe vector and a
15-way POS one-hot. This module reads the published vocabulary files and
applies the same rules:

* the POS one-hot has 15 slots: nine spaCy tags (``VERB NOUN DET ADP NUM AUX
  PRON ADJ ADV``), five "very important word" classes (``Loc_VIP Body_VIP
  Obj_VIP Act_VIP Desc_VIP``) and ``OTHER`` for every other tag;
* a word of the vocabulary that sits in a VIP list takes that VIP class
  whatever its tag (lists are searched in the order above);
* a word missing from the vocabulary becomes ``unk`` with POS ``OTHER``;
* a caption is cut to ``max_text_len`` tokens, framed by ``sos/OTHER`` and
  ``eos/OTHER`` and padded with ``unk/OTHER`` up to ``max_text_len + 2``.

Shapes: L text tokens (``max_text_len + 2``).
"""
from __future__ import annotations

import os.path as osp
import pickle
import re
from collections.abc import Sequence

import numpy as np

__all__ = [
    'POS_ENUMERATOR', 'VIP_WORDS', 'WordVectorizer', 'simple_tokenize', 'load_safe_pickle'
]

#: POS class -> slot of the one-hot (15 slots).
POS_ENUMERATOR: dict[str, int] = {
    'VERB': 0, 'NOUN': 1, 'DET': 2, 'ADP': 3, 'NUM': 4, 'AUX': 5, 'PRON': 6, 'ADJ': 7,
    'ADV': 8, 'Loc_VIP': 9, 'Body_VIP': 10, 'Obj_VIP': 11, 'Act_VIP': 12, 'Desc_VIP': 13,
    'OTHER': 14,
}

#: VIP class -> words that take it whatever their spaCy tag (searched in this order).
VIP_WORDS: dict[str, tuple[str, ...]] = {
    'Loc_VIP': ('left', 'right', 'clockwise', 'counterclockwise', 'anticlockwise', 'forward',
                'back', 'backward', 'up', 'down', 'straight', 'curve'),
    'Body_VIP': ('arm', 'chin', 'foot', 'feet', 'face', 'hand', 'mouth', 'leg', 'waist', 'eye',
                 'knee', 'shoulder', 'thigh'),
    'Obj_VIP': ('stair', 'dumbbell', 'chair', 'window', 'floor', 'car', 'ball', 'handrail',
                'baseball', 'basketball'),
    'Act_VIP': ('walk', 'run', 'swing', 'pick', 'bring', 'kick', 'put', 'squat', 'throw', 'hop',
                'dance', 'jump', 'turn', 'stumble', 'stop', 'sit', 'lift', 'lower', 'raise',
                'wash', 'stand', 'kneel', 'stroll', 'rub', 'bend', 'balance', 'flap', 'jog',
                'shuffle', 'lean', 'rotate', 'spin', 'spread', 'climb'),
    'Desc_VIP': ('slowly', 'carefully', 'fast', 'careful', 'slow', 'quickly', 'happy', 'angry',
                 'sad', 'happily', 'angrily', 'sadly'),
}

# Globals a vocabulary pickle may name: numpy scalars/arrays (indices saved as np.int64).
_PICKLE_ALLOWED = {
    ('numpy', 'dtype'), ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy', 'ndarray'), ('builtins', 'set'), ('builtins', 'frozenset'),
}


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler that builds plain containers and numpy scalars only (no code)."""

    def find_class(self, module: str, name: str):
        if (module, name) in _PICKLE_ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'refusing to load {module}.{name} from a vocabulary file')


def load_safe_pickle(path: str, what: str) -> object:
    """Load a pickle that may hold only lists, dicts, strings, numbers and numpy scalars.

    Args:
        path (str): File to read.
        what (str): What the file is, for error messages.

    Returns:
        object: The unpickled object.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    with open(path, 'rb') as f:
        try:
            return _SafeUnpickler(f).load()
        except pickle.UnpicklingError as err:
            raise ValueError(f'{what} at {path} is not a plain word list/dict: {err}') from err


def simple_tokenize(text: str) -> list[str]:
    """Split a caption into ``word/OTHER`` tokens without a POS tagger.

    Lowercases, deletes hyphens (``t-pose`` -> ``tpose``, as HumanML3D's text
    processing does), cuts clitics such as ``'s`` and keeps alphabetic runs only. Words are neither
    lemmatised nor tagged, so ``kicks`` stays ``kicks`` and every token gets POS
    ``OTHER`` (VIP words still get their VIP class in :class:`WordVectorizer`).

    Args:
        text (str): A caption.

    Returns:
        list[str]: Tokens like ``['a/OTHER', 'man/OTHER', 'kicks/OTHER']``.

    Example:
        >>> simple_tokenize("A man's T-pose, then waves.")
        ['a/OTHER', 'man/OTHER', 'tpose/OTHER', 'then/OTHER', 'waves/OTHER']
    """
    text = text.lower().replace('-', '')
    text = re.sub(r"'[a-z]*", ' ', text)
    return [f'{w}/OTHER' for w in re.findall(r'[a-z]+', text)]


class WordVectorizer:
    """GloVe vectors and POS one-hots for ``word/POS`` tokens.

    Reads the three published files ``{prefix}_data.npy`` (N, 300) float
    vectors, ``{prefix}_words.pkl`` (list of N words) and ``{prefix}_idx.pkl``
    (word -> row). The vocabulary must contain ``unk``; ``sos`` and ``eos``
    fall back to ``unk`` when absent.

    Args:
        glove_dir (str): Folder holding the three files.
        prefix (str): File name prefix. Defaults to ``'our_vab'``.

    Example:
        >>> vec = WordVectorizer('glove')  # doctest: +SKIP
        >>> word_vec, pos_onehot = vec['kick/VERB']  # (300,), (15,) with Act_VIP set
    """

    def __init__(self, glove_dir: str, prefix: str = 'our_vab'):
        self.glove_dir = glove_dir
        data_file = osp.join(glove_dir, f'{prefix}_data.npy')
        if not osp.isfile(data_file):
            raise FileNotFoundError(f'GloVe vectors {prefix}_data.npy not found: {data_file} '
                                    '(set glove_dir to the folder of the published glove files)')
        vectors = np.load(data_file, allow_pickle=False)
        words = load_safe_pickle(osp.join(glove_dir, f'{prefix}_words.pkl'),
                                 f'GloVe word list {prefix}_words.pkl')
        word2idx = load_safe_pickle(osp.join(glove_dir, f'{prefix}_idx.pkl'),
                                    f'GloVe word index {prefix}_idx.pkl')
        if vectors.ndim != 2:
            raise ValueError(f'{data_file} must hold a (N, dim) array, got shape {vectors.shape}')
        if isinstance(words, np.ndarray):
            words = words.tolist()
        if not isinstance(words, (list, tuple)) or not isinstance(word2idx, dict):
            raise ValueError(f'{prefix}_words.pkl must be a list and {prefix}_idx.pkl a dict, got '
                             f'{type(words).__name__} and {type(word2idx).__name__}')
        missing = [w for w in words if w not in word2idx]
        if missing:
            raise ValueError(f'{len(missing)} words of {prefix}_words.pkl have no index in '
                             f'{prefix}_idx.pkl, e.g. {missing[:5]}')
        rows = np.asarray([int(word2idx[w]) for w in words], dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(vectors)):
            raise ValueError(f'{prefix}_idx.pkl points outside the {len(vectors)} rows of '
                             f'{prefix}_data.npy')
        self.word2idx = {w: i for i, w in enumerate(words)}
        self.vectors = np.ascontiguousarray(vectors[rows], dtype=np.float32)
        if 'unk' not in self.word2idx:
            raise ValueError(f'the GloVe vocabulary in {glove_dir} has no "unk" entry')
        self.prefix = prefix

    @property
    def dim(self) -> int:
        """int: Size of one word vector (300 for the published files)."""
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.word2idx)

    def __contains__(self, word: str) -> bool:
        return word in self.word2idx

    @staticmethod
    def pos_onehot(pos: str) -> np.ndarray:
        """(15,) float32 one-hot of a POS class; unknown classes map to ``OTHER``."""
        out = np.zeros(len(POS_ENUMERATOR), dtype=np.float32)
        out[POS_ENUMERATOR.get(pos, POS_ENUMERATOR['OTHER'])] = 1.0
        return out

    @staticmethod
    def vip_class(word: str) -> str | None:
        """The VIP class of ``word`` or None."""
        for key, words in VIP_WORDS.items():
            if word in words:
                return key
        return None

    @staticmethod
    def split_token(token: str) -> tuple[str, str]:
        """Split ``word/POS`` at its last ``/``; a token without ``/`` gets POS ``OTHER``."""
        word, sep, pos = token.rpartition('/')
        return (word, pos) if sep else (token, 'OTHER')

    def __getitem__(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """Vector and POS one-hot of one ``word/POS`` token.

        Args:
            token (str): e.g. ``'kick/VERB'``.

        Returns:
            tuple[np.ndarray, np.ndarray]: (dim,) word vector and (15,) POS one-hot.
        """
        word, pos = self.split_token(token)
        if word in self.word2idx:
            vip = self.vip_class(word)
            return self.vectors[self.word2idx[word]], self.pos_onehot(vip or pos)
        return self.vectors[self.word2idx['unk']], self.pos_onehot('OTHER')

    def process_tokens(self, tokens: Sequence[str],
                       max_text_len: int = 20) -> tuple[np.ndarray, np.ndarray, int]:
        """Frame, crop/pad and vectorise one caption like the evaluation protocol.

        Args:
            tokens (Sequence[str]): ``word/POS`` tokens of one caption.
            max_text_len (int): Most caption tokens kept. Defaults to 20.

        Returns:
            tuple[np.ndarray, np.ndarray, int]: (L, dim) word vectors, (L, 15)
            POS one-hots with L = ``max_text_len + 2``, and the number of real
            tokens (``sos`` and ``eos`` included).
        """
        tokens = ['sos/OTHER'] + list(tokens[:max_text_len]) + ['eos/OTHER']
        length = len(tokens)
        tokens += ['unk/OTHER'] * (max_text_len + 2 - length)
        vecs, pos = zip(*(self[t] for t in tokens))
        return np.stack(vecs), np.stack(pos), length

"""The text-motion matching evaluator of Guo et al. (CVPR 2022) used by the T2M metrics.

Three networks, named and shaped like the published ones so that the
published weights (``t2m/text_mot_match/model/finest.tar`` for HumanML3D,
``kit/text_mot_match/model/finest.tar`` for KIT-ML) load into them unchanged:

* :class:`MovementConvEncoder`: two stride-2 1-D convolutions (kernel 4,
  dropout 0.2, LeakyReLU 0.2) and a linear layer; (B, T, D - 4) -> (B, T // 4, 512).
  The last 4 feature channels (foot contacts) are not used.
* :class:`MotionEncoderBiGRUCo`: linear 512 -> 1024, bidirectional GRU with
  a learned initial state over ``length // 4`` steps, MLP 2048 -> 1024 -> 512.
* :class:`TextEncoderBiGRUCo`: GloVe vector (300) plus a linear map of the
  15-way POS one-hot, linear 300 -> 512, bidirectional GRU with a learned
  initial state, MLP 1024 -> 512 -> 512.

Shapes: B batch, T frames, D feature dim, L text tokens.
"""
from __future__ import annotations

import logging
import os.path as osp
import pickle
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from mmengine.logging import print_log
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from mdkit.registry import MODELS
from mdkit.utils import state_dict_mismatch

from .base import BaseMotionEvaluator, file_sha256
from .word_vectorizer import POS_ENUMERATOR, WordVectorizer, simple_tokenize

__all__ = [
    'MovementConvEncoder', 'MotionEncoderBiGRUCo', 'TextEncoderBiGRUCo', 'T2MEvaluator',
    'load_t2m_checkpoint'
]

#: Feature size per dataset name (HumanML3D is called ``t2m`` in the published code).
DATASET_FEATURE_DIMS = {'humanml3d': 263, 't2m': 263, 'kit': 251, 'kit-ml': 251, 'kitml': 251}
#: Published folder (under the checkpoints root) of the Mean/Std the evaluator was trained with.
_PUBLISHED_META = {263: osp.join('t2m', 'Comp_v6_KLD01', 'meta'),
                   251: osp.join('kit', 'Comp_v6_KLD005', 'meta')}
_CHECKPOINT_WHAT = 'the published evaluator checkpoint t2m/text_mot_match/model/finest.tar'
_PARTS = ('movement_encoder', 'text_encoder', 'motion_encoder')


def _init_weights(module: nn.Module) -> None:
    """Xavier-normal weights and zero biases for convolutions and linear layers."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _bigru_last(gru: nn.GRU, init_hidden: Tensor, inputs: Tensor, lengths: Tensor) -> Tensor:
    """Run a bidirectional GRU over the first ``lengths`` steps and join both final states.

    Args:
        gru (nn.GRU): Bidirectional, batch-first, one layer.
        init_hidden (Tensor): (2, 1, H) learned initial state.
        inputs (Tensor): (B, T, H) inputs.
        lengths (Tensor): (B,) valid steps, each in [1, T]; any order.

    Returns:
        Tensor: (B, 2H) forward and backward final states, in the input order.
    """
    hidden = init_hidden.expand(-1, inputs.shape[0], -1).contiguous()
    packed = pack_padded_sequence(inputs, lengths.detach().cpu().long(), batch_first=True,
                                  enforce_sorted=False)
    _, last = gru(packed, hidden)  # unsorted back to the input order by nn.GRU
    return torch.cat([last[0], last[1]], dim=-1)


class MovementConvEncoder(nn.Module):
    """Downsample motion features 4x in time with two strided convolutions.

    Args:
        input_size (int): Feature size without foot contacts (259 HumanML3D, 247 KIT).
        hidden_size (int): Channels after the first convolution. Defaults to 512.
        output_size (int): Output channels. Defaults to 512.

    Example:
        >>> enc = MovementConvEncoder(259)
        >>> enc(torch.zeros(2, 40, 259)).shape
        torch.Size([2, 10, 512])
    """

    def __init__(self, input_size: int, hidden_size: int = 512, output_size: int = 512):
        super().__init__()
        # Indices 0 and 3 carry weights: state-dict keys main.0.* and main.3.*.
        self.main = nn.Sequential(
            nn.Conv1d(input_size, hidden_size, 4, 2, 1),
            nn.Dropout(0.2),
            nn.LeakyReLU(0.2),
            nn.Conv1d(hidden_size, output_size, 4, 2, 1),
            nn.Dropout(0.2),
            nn.LeakyReLU(0.2),
        )
        self.out_net = nn.Linear(output_size, output_size)
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, input_size) -> (B, T // 4, output_size)."""
        return self.out_net(self.main(x.transpose(1, 2)).transpose(1, 2))


class MotionEncoderBiGRUCo(nn.Module):
    """Pool movement codes into one motion embedding with a bidirectional GRU.

    Args:
        input_size (int): Movement code size. Defaults to 512.
        hidden_size (int): GRU hidden size per direction. Defaults to 1024.
        output_size (int): Embedding size. Defaults to 512.

    Example:
        >>> enc = MotionEncoderBiGRUCo()
        >>> enc(torch.zeros(2, 10, 512), torch.tensor([10, 7])).shape
        torch.Size([2, 512])
    """

    def __init__(self, input_size: int = 512, hidden_size: int = 1024, output_size: int = 512):
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(
            nn.Linear(hidden_size * 2, hidden_size),
            nn.LayerNorm(hidden_size),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_size, output_size),
        )
        _init_weights(self)
        self.hidden_size = hidden_size
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden_size))

    def forward(self, movements: Tensor, lengths: Tensor) -> Tensor:
        """(B, T', input_size) codes and (B,) valid codes -> (B, output_size)."""
        last = _bigru_last(self.gru, self.hidden, self.input_emb(movements), lengths)
        return self.output_net(last)


class TextEncoderBiGRUCo(nn.Module):
    """Embed a caption from word vectors and POS one-hots with a bidirectional GRU.

    Args:
        word_size (int): Word vector size. Defaults to 300.
        pos_size (int): POS one-hot size. Defaults to 15.
        hidden_size (int): GRU hidden size per direction. Defaults to 512.
        output_size (int): Embedding size. Defaults to 512.

    Example:
        >>> enc = TextEncoderBiGRUCo()
        >>> enc(torch.zeros(2, 22, 300), torch.zeros(2, 22, 15), torch.tensor([5, 9])).shape
        torch.Size([2, 512])
    """

    def __init__(self, word_size: int = 300, pos_size: int = 15, hidden_size: int = 512,
                 output_size: int = 512):
        super().__init__()
        self.pos_emb = nn.Linear(pos_size, word_size)
        self.input_emb = nn.Linear(word_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(
            nn.Linear(hidden_size * 2, hidden_size),
            nn.LayerNorm(hidden_size),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_size, output_size),
        )
        _init_weights(self)
        self.hidden_size = hidden_size
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden_size))

    def forward(self, word_embs: Tensor, pos_onehot: Tensor, lengths: Tensor) -> Tensor:
        """(B, L, word_size), (B, L, pos_size) and (B,) valid tokens -> (B, output_size)."""
        inputs = self.input_emb(word_embs + self.pos_emb(pos_onehot))
        return self.output_net(_bigru_last(self.gru, self.hidden, inputs, lengths))


def load_t2m_checkpoint(path: str, allow_unsafe_load: bool = False) -> dict:
    """Read a published evaluator checkpoint (``finest.tar``) on the CPU.

    The published files hold only state dicts, optimizer states and integers,
    so they load with ``weights_only=True``. Should that fail (an unusual
    re-save), the file is unpickled with ``weights_only=False`` only when
    ``allow_unsafe_load`` is True, since that can run code stored in the file.

    Args:
        path (str): Checkpoint file.
        allow_unsafe_load (bool): Fall back to full unpickling of a file you
            trust. Defaults to False.

    Returns:
        dict: The checkpoint, with at least ``movement_encoder``,
        ``text_encoder`` and ``motion_encoder`` state dicts.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{_CHECKPOINT_WHAT} (or its KIT-ML counterpart) not found: '
                                f'{path}')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as err:
        if not allow_unsafe_load:
            raise RuntimeError(
                f'could not load the evaluator checkpoint {path} with weights_only=True ({err}). '
                'The published finest.tar holds only tensors and numbers; if you trust this '
                'file, pass allow_unsafe_load=True to unpickle it fully.') from err
        print_log(f'T2MEvaluator: {path} is not loadable with weights_only=True ({err}); '
                  'loading it with weights_only=False because allow_unsafe_load=True',
                  logger='current', level=logging.WARNING)
        ckpt = torch.load(path, map_location='cpu', weights_only=False)
    if not isinstance(ckpt, Mapping):
        raise RuntimeError(f'{path} holds a {type(ckpt).__name__}, expected a dict with the keys '
                           f'{list(_PARTS)}')
    return dict(ckpt)


def _state_dict_problems(part: str, module: nn.Module, state: object) -> list[str]:
    """Missing, unexpected and shape-mismatched keys of one network's state dict."""
    if not isinstance(state, Mapping):
        return [f'{part}: expected a state dict, got {type(state).__name__}']
    missing, unexpected, mismatched = state_dict_mismatch(module.state_dict(), state)
    problems = [f'{part}: missing key {k}' for k in missing]
    problems += [f'{part}: unexpected key {k}' for k in unexpected]
    for key, value, ref in mismatched:
        if not isinstance(value, Tensor):
            problems.append(f'{part}: {key} is a {type(value).__name__}, not a tensor')
        else:
            problems.append(f'{part}: {key} has shape {tuple(value.shape)} in the checkpoint, '
                            f'{tuple(ref.shape)} in the model')
    return problems


def _load_array(path: str, what: str) -> np.ndarray:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    return np.load(path, allow_pickle=False)


@MODELS.register_module()
class T2MEvaluator(BaseMotionEvaluator):
    """Text-motion matching evaluator of Guo et al. (CVPR 2022) for HumanML3D / KIT-ML.

    Embeds motions and captions into one 512-d space for FID, R-precision,
    MM-Dist, diversity and multimodality, following the published protocol:

    * motions are normalised with the evaluator's own Mean/Std (published in
      ``t2m/Comp_v6_KLD01/meta/{mean,std}.npy`` for HumanML3D and
      ``kit/Comp_v6_KLD005/meta`` for KIT-ML; the dataset ``Mean.npy`` /
      ``Std.npy`` differ slightly and give close but not identical numbers);
    * each length is rounded down to a multiple of ``unit_length`` = 4 and
      frames from there on are zeroed after normalisation (the protocol crops
      motions to such lengths and zero-pads them to 196 frames; the
      computation runs on ``max(max_motion_length, longest length)`` frames so
      the embedding never depends on the caller's padding);
    * captions are ``word/POS`` tokens, cut to ``max_text_len`` = 20 and framed
      by ``sos``/``eos`` (see :class:`WordVectorizer`).

    When ``tokens`` are not given, :meth:`encode_text` tokenises the captions
    itself (:func:`simple_tokenize`: lowercase, alphabetic words, no
    lemmatisation, POS ``OTHER`` except for VIP words). Published numbers used
    spaCy lemmas and POS tags, so pass the HumanML3D ``word/POS`` tokens when
    comparing with them.

    Built without ``checkpoint`` the networks are randomly initialised (for
    tests); with one, every state dict must match exactly. The evaluator is
    frozen: always in eval mode, no parameter requires gradients.

    Args:
        dataset (str): ``'humanml3d'`` (alias ``'t2m'``, 263-d features) or
            ``'kit'`` (251-d). Defaults to ``'humanml3d'``.
        checkpoint (str | None): Published ``finest.tar`` (keys
            ``movement_encoder``, ``text_encoder``, ``motion_encoder``).
            Defaults to None (random weights).
        glove_dir (str | None): Folder with ``our_vab_data.npy``,
            ``our_vab_words.pkl`` and ``our_vab_idx.pkl``; needed by
            :meth:`encode_text`. Defaults to None.
        mean_std_dir (str | None): Folder with ``mean.npy``/``std.npy`` (the
            published ``meta`` layout) or ``Mean.npy``/``Std.npy`` (dataset
            layout). When it and the explicit files are None and a checkpoint
            is given, the published ``<root>/t2m/Comp_v6_KLD01/meta`` (KIT:
            ``kit/Comp_v6_KLD005/meta``) next to it is used if present.
            Defaults to None.
        mean_file (str | None): Explicit mean file; needs ``std_file``. Defaults to None.
        std_file (str | None): Explicit std file; needs ``mean_file``. Defaults to None.
        max_text_len (int): Most caption tokens kept. Defaults to 20.
        max_motion_length (int): Frames the protocol pads motions to. Defaults to 196.
        allow_unsafe_load (bool): See :func:`load_t2m_checkpoint`. Defaults to False.
        init_cfg (dict | None): Unused (weights come from ``checkpoint``). Defaults to None.

    Example:
        >>> from mdkit.registry import MODELS
        >>> ev = MODELS.build(dict(type='T2MEvaluator', dataset='humanml3d'))
        >>> ev.encode_motion(torch.zeros(2, 60, 263), torch.tensor([60, 41])).shape
        torch.Size([2, 512])
    """

    embed_dim = 512
    unit_length = 4

    def __init__(self,
                 dataset: str = 'humanml3d',
                 checkpoint: str | None = None,
                 glove_dir: str | None = None,
                 mean_std_dir: str | None = None,
                 mean_file: str | None = None,
                 std_file: str | None = None,
                 max_text_len: int = 20,
                 max_motion_length: int = 196,
                 allow_unsafe_load: bool = False,
                 init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        key = dataset.lower()
        if key not in DATASET_FEATURE_DIMS:
            raise ValueError(f'T2MEvaluator: unknown dataset {dataset!r}; use one of '
                             f'{sorted(DATASET_FEATURE_DIMS)}')
        self.dataset = key
        self.feature_dim = DATASET_FEATURE_DIMS[key]
        self.max_text_len = int(max_text_len)
        self.max_motion_length = int(max_motion_length)
        self.checkpoint = checkpoint
        self.glove_dir = glove_dir

        self.movement_encoder = MovementConvEncoder(self.feature_dim - 4, 512, 512)
        self.motion_encoder = MotionEncoderBiGRUCo(512, 1024, self.embed_dim)
        self.text_encoder = TextEncoderBiGRUCo(300, len(POS_ENUMERATOR), 512, self.embed_dim)

        self.epoch = None
        if checkpoint is not None:
            self._load_weights(checkpoint, allow_unsafe_load)

        self.word_vectorizer = None
        if glove_dir is not None:
            self.word_vectorizer = WordVectorizer(glove_dir)
            if self.word_vectorizer.dim != 300:
                raise ValueError(f'GloVe vectors our_vab_data.npy in {glove_dir} are '
                                 f'{self.word_vectorizer.dim}-d; the evaluator needs 300-d')

        self.mean_file, self.std_file = self._find_mean_std(mean_std_dir, mean_file, std_file)
        if self.mean_file is None:
            mean = np.zeros(self.feature_dim, np.float32)
            std = np.ones(self.feature_dim, np.float32)
        else:
            mean = self._check_stat(_load_array(self.mean_file, 'evaluator mean'), 'mean',
                                    self.mean_file)
            std = self._check_stat(_load_array(self.std_file, 'evaluator std'), 'std',
                                   self.std_file)
            if (std <= 0).any():
                raise ValueError(f'evaluator std {self.std_file} has {int((std <= 0).sum())} '
                                 'non-positive entries')
        self.register_buffer('mean', torch.from_numpy(mean), persistent=False)
        self.register_buffer('std', torch.from_numpy(std), persistent=False)

        self.requires_grad_(False)
        self.eval()

    # ------------------------------------------------------------------ loading
    def _load_weights(self, checkpoint: str, allow_unsafe_load: bool) -> None:
        ckpt = load_t2m_checkpoint(checkpoint, allow_unsafe_load)
        problems = []
        for part in _PARTS:
            if part not in ckpt:
                problems.append(f'{part}: missing from the checkpoint (keys: {sorted(ckpt)})')
                continue
            problems += _state_dict_problems(part, getattr(self, part), ckpt[part])
        if problems:
            hint = ''
            conv = ckpt.get('movement_encoder', {})
            conv = conv.get('main.0.weight') if isinstance(conv, Mapping) else None
            if isinstance(conv, Tensor) and conv.dim() == 3 and \
                    conv.shape[1] != self.feature_dim - 4:
                hint = (f'\nThe checkpoint takes {conv.shape[1] + 4}-d motion features, this '
                        f'evaluator {self.feature_dim}-d (dataset {self.dataset!r}): was it made '
                        'for the other dataset?')
            shown = problems[:20] + ([f'... and {len(problems) - 20} more']
                                     if len(problems) > 20 else [])
            raise RuntimeError(f'T2MEvaluator: {checkpoint} does not match the published '
                               f'evaluator layout ({len(problems)} problems):\n  ' +
                               '\n  '.join(shown) + hint)
        for part in _PARTS:
            getattr(self, part).load_state_dict(ckpt[part], strict=True)
        self.epoch = ckpt.get('epoch')
        print_log(f'T2MEvaluator: loaded {checkpoint} (epoch {self.epoch})', logger='current')

    def _find_mean_std(self, mean_std_dir: str | None, mean_file: str | None,
                       std_file: str | None) -> tuple[str | None, str | None]:
        if (mean_file is None) != (std_file is None):
            raise ValueError('T2MEvaluator: give both mean_file and std_file, or neither')
        if mean_file is not None:
            if mean_std_dir is not None:
                raise ValueError('T2MEvaluator: give mean_std_dir or mean_file/std_file, not both')
            return mean_file, std_file
        if mean_std_dir is not None:
            for names in (('mean.npy', 'std.npy'), ('Mean.npy', 'Std.npy')):
                paths = tuple(osp.join(mean_std_dir, n) for n in names)
                if all(osp.isfile(p) for p in paths):
                    return paths
            raise FileNotFoundError(
                f'evaluator Mean/Std not found in {mean_std_dir}: expected mean.npy and std.npy '
                '(published meta folder) or Mean.npy and Std.npy (dataset folder)')
        if self.checkpoint is None:
            return None, None
        # <root>/<t2m|kit>/text_mot_match/model/finest.tar -> <root>/<t2m|kit>/Comp_v6_*/meta
        root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(self.checkpoint)))))
        meta = osp.join(root, _PUBLISHED_META[self.feature_dim])
        paths = (osp.join(meta, 'mean.npy'), osp.join(meta, 'std.npy'))
        if all(osp.isfile(p) for p in paths):
            return paths
        raise FileNotFoundError(
            f'T2MEvaluator: no Mean/Std for the evaluator (looked for {paths[0]}). The published '
            f'evaluator normalises with {_PUBLISHED_META[self.feature_dim]}/{{mean,std}}.npy; '
            'pass mean_std_dir (or mean_file/std_file)')

    def _check_stat(self, arr: np.ndarray, name: str, path: str) -> np.ndarray:
        if arr.size != self.feature_dim or arr.ndim > 2:
            raise ValueError(f'evaluator {name} {path} has shape {arr.shape}, expected '
                             f'({self.feature_dim},) for dataset {self.dataset!r}; was it made '
                             'for the other dataset?')
        arr = arr.reshape(-1).astype(np.float32)
        if not np.isfinite(arr).all():
            raise ValueError(f'evaluator {name} {path} contains NaN or inf')
        return arr

    # -------------------------------------------------------------- frozen state
    def train(self, mode: bool = True) -> T2MEvaluator:
        """Stay in eval mode whatever ``mode`` is (the evaluator is frozen)."""
        return super().train(False)

    def init_weights(self) -> None:
        """Keep the loaded (or constructor-initialised) weights."""
        self._is_init = True

    # ------------------------------------------------------------------ encoding
    @torch.no_grad()
    def encode_motion(self, motion: Tensor, lengths: Tensor) -> Tensor:
        """Embed motions.

        Args:
            motion (Tensor): (B, T, D) de-normalised features, D = ``feature_dim``.
            lengths (Tensor): (B,) valid frames, each at least ``unit_length``;
                rounded down to a multiple of ``unit_length``.

        Returns:
            Tensor: (B, 512) float32 embeddings on the evaluator's device, in input order.
        """
        lengths = torch.as_tensor(lengths).detach().cpu().long().reshape(-1)
        self.check_motion(motion, lengths)
        if (lengths < self.unit_length).any():
            raise ValueError(f'T2MEvaluator needs at least {self.unit_length} frames per motion, '
                             f'got lengths {lengths.tolist()}')
        device = self.mean.device
        if len(lengths) == 0:
            return torch.zeros(0, self.embed_dim, device=device)
        valid = lengths // self.unit_length * self.unit_length
        frames = max(self.max_motion_length, int(valid.max()))
        x = motion.detach().to(device=device, dtype=torch.float32)[:, :frames]
        x = (x - self.mean) / self.std
        if x.shape[1] < frames:
            x = torch.cat([x, x.new_zeros(x.shape[0], frames - x.shape[1], x.shape[2])], 1)
        keep = torch.arange(frames, device=device)[None] < valid.to(device)[:, None]
        x = torch.where(keep[..., None], x, torch.zeros((), device=device))
        movements = self.movement_encoder(x[..., :-4])
        return self.motion_encoder(movements, valid // self.unit_length)

    def vectorize_text(self, texts: Sequence[str], tokens: Sequence | None = None
                       ) -> tuple[Tensor, Tensor, Tensor]:
        """Word vectors, POS one-hots and lengths of captions, as the text encoder reads them.

        Args:
            texts (Sequence[str]): Captions.
            tokens (Sequence | None): Per caption a list of ``word/POS`` tokens
                or one space-separated string of them; None tokenises ``texts``
                with :func:`simple_tokenize`. Defaults to None.

        Returns:
            tuple[Tensor, Tensor, Tensor]: (B, L, 300) word vectors, (B, L, 15)
            POS one-hots with L = ``max_text_len + 2``, and (B,) lengths.
        """
        if self.word_vectorizer is None:
            raise RuntimeError('T2MEvaluator has no word vectors: pass glove_dir (the folder of '
                               'our_vab_data.npy, our_vab_words.pkl, our_vab_idx.pkl)')
        if isinstance(texts, str):
            raise TypeError('texts must be a list of captions, not one string')
        if tokens is None:
            tokens = [simple_tokenize(t) for t in texts]
        elif len(tokens) != len(texts):
            raise ValueError(f'{len(tokens)} token lists for {len(texts)} texts')
        tokens = [t.split() if isinstance(t, str) else list(t) for t in tokens]
        words, pos, lens = [], [], []
        for toks in tokens:
            w, p, n = self.word_vectorizer.process_tokens(toks, self.max_text_len)
            words.append(w)
            pos.append(p)
            lens.append(n)
        size = self.max_text_len + 2
        if not words:
            return torch.zeros(0, size, 300), torch.zeros(0, size, 15), torch.zeros(0).long()
        return (torch.from_numpy(np.stack(words)), torch.from_numpy(np.stack(pos)),
                torch.tensor(lens, dtype=torch.long))

    @torch.no_grad()
    def encode_text(self, texts: list, tokens: list | None = None) -> Tensor:
        """Embed captions.

        Args:
            texts (list[str]): Captions.
            tokens (list[list[str]] | None): ``word/POS`` tokens per caption
                (the ``#``-separated field of HumanML3D text files; a
                space-separated string also works). None tokenises ``texts``
                without a POS tagger (see the class notes). Defaults to None.

        Returns:
            Tensor: (B, 512) float32 embeddings on the evaluator's device, in input order.
        """
        words, pos, lens = self.vectorize_text(texts, tokens)
        device = self.mean.device
        if len(lens) == 0:
            return torch.zeros(0, self.embed_dim, device=device)
        return self.text_encoder(words.to(device), pos.to(device), lens)

    def identity(self) -> dict:
        """What produced these embeddings: weights, word vectors and normalisation, with hashes."""
        out = super().identity()
        out.update(dataset=self.dataset, epoch=self.epoch, embed_dim=self.embed_dim,
                   feature_dim=self.feature_dim, unit_length=self.unit_length,
                   max_text_len=self.max_text_len, max_motion_length=self.max_motion_length,
                   glove_dir=self.glove_dir, mean_file=self.mean_file, std_file=self.std_file)
        if self.word_vectorizer is not None:
            data = osp.join(self.glove_dir, f'{self.word_vectorizer.prefix}_data.npy')
            out['glove_sha256'] = file_sha256(data)
        for name in ('mean_file', 'std_file'):
            if out[name] is not None:
                out[name.replace('_file', '_sha256')] = file_sha256(out[name])
        return out

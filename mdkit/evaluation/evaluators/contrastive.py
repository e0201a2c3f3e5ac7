"""mdkit's own text-motion retrieval evaluator, trainable on any HumanML3D-format dataset.

A transformer motion encoder and the frozen MiniLM sentence embedding, each
with a projection head into one unit-norm space, trained with a symmetric
InfoNCE loss (``ContrastiveEvaluatorModel``, driven by
``tools/train_evaluator.py``). The exported checkpoint holds the architecture,
the normalisation statistics and the fingerprint of the training data, so a
metric computed with it always names the evaluator it came from.
"""
from __future__ import annotations

import hashlib
import os
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from mdkit.models.denoisers.embeddings import sinusoidal_positions
from mdkit.models.text_encoders.base import BaseTextEncoder
from mdkit.registry import MODELS
from mdkit.utils import state_dict_mismatch
from mdkit.utils.registry_utils import build_from_cfg_checked

from .base import BaseMotionEvaluator

__all__ = ['ContrastiveEvaluator', 'ContrastiveEvaluatorModel', 'dataset_fingerprint',
           'load_evaluator_checkpoint']

CHECKPOINT_FORMAT = 'mdkit-contrastive-evaluator-v1'


def dataset_fingerprint(dataset) -> dict:
    """Name a dataset's content: root, split, clip ids and Mean/Std, hashed.

    Args:
        dataset: A ``HumanML3DDataset``-like object with ``data_root``, ``split``
            and ``get_data_info(i)`` (dicts with ``sample_id``).

    Returns:
        dict: ``data_root``, ``split``, ``num_samples`` and ``sha256`` of the
        sorted sample ids plus the Mean/Std files (when present).
    """
    ids = sorted(str(dataset.get_data_info(i).get('sample_id')) for i in range(len(dataset)))
    h = hashlib.sha256('\n'.join(ids).encode())
    root = getattr(dataset, 'data_root', '') or ''
    for name in ('Mean.npy', 'Std.npy'):
        path = osp.join(root, name)
        if osp.isfile(path):
            with open(path, 'rb') as f:
                h.update(f.read())
    return dict(data_root=osp.abspath(root) if root else None,
                split=getattr(dataset, 'split', None), num_samples=len(ids),
                sha256=h.hexdigest())


def load_evaluator_checkpoint(path: str) -> dict:
    """Read an exported evaluator checkpoint, with clear errors.

    Args:
        path (str): File written by ``tools/train_evaluator.py``.

    Returns:
        dict: ``format``, ``arch`` (constructor arguments), ``state_dict`` and
        ``meta`` (dataset fingerprint, training iterations, test retrieval).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'evaluator checkpoint not found: {path}; train one with '
            'tools/train_evaluator.py configs/evaluators/<config>.py')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # corrupt or not a torch file
        raise ValueError(f'cannot read evaluator checkpoint {path}: {e}') from e
    if not isinstance(ckpt, dict) or ckpt.get('format') != CHECKPOINT_FORMAT:
        raise ValueError(
            f'{path} is not an exported mdkit contrastive evaluator (expected format '
            f'{CHECKPOINT_FORMAT!r}); a training checkpoint (iter_*.pth) must be exported '
            'with tools/train_evaluator.py --export-only')
    return ckpt


@MODELS.register_module()
class ContrastiveEvaluator(BaseMotionEvaluator):
    """Text and motion encoders into one unit-norm embedding space.

    Motion: per-frame features normalised with the stored Mean/Std, grouped
    into patches of ``patch_size`` frames (lengths are floored to a multiple
    of it, at least one patch, like the unit length of Guo et al.'s
    evaluator), a linear input layer, sinusoidal positions, a pre-norm
    transformer encoder over the valid patches, a masked mean over time and
    a projection. Text: the
    frozen text encoder's pooled sentence embedding through a two-layer
    projection. Both outputs are L2-normalised, so Euclidean distances (used
    by FID, R-precision, MM-Dist and diversity) rank like cosine similarity.

    Build it for training from the architecture arguments and the dataset's
    Mean/Std files, or for evaluation from ``checkpoint`` alone (the file
    stores the architecture); the model is then frozen.

    Args:
        checkpoint (str | None): Exported evaluator (see
            ``tools/train_evaluator.py``). When given, every architecture
            argument comes from the file. Defaults to None.
        feature_dim (int): Motion feature width (263 HumanML3D, 251 KIT-ML).
        embed_dim (int): Joint embedding width. Defaults to 256.
        width (int): Motion transformer width. Defaults to 256.
        num_layers (int): Transformer layers. Defaults to 4.
        num_heads (int): Attention heads. Defaults to 4.
        ff_dim (int): Feed-forward width. Defaults to 1024.
        dropout (float): Dropout in the motion encoder. Defaults to 0.1.
        patch_size (int): Frames per motion token. Defaults to 4.
        text_encoder (dict): Frozen text encoder config. Defaults to MiniLM.
        mean (str | array | None): Mean.npy path or array (feature_dim,).
        std (str | array | None): Std.npy path or array (feature_dim,).

    Example:
        >>> ev = MODELS.build(dict(type='ContrastiveEvaluator',
        ...                        checkpoint='work_dirs/evaluator_cmu/evaluator.pth'))
        >>> ev.encode_text(['a person walks']).shape
        torch.Size([1, 256])
    """

    def __init__(self, checkpoint: str | None = None, feature_dim: int = 263,
                 embed_dim: int = 256, width: int = 256, num_layers: int = 4,
                 num_heads: int = 4, ff_dim: int = 1024, dropout: float = 0.1,
                 patch_size: int = 4, text_encoder: dict | None = None, mean=None, std=None):
        super().__init__()
        ckpt = None
        if checkpoint is not None:
            ckpt = load_evaluator_checkpoint(checkpoint)
            arch = ckpt['arch']
            feature_dim, embed_dim, width = arch['feature_dim'], arch['embed_dim'], arch['width']
            num_layers, num_heads = arch['num_layers'], arch['num_heads']
            ff_dim, dropout, text_encoder = arch['ff_dim'], arch['dropout'], arch['text_encoder']
            patch_size = arch['patch_size']
        self.checkpoint = checkpoint
        self.meta = dict(ckpt['meta']) if ckpt else {}
        self.arch = dict(feature_dim=int(feature_dim), embed_dim=int(embed_dim),
                         width=int(width), num_layers=int(num_layers),
                         num_heads=int(num_heads), ff_dim=int(ff_dim), dropout=float(dropout),
                         patch_size=int(patch_size),
                         text_encoder=dict(text_encoder or dict(type='MiniLMTextEncoder')))
        self.feature_dim, self.embed_dim = int(feature_dim), int(embed_dim)
        if int(patch_size) < 1:
            raise ValueError(f'patch_size must be >= 1, got {patch_size}')
        self.unit_length = int(patch_size)
        self.text_encoder = build_from_cfg_checked(self.arch['text_encoder'], MODELS,
                                                   expected_type=BaseTextEncoder)
        if not self.text_encoder.frozen:
            raise ValueError('ContrastiveEvaluator needs a frozen text encoder (frozen=True)')
        self.motion_in = nn.Linear(self.feature_dim * self.unit_length, width)
        layer = nn.TransformerEncoderLayer(width, num_heads, ff_dim, dropout,
                                           activation='gelu', batch_first=True, norm_first=True)
        self.motion_encoder = nn.TransformerEncoder(layer, num_layers,
                                                    enable_nested_tensor=False)
        self.motion_norm = nn.LayerNorm(width)
        self.motion_proj = nn.Linear(width, self.embed_dim)
        text_dim = self.text_encoder.out_dim
        self.text_proj = nn.Sequential(nn.Linear(text_dim, width), nn.GELU(),
                                       nn.Linear(width, self.embed_dim))
        self.register_buffer('mean', torch.zeros(self.feature_dim))
        self.register_buffer('std', torch.ones(self.feature_dim))
        if ckpt is not None:
            self._load(ckpt['state_dict'], checkpoint)
            self.requires_grad_(False)
            self.eval()
        else:
            if mean is None or std is None:
                raise ValueError('ContrastiveEvaluator needs mean= and std= (the dataset\'s '
                                 'Mean.npy/Std.npy) when built without a checkpoint')
            self.mean.copy_(self._stat(mean, 'mean'))
            self.std.copy_(self._stat(std, 'std'))

    def _stat(self, value, name: str) -> Tensor:
        if isinstance(value, str):
            if not osp.isfile(value):
                raise FileNotFoundError(f'{name} file not found: {value}; it is written by the '
                                        'dataset converter (Mean.npy/Std.npy)')
            value = np.load(value)
        t = torch.as_tensor(np.asarray(value), dtype=torch.float32).reshape(-1)
        if t.numel() != self.feature_dim:
            raise ValueError(f'{name} has {t.numel()} values, the evaluator expects '
                             f'feature_dim={self.feature_dim}')
        if not torch.isfinite(t).all() or (name == 'std' and (t <= 0).any()):
            raise ValueError(f'{name} contains NaN/inf' + (' or non-positive values'
                                                         if name == 'std' else ''))
        return t

    def _load(self, state_dict: dict, path: str) -> None:
        missing, unexpected, mismatched = state_dict_mismatch(self.state_dict(), state_dict)
        shapes = sorted(f'{k}: file {tuple(getattr(v, "shape", ()))} vs model {tuple(ref.shape)}'
                        for k, v, ref in mismatched)
        if missing or unexpected or shapes:
            raise RuntimeError(f'evaluator checkpoint {path} does not match its architecture: '
                               f'missing {missing}, unexpected {unexpected}, shapes {shapes}')
        self.load_state_dict(state_dict, strict=True)  # frozen text weights: from its folder

    def export_state_dict(self) -> dict:
        """Weights to save (the frozen text encoder is left out: it is rebuilt from its config)."""
        return {k: v.detach().cpu().clone() for k, v in self.state_dict().items()}

    def identity(self) -> dict:
        """Class, weights file and hash, text encoder and the training data fingerprint."""
        out = super().identity()
        out['text_encoder'] = self.text_encoder.identity()
        if self.meta.get('dataset'):
            out['dataset'] = self.meta['dataset']
        return out

    def train(self, mode: bool = True) -> ContrastiveEvaluator:
        """Train mode, except that a checkpoint-loaded evaluator stays frozen in eval."""
        return super().train(False if self.checkpoint else mode)

    def encode_motion(self, motion: Tensor, lengths: Tensor) -> Tensor:
        """(B, T, feature_dim) de-normalised features -> (B, embed_dim) unit vectors."""
        lengths = torch.as_tensor(lengths, device=motion.device).long()
        self.check_motion(motion, lengths)
        p = self.unit_length
        b, t, d = motion.shape
        patches = (lengths // p).clamp(min=1)  # valid tokens
        frames = torch.arange(t, device=motion.device)[None]
        x = (motion.to(self.mean.dtype) - self.mean) / self.std
        x = x * (frames < torch.minimum(patches * p, lengths)[:, None])[..., None]
        x = F.pad(x, (0, 0, 0, (-t) % p)).reshape(b, -1, p * d)
        mask = torch.arange(x.shape[1], device=motion.device)[None] < patches[:, None]
        lengths = patches
        h = self.motion_in(x)
        h = h + sinusoidal_positions(h.shape[1], h.shape[2], device=h.device).to(h.dtype)[None]
        h = self.motion_encoder(h, src_key_padding_mask=~mask)
        h = self.motion_norm(h) * mask[..., None]
        pooled = h.sum(1) / lengths[:, None].to(h.dtype)
        return F.normalize(self.motion_proj(pooled), dim=-1)

    def text_features(self, texts: list) -> Tensor:
        """Captions -> (B, C) pooled sentence features of the frozen text encoder."""
        return self.text_encoder(list(texts))['pooled'].to(self.mean.device, self.mean.dtype)

    def project_text(self, features: Tensor) -> Tensor:
        """(B, C) sentence features -> (B, embed_dim) unit vectors."""
        return F.normalize(self.text_proj(features), dim=-1)

    def encode_text(self, texts: list, tokens: list | None = None) -> Tensor:
        """Captions -> (B, embed_dim) unit vectors (``tokens`` are not needed)."""
        return self.project_text(self.text_features(texts))


@MODELS.register_module()
class ContrastiveEvaluatorModel(BaseModel):
    """Trains a :class:`ContrastiveEvaluator` with a symmetric InfoNCE loss.

    Within a batch of B (motion, caption) pairs the logits are cosine
    similarities over ``temperature``; cross-entropy runs both ways
    (text -> motion and motion -> text). Captions whose frozen sentence
    embeddings are nearly identical to the true caption (cosine above
    ``false_negative_threshold``, e.g. the same trial description on two
    clips) are removed from the negatives. With ``hard_negative_beta > 0``
    negatives are re-weighted by ``exp(beta * similarity)`` (normalised to
    mean 1), which puts more weight on the hardest ones.

    ``predict`` returns the samples with ``motion_emb`` and ``text_emb`` set,
    for :class:`mdkit.evaluation.metrics.RetrievalMetric`.

    Args:
        evaluator (dict): :class:`ContrastiveEvaluator` config.
        data_preprocessor (dict): Usually ``MotionDataPreprocessor`` with
            ``normalize=False`` (the evaluator normalises internally).
        temperature (float): Softmax temperature. Defaults to 0.1.
        false_negative_threshold (float | None): See above; None keeps every
            negative. Defaults to 0.95.
        hard_negative_beta (float): See above; 0 is plain InfoNCE. Defaults to 0.

    Example:
        >>> model = MODELS.build(dict(
        ...     type='ContrastiveEvaluatorModel',
        ...     evaluator=dict(type='ContrastiveEvaluator', mean=m, std=s),
        ...     data_preprocessor=dict(type='MotionDataPreprocessor',
        ...                            codec=dict(type='HumanML3DCodec'), normalize=False)))
    """

    def __init__(self, evaluator: dict, data_preprocessor: dict, temperature: float = 0.1,
                 false_negative_threshold: float | None = 0.95,
                 hard_negative_beta: float = 0.0, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if isinstance(evaluator, dict) and evaluator.get('checkpoint'):
            raise ValueError('ContrastiveEvaluatorModel trains an evaluator from scratch; '
                             'give the architecture and mean/std, not a checkpoint')
        self.evaluator = build_from_cfg_checked(evaluator, MODELS,
                                                expected_type=ContrastiveEvaluator)
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        if hard_negative_beta < 0:
            raise ValueError(f'hard_negative_beta must be >= 0, got {hard_negative_beta}')
        self.temperature = float(temperature)
        self.false_negative_threshold = false_negative_threshold
        self.hard_negative_beta = float(hard_negative_beta)

    @staticmethod
    def _texts(data_samples) -> list:
        texts = [getattr(s, 'text', None) for s in data_samples]
        if any(not t for t in texts):
            raise ValueError('every training sample needs a caption (data_sample.text)')
        return texts

    def forward(self, inputs: dict, data_samples=None, mode: str = 'tensor'):
        """``loss``: InfoNCE terms; ``predict``: samples with embeddings; ``tensor``: logits."""
        motion_emb = self.evaluator.encode_motion(inputs['motion'], inputs['lengths'])
        text_features = self.evaluator.text_features(self._texts(data_samples))
        text_emb = self.evaluator.project_text(text_features)
        if mode == 'loss':
            return self.loss(motion_emb, text_emb, text_features)
        if mode == 'predict':
            for s, m, t in zip(data_samples, motion_emb, text_emb):
                s.set_field(m.detach(), 'motion_emb')
                s.set_field(t.detach(), 'text_emb')
            return data_samples
        if mode == 'tensor':
            return text_emb @ motion_emb.T / self.temperature
        raise ValueError(f'unknown mode {mode!r}; use loss, predict or tensor')

    def negative_weights(self, text_features: Tensor, logits: Tensor) -> Tensor:
        """(B, B) weights of the off-diagonal entries (diagonal = 1).

        Args:
            text_features (Tensor): (B, C) frozen sentence features of the captions.
            logits (Tensor): (B, B) text-to-motion logits.
        """
        b = len(text_features)
        weights = torch.ones(b, b, device=logits.device)
        eye = torch.eye(b, dtype=torch.bool, device=logits.device)
        if self.false_negative_threshold is not None:
            raw = F.normalize(text_features.float(), dim=-1).to(logits.device)
            same = (raw @ raw.T > self.false_negative_threshold) & ~eye
            weights = weights.masked_fill(same, 0.0)
        if self.hard_negative_beta > 0:
            w = torch.exp(self.hard_negative_beta * logits.detach() * self.temperature)
            w = w * weights * ~eye
            norm = w.sum(-1, keepdim=True) / (weights * ~eye).sum(-1, keepdim=True).clamp(min=1)
            weights = torch.where(eye, weights, w / norm.clamp(min=1e-12))
        return weights

    def loss(self, motion_emb: Tensor, text_emb: Tensor, text_features: Tensor) -> dict:
        """Symmetric weighted InfoNCE and the in-batch top-1 accuracy (logged).

        ``text_features`` are the captions' frozen sentence features (for
        removing near-duplicate captions from the negatives).
        """
        logits = text_emb @ motion_emb.T / self.temperature
        weights = self.negative_weights(text_features, logits)
        log_w = torch.log(weights.clamp(min=1e-12))
        target = torch.arange(len(logits), device=logits.device)
        t2m = F.cross_entropy(logits + log_w, target)
        m2t = F.cross_entropy(logits.T + log_w.T, target)
        acc = (logits.argmax(-1) == target).float().mean()
        return dict(loss_infonce=(t2m + m2t) / 2, acc_top1=acc.detach())

    def export(self, path: str, meta: dict) -> str:
        """Write the evaluator checkpoint that ``ContrastiveEvaluator(checkpoint=path)`` reads."""
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        torch.save(dict(format=CHECKPOINT_FORMAT, arch=self.evaluator.arch,
                        state_dict=self.evaluator.export_state_dict(), meta=meta), path)
        return path

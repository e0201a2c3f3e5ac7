"""FID, R-precision, matching score and diversity of generated motions (Guo et al. protocol)."""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mdkit.evaluation.evaluators.base import BaseMotionEvaluator
from mdkit.evaluation.functional import diversity, fid, matching_score, r_precision
from mdkit.registry import METRICS, MODELS

__all__ = ['TextMotionMetric']


def _field(sample, key: str):
    """Read ``key`` from a data sample, a dict, or a dict's ``metainfo``."""
    if isinstance(sample, Mapping):
        if key in sample:
            return sample[key]
        meta = sample.get('metainfo')
        return meta.get(key) if isinstance(meta, Mapping) else None
    return sample.get(key, None)


def _motion_tensor(value, name: str) -> torch.Tensor:
    if value is None:
        raise KeyError(f'TextMotionMetric needs {name} in every data sample')
    x = value.detach() if torch.is_tensor(value) else torch.as_tensor(np.asarray(value))
    if x.dim() != 2:
        raise ValueError(f'{name} must be (T, D), got shape {tuple(x.shape)}')
    return x.float().cpu()


@METRICS.register_module()
class TextMotionMetric(BaseMetric):
    """The standard text-to-motion metrics, for predictions and ground truth alike.

    Every sample's predicted motion, ground-truth motion and caption are
    embedded by a frozen text-motion evaluator; :meth:`compute_metrics` then
    reports, through one code path for both motion sets:

    * ``fid``: Fréchet distance between predicted and ground-truth motion
      embeddings (:func:`~mdkit.evaluation.functional.fid`);
    * ``r_precision_top1`` .. ``r_precision_top{k}`` and ``matching_score``
      (MM-Dist) of captions against predicted motions, in batches of
      ``r_precision_batch`` shuffled pairs (the last incomplete batch dropped);
    * ``diversity`` over ``diversity_pairs`` random pairs;
    * the same with a ``gt_`` prefix for the ground-truth motions (the
      reference row of a results table), except FID;
    * ``r_precision_batch_used``, ``diversity_pairs_used`` and ``num_samples``.

    The batches and pairs are drawn from ``numpy.random.default_rng(seed)``
    and are the same for predictions and ground truth. Protocol defaults
    (batch 32, top 3, 300 pairs) follow Guo et al.; the protocol also
    averages 20 replications, which is left to the caller.

    When there are fewer samples N than ``r_precision_batch`` or
    ``diversity_pairs`` and ``adapt_sizes`` is True, the batch becomes N
    (one batch of all samples) and the pairs become N (two random
    permutations of all samples); a warning names the sizes used, which are
    also reported. Such numbers are not comparable with published ones.
    Multimodality needs repeated generations per caption and lives in
    :func:`~mdkit.evaluation.functional.multimodality`.

    Each data sample (``MotionDataSample`` or dict) must carry
    ``pred_motion`` (T, D) and ``gt_motion`` (T_gt, D) de-normalised
    features, ``text`` (str), optionally ``length`` (valid ground-truth
    frames; default T_gt) and ``text_tokens`` (list of ``word/POS``, in the
    metainfo). The whole predicted motion counts as valid.

    Args:
        evaluator (dict | BaseMotionEvaluator): The evaluator or its config
            (built with ``MODELS``).
        r_precision_batch (int): Pairs per R-precision batch. Defaults to 32.
        top_k (int): Largest R-precision cut-off. Defaults to 3.
        diversity_pairs (int): Pairs drawn for diversity. Defaults to 300.
        seed (int): Seed of every random draw. Defaults to 0.
        adapt_sizes (bool): Shrink the batch / pairs to the number of
            samples instead of raising. Defaults to True.
        collect_device (str): mmengine collect device. Defaults to 'cpu'.
        prefix (str | None): Metric name prefix. Defaults to None ('t2m').

    Example:
        >>> metric = METRICS.build(dict(
        ...     type='TextMotionMetric',
        ...     evaluator=dict(type='T2MEvaluator', dataset='humanml3d')))
    """

    default_prefix = 't2m'

    def __init__(self,
                 evaluator: dict | BaseMotionEvaluator,
                 r_precision_batch: int = 32,
                 top_k: int = 3,
                 diversity_pairs: int = 300,
                 seed: int = 0,
                 adapt_sizes: bool = True,
                 collect_device: str = 'cpu',
                 prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if isinstance(evaluator, Mapping):
            evaluator = MODELS.build(evaluator)
        if not isinstance(evaluator, BaseMotionEvaluator):
            raise TypeError('evaluator must be a BaseMotionEvaluator or its config, got '
                            f'{type(evaluator).__name__}')
        for name, value in (('r_precision_batch', r_precision_batch), ('top_k', top_k),
                            ('diversity_pairs', diversity_pairs)):
            if int(value) != value or value < 1:
                raise ValueError(f'{name} must be a positive integer, got {value}')
        self.evaluator = evaluator.eval().requires_grad_(False)
        self.r_precision_batch = int(r_precision_batch)
        self.top_k = int(top_k)
        self.diversity_pairs = int(diversity_pairs)
        self.seed = int(seed)
        self.adapt_sizes = bool(adapt_sizes)
        self._warned_sizes: set = set()

    @property
    def evaluator_identity(self) -> dict:
        """dict: What produces the embeddings (class, weights file and its hash)."""
        return self.evaluator.identity()

    def _device(self) -> torch.device:
        for t in (*self.evaluator.parameters(), *self.evaluator.buffers()):
            return t.device
        return torch.device('cpu')

    def _valid_lengths(self, lengths: Sequence[int]) -> list[int]:
        """Lengths floored to a multiple of the evaluator's unit (at least one unit)."""
        unit = max(1, int(getattr(self.evaluator, 'unit_length', 1)))
        return [max(unit, n // unit * unit) for n in lengths]

    @torch.no_grad()
    def embed_motions(self, motions: list[torch.Tensor], lengths: list[int]) -> np.ndarray:
        """Zero-pad to (B, T, D), embed, return (B, E) float64."""
        lengths = self._valid_lengths(lengths)
        dims = {m.shape[1] for m in motions}
        if len(dims) != 1:
            raise ValueError(f'motions in one batch have different feature dims {sorted(dims)}')
        batch = torch.zeros(len(motions), max(lengths), dims.pop())
        for i, (m, n) in enumerate(zip(motions, lengths)):
            n_copy = min(n, m.shape[0])
            batch[i, :n_copy] = m[:n_copy]
        device = self._device()
        emb = self.evaluator.encode_motion(batch.to(device),
                                           torch.tensor(lengths, device=device))
        return emb.detach().double().cpu().numpy()

    @torch.no_grad()
    def _embed_texts(self, texts: list[str], tokens: list | None) -> np.ndarray:
        emb = self.evaluator.encode_text(texts, tokens)
        return emb.detach().double().cpu().numpy()

    def process(self, data_batch, data_samples: Sequence) -> None:
        """Embed the predicted motions, ground-truth motions and captions of a batch.

        Args:
            data_batch: The data-loader batch (unused).
            data_samples (Sequence[MotionDataSample | dict]): Samples with
                ``pred_motion``, ``gt_motion``, ``text`` and optionally
                ``length`` and ``text_tokens``.
        """
        if len(data_samples) == 0:
            return
        preds, gts, gt_lengths, texts, tokens = [], [], [], [], []
        for s in data_samples:
            pred = _motion_tensor(_field(s, 'pred_motion'), 'pred_motion')
            gt = _motion_tensor(_field(s, 'gt_motion'), 'gt_motion')
            text = _field(s, 'text')
            if not isinstance(text, str):
                raise KeyError('TextMotionMetric needs a str text in every data sample')
            n = _field(s, 'length')
            n = gt.shape[0] if n is None else min(int(n), gt.shape[0])
            if n < 1 or pred.shape[0] < 1:
                raise ValueError(f'empty motion for caption {text!r}')
            preds.append(pred)
            gts.append(gt)
            gt_lengths.append(n)
            texts.append(text)
            tokens.append(_field(s, 'text_tokens'))
        tokens = [list(t) for t in tokens] if all(t for t in tokens) else None
        pred_emb = self.embed_motions(preds, [p.shape[0] for p in preds])
        gt_emb = self.embed_motions(gts, gt_lengths)
        text_emb = self._embed_texts(texts, tokens)
        for i in range(len(texts)):
            self.results.append(dict(pred_emb=pred_emb[i], gt_emb=gt_emb[i],
                                     text_emb=text_emb[i]))

    def _sizes(self, num: int) -> tuple[int, int]:
        """The R-precision batch and diversity pairs usable with ``num`` samples."""
        batch, pairs = self.r_precision_batch, self.diversity_pairs
        if num >= batch and num >= pairs:
            return batch, pairs
        if not self.adapt_sizes:
            if num < batch:
                raise ValueError(f'R-precision needs at least r_precision_batch={batch} '
                                 f'samples, got {num}; lower r_precision_batch or set '
                                 'adapt_sizes=True')
            raise ValueError(f'diversity needs at least diversity_pairs={pairs} samples, got '
                             f'{num}; lower diversity_pairs or set adapt_sizes=True')
        used = (min(batch, num), min(pairs, num))
        if used not in self._warned_sizes:
            self._warned_sizes.add(used)
            print_log(f'TextMotionMetric: only {num} samples, fewer than r_precision_batch='
                      f'{batch} or diversity_pairs={pairs}; using r_precision_batch={used[0]} '
                      f'and diversity_pairs={used[1]} (not comparable with published numbers)',
                      logger='current', level=logging.WARNING)
        return used

    def compute_metrics(self, results: list) -> dict:
        """FID, R-precision, matching score and diversity of predictions and ground truth.

        Args:
            results (list[dict]): Per-sample ``pred_emb``, ``gt_emb`` and
                ``text_emb`` (E,) float64 embeddings.

        Returns:
            dict[str, float]: See the class docstring for the keys.
        """
        num = len(results)
        if num < 2:
            raise ValueError(f'TextMotionMetric needs at least 2 samples, got {num}')
        text = np.stack([r['text_emb'] for r in results]).astype(np.float64)
        pred = np.stack([r['pred_emb'] for r in results]).astype(np.float64)
        gt = np.stack([r['gt_emb'] for r in results]).astype(np.float64)
        batch, pairs = self._sizes(num)
        out = {'fid': fid(pred, gt)}
        for name, motion in (('', pred), ('gt_', gt)):
            rp = r_precision(text, motion, batch_size=batch, top_k=self.top_k, seed=self.seed)
            for k, value in enumerate(rp, start=1):
                out[f'{name}r_precision_top{k}'] = float(value)
            out[f'{name}matching_score'] = matching_score(text, motion, batch_size=batch,
                                                          seed=self.seed)
            out[f'{name}diversity'] = diversity(motion, num_pairs=pairs, seed=self.seed)
        out.update(r_precision_batch_used=float(batch), diversity_pairs_used=float(pairs),
                   num_samples=float(num))
        return out

"""Text-motion retrieval accuracy of an evaluator (how good the embedding space is)."""
from __future__ import annotations

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mdkit.evaluation.functional import r_precision
from mdkit.registry import METRICS

__all__ = ['RetrievalMetric', 'retrieval_recall']


def retrieval_recall(text_emb: np.ndarray, motion_emb: np.ndarray, texts: list,
                     ks=(1, 2, 3, 5, 10)) -> dict:
    """Recall@k over the whole set, both directions, by cosine similarity.

    A motion counts as a correct answer to a caption when its own caption is
    the same string: clips cut from one trial often share the trial's
    description, and ranking one of them above another is not a mistake.

    Args:
        text_emb (np.ndarray): (N, E) caption embeddings.
        motion_emb (np.ndarray): (N, E) motion embeddings; row i pairs with text i.
        texts (list[str]): The N captions.
        ks (tuple[int, ...]): Cut-offs. Defaults to (1, 2, 3, 5, 10).

    Returns:
        dict: ``t2m_R@k`` and ``m2t_R@k`` in percent, plus ``t2m_median_rank``.

    Example:
        >>> e = np.eye(3)
        >>> retrieval_recall(e, e, ['a', 'b', 'c'])['t2m_R@1']
        100.0
    """
    t = np.asarray(text_emb, dtype=np.float64)
    m = np.asarray(motion_emb, dtype=np.float64)
    if t.shape != m.shape or t.ndim != 2 or len(texts) != len(t):
        raise ValueError(f'need (N, E) text and motion embeddings and N texts, got '
                         f'{t.shape}, {m.shape}, {len(texts)} texts')
    t = t / np.linalg.norm(t, axis=1, keepdims=True).clip(1e-12)
    m = m / np.linalg.norm(m, axis=1, keepdims=True).clip(1e-12)
    sim = t @ m.T
    labels = np.asarray(texts, dtype=object)
    correct = labels[:, None] == labels[None, :]
    out = {}
    for name, s, c in (('t2m', sim, correct), ('m2t', sim.T, correct.T)):
        order = np.argsort(-s, axis=1, kind='stable')
        hit = np.take_along_axis(c, order, axis=1)
        first = hit.argmax(axis=1)  # rank (0-based) of the first correct answer
        for k in ks:
            out[f'{name}_R@{k}'] = float((first < k).mean() * 100)
        out[f'{name}_median_rank'] = float(np.median(first + 1))
    return out


@METRICS.register_module()
class RetrievalMetric(BaseMetric):
    """Recall@k of text->motion and motion->text retrieval over the whole split.

    Also reports ``r_precision_top1..3``: the text-to-motion protocol's
    R-precision of the evaluator on real pairs (exact pairs only, seeded
    batches of ``r_precision_batch``, or of all samples when there are fewer).

    Reads ``motion_emb``, ``text_emb`` and ``text`` from each predicted sample
    (what ``ContrastiveEvaluatorModel.predict`` returns).

    Args:
        ks (tuple[int, ...]): Cut-offs. Defaults to (1, 2, 3, 5, 10).
        r_precision_batch (int): Protocol batch size. Defaults to 32.
        collect_device (str): mmengine collect device. Defaults to 'cpu'.
        prefix (str | None): Metric name prefix. Defaults to None ('retrieval').

    Example:
        >>> metric = METRICS.build(dict(type='RetrievalMetric'))
    """

    default_prefix = 'retrieval'

    def __init__(self, ks=(1, 2, 3, 5, 10), r_precision_batch: int = 32,
                 collect_device: str = 'cpu', prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ks = tuple(int(k) for k in ks)
        self.r_precision_batch = int(r_precision_batch)

    def process(self, data_batch, data_samples) -> None:
        """Keep the embeddings and caption of every sample."""
        for s in data_samples:
            get = s.get if hasattr(s, 'get') else s.__getitem__
            row = {}
            for key in ('motion_emb', 'text_emb'):
                v = get(key)
                if v is None:
                    raise KeyError(f'RetrievalMetric needs {key} in the predicted samples')
                row[key] = v.float().cpu().numpy() if torch.is_tensor(v) else np.asarray(v)
            row['text'] = get('text')
            self.results.append(row)

    def compute_metrics(self, results: list) -> dict:
        """Recall@k both ways over all collected samples."""
        if len(results) < 2:
            raise ValueError(f'retrieval needs at least 2 samples, got {len(results)}')
        text = np.stack([r['text_emb'] for r in results])
        motion = np.stack([r['motion_emb'] for r in results])
        out = retrieval_recall(text, motion, [r['text'] for r in results], self.ks)
        batch = min(self.r_precision_batch, len(results))
        for k, v in enumerate(r_precision(text, motion, batch_size=batch, top_k=3, seed=0), 1):
            out[f'r_precision_top{k}'] = float(v)
        out['r_precision_batch_used'] = batch
        out['num_samples'] = len(results)
        return out

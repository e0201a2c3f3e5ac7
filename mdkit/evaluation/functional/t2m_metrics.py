"""The text-to-motion metrics of Guo et al. (CVPR 2022), in float64 numpy.

FID, R-precision, matching score (MM-Dist), diversity and multimodality as
computed by the HumanML3D / KIT-ML evaluation protocol that MDM, MLD,
T2M-GPT and MoMask report. The protocol constants, checked against
``EricGuo5513/text-to-motion`` (``final_evaluations.py``,
``motion_loaders/dataset_motion_loader.py``) and
``GuyTevet/motion-diffusion-model`` (``eval/eval_humanml.py``):

* R-precision and matching score: the test pairs are shuffled and cut into
  batches of 32 (the data loader drops the last incomplete batch); within a
  batch each caption ranks the 32 motions by Euclidean distance and the hit
  rates at top 1, 2 and 3 (cumulative) are averaged over all captions. The
  matching score is the mean caption-to-own-motion distance over the same
  batches. MDM forces the batch size to 32 because the numbers depend on it.
* Diversity: 300 pairs from two independent draws of 300 indices each,
  without replacement.
* Multimodality: 100 captions x 30 generated motions each; 10 pairs per
  caption from two draws of 10 repeat indices (one draw shared by all
  captions, as in the reference).
* Every number is averaged over 20 replications of the whole evaluation
  (the replications are the caller's business, not these functions').

Every function works in float64 and draws its random numbers from
``numpy.random.default_rng(seed)`` only, so a given seed reproduces a result.

Shapes: N samples, E embedding dim, R repeats per caption.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    'activation_statistics', 'frechet_distance', 'fid', 'euclidean_distance_matrix',
    'protocol_batches', 'r_precision', 'matching_score', 'diversity', 'multimodality'
]

#: Upper bound on the float64 elements of one block of pairwise differences.
_BLOCK_ELEMENTS = 1 << 22


def _as_embeddings(emb, name: str, ndim: int = 2, min_rows: int = 1) -> np.ndarray:
    """Return ``emb`` as a finite float64 array of ``ndim`` dims or raise ValueError."""
    arr = np.asarray(emb.detach().cpu() if hasattr(emb, 'detach') else emb, dtype=np.float64)
    if arr.ndim != ndim:
        want = '(N, E)' if ndim == 2 else '(num_texts, num_repeats, E)'
        raise ValueError(f'{name} must be {want}, got shape {arr.shape}')
    if arr.shape[-1] < 1:
        raise ValueError(f'{name} has an empty embedding dimension: shape {arr.shape}')
    if arr.shape[0] < min_rows:
        raise ValueError(f'{name} needs at least {min_rows} samples, got {arr.shape[0]}')
    if not np.isfinite(arr).all():
        raise ValueError(f'{name} contains NaN or inf')
    return arr


def _check_positive_int(value: int, name: str) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value}')
    return int(value)


def activation_statistics(emb) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of a set of embeddings.

    ``mu`` is the mean over samples; ``sigma`` is the sample covariance with
    the ``N - 1`` denominator (as ``np.cov(emb, rowvar=False)`` in the
    reference protocol), both in float64.

    Args:
        emb (np.ndarray | Tensor): (N, E) embeddings, N >= 2.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``mu`` (E,) and ``sigma`` (E, E).

    Example:
        >>> mu, sigma = activation_statistics(np.array([[0.0], [2.0]]))
        >>> float(mu[0]), float(sigma[0, 0])
        (1.0, 2.0)
    """
    x = _as_embeddings(emb, 'emb', min_rows=2)
    mu = x.mean(axis=0)
    centred = x - mu
    sigma = centred.T @ centred / (len(x) - 1)
    return mu, (sigma + sigma.T) / 2


def _psd_sqrt_eigen(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decompose a symmetric PSD matrix, zeroing eigenvalues at rounding level.

    Eigenvalues below ``E * eps * max(|w|)`` (negative ones included) are
    what rounding makes of exact zeros; they are set to 0 so that their
    square roots (~1e-8 each) do not pile up in a trace.
    """
    w, v = np.linalg.eigh((matrix + matrix.T) / 2)
    tol = len(w) * np.finfo(np.float64).eps * float(np.abs(w).max(initial=0.0))
    return np.where(w > tol, w, 0.0), v


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between two Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    d^2 = ||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2)).

    The trace of the matrix square root is computed without ``sqrtm``: the
    product ``sigma1 sigma2`` is similar to the symmetric PSD matrix
    ``M = sigma1^(1/2) sigma2 sigma1^(1/2)``, so tr((sigma1 sigma2)^(1/2)) is
    the sum of the square roots of the eigenvalues of ``M``. Both
    ``sigma1^(1/2)`` and the eigenvalues of ``M`` come from symmetric
    eigendecompositions (``eigh``), with eigenvalues at rounding level
    (tiny negative ones included) set to zero. This stays real and finite
    for singular covariances (fewer samples than dimensions), where
    ``scipy.linalg.sqrtm`` needs an ``eps`` offset and may return complex
    values. Covariances are symmetrised first; the result is clipped at 0
    (a negative value can only be rounding).

    Args:
        mu1 (np.ndarray): (E,) mean of the first set.
        sigma1 (np.ndarray): (E, E) covariance of the first set.
        mu2 (np.ndarray): (E,) mean of the second set.
        sigma2 (np.ndarray): (E, E) covariance of the second set.

    Returns:
        float: The squared Fréchet distance (what papers call FID), >= 0.

    Example:
        >>> frechet_distance(np.zeros(1), np.eye(1), np.ones(1), 4 * np.eye(1))
        2.0
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    e = mu1.shape[0]
    if mu1.ndim != 1 or mu2.shape != (e,):
        raise ValueError(f'mu1 and mu2 must both be (E,), got {mu1.shape} and {mu2.shape}')
    if sigma1.shape != (e, e) or sigma2.shape != (e, e):
        raise ValueError(f'sigma1 and sigma2 must be ({e}, {e}) to match the means, got '
                         f'{sigma1.shape} and {sigma2.shape}')
    for name, arr in (('mu1', mu1), ('sigma1', sigma1), ('mu2', mu2), ('sigma2', sigma2)):
        if not np.isfinite(arr).all():
            raise ValueError(f'{name} contains NaN or inf')
    sigma1 = (sigma1 + sigma1.T) / 2
    sigma2 = (sigma2 + sigma2.T) / 2
    w1, v1 = _psd_sqrt_eigen(sigma1)
    root1 = (v1 * np.sqrt(w1)) @ v1.T
    w_m, _ = _psd_sqrt_eigen(root1 @ sigma2 @ root1)
    tr_covmean = float(np.sqrt(w_m).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    return max(value, 0.0)


def fid(emb_a, emb_b) -> float:
    """Fréchet distance between the Gaussian fits of two embedding sets.

    Fits mean and covariance to each set (:func:`activation_statistics`) and
    returns :func:`frechet_distance` of the two fits. Symmetric in its
    arguments; the sets may differ in size.

    Args:
        emb_a (np.ndarray | Tensor): (N_a, E) embeddings, N_a >= 2.
        emb_b (np.ndarray | Tensor): (N_b, E) embeddings, N_b >= 2.

    Returns:
        float: FID, >= 0.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(50, 4))
        >>> fid(x, x) < 1e-9
        True
    """
    a = _as_embeddings(emb_a, 'emb_a', min_rows=2)
    b = _as_embeddings(emb_b, 'emb_b', min_rows=2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f'embedding dims differ: {a.shape[1]} vs {b.shape[1]}')
    return frechet_distance(*activation_statistics(a), *activation_statistics(b))


def euclidean_distance_matrix(a, b) -> np.ndarray:
    """All pairwise Euclidean distances, ``dist[i, j] = ||a[i] - b[j]||``.

    Computed from the differences themselves (in blocks of rows to bound
    memory) rather than from ``|a|^2 + |b|^2 - 2 a.b``, which loses all
    precision for near-identical vectors and can go negative.

    Args:
        a (np.ndarray | Tensor): (N1, E) vectors.
        b (np.ndarray | Tensor): (N2, E) vectors.

    Returns:
        np.ndarray: (N1, N2) float64 distances.

    Example:
        >>> euclidean_distance_matrix(np.zeros((1, 2)), np.array([[3.0, 4.0]]))
        array([[5.]])
    """
    a = _as_embeddings(a, 'a', min_rows=0)
    b = _as_embeddings(b, 'b', min_rows=0)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f'embedding dims differ: {a.shape} vs {b.shape}')
    out = np.empty((len(a), len(b)), dtype=np.float64)
    rows = max(1, _BLOCK_ELEMENTS // max(1, len(b) * a.shape[1]))
    for start in range(0, len(a), rows):
        diff = a[start:start + rows, None, :] - b[None, :, :]
        out[start:start + rows] = np.sqrt(np.einsum('ijk,ijk->ij', diff, diff))
    return out


def protocol_batches(num_samples: int, batch_size: int = 32, seed=None,
                     drop_last: bool = True) -> list[np.ndarray]:
    """Index batches of the R-precision protocol.

    Optionally shuffles ``range(num_samples)`` with
    ``np.random.default_rng(seed).permutation`` and cuts it into consecutive
    batches of ``batch_size``; the last incomplete batch is dropped when
    ``drop_last`` (as the reference data loader does).

    Args:
        num_samples (int): N paired samples.
        batch_size (int): Samples per batch. Defaults to 32 (the protocol's).
        seed (int | np.random.Generator | None): Shuffle seed; None keeps
            the given order. Defaults to None.
        drop_last (bool): Drop the last incomplete batch. Defaults to True.

    Returns:
        list[np.ndarray]: Index arrays, one per batch.

    Example:
        >>> [b.tolist() for b in protocol_batches(5, 2)]
        [[0, 1], [2, 3]]
    """
    batch_size = _check_positive_int(batch_size, 'batch_size')
    if num_samples < batch_size:
        raise ValueError(f'R-precision needs at least batch_size={batch_size} samples, got '
                         f'{num_samples}; lower batch_size to at most {num_samples} (the '
                         'protocol uses 32, so such numbers are not comparable with papers)')
    order = (np.arange(num_samples) if seed is None
             else np.random.default_rng(seed).permutation(num_samples))
    stop = num_samples - num_samples % batch_size if drop_last else num_samples
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


def _paired(text_emb, motion_emb) -> tuple[np.ndarray, np.ndarray]:
    t = _as_embeddings(text_emb, 'text_emb')
    m = _as_embeddings(motion_emb, 'motion_emb')
    if t.shape != m.shape:
        raise ValueError(f'text_emb and motion_emb must both be (N, E) with row i of one '
                         f'paired with row i of the other, got {t.shape} and {m.shape}')
    return t, m


def r_precision(text_emb, motion_emb, batch_size: int = 32, top_k: int = 3, seed=None,
                drop_last: bool = True) -> np.ndarray:
    """R-precision (top-1..k text-to-motion retrieval accuracy within batches).

    The N pairs (row i of ``text_emb`` with row i of ``motion_emb``) are
    cut into batches (:func:`protocol_batches`). In each batch every text
    ranks all motions of the batch by Euclidean distance, ascending; entry
    k-1 of the result is the fraction of texts, over all texts of the used
    batches, whose own motion is among the k nearest (cumulative, so the
    result is non-decreasing). Ties are ranked in index order (stable sort):
    a batch of identical motions scores k / batch_size, the chance rate.

    Protocol defaults (Guo et al.): ``batch_size=32``, ``top_k=3``,
    shuffled pairs, last incomplete batch dropped.

    Args:
        text_emb (np.ndarray | Tensor): (N, E) text embeddings.
        motion_emb (np.ndarray | Tensor): (N, E) motion embeddings.
        batch_size (int): Pairs per batch. Defaults to 32.
        top_k (int): Largest cut-off k. Defaults to 3.
        seed (int | np.random.Generator | None): Shuffle seed; None keeps
            the given order. Defaults to None.
        drop_last (bool): Ignore the last incomplete batch. Defaults to True.

    Returns:
        np.ndarray: (top_k,) float64 hit rates for k = 1..top_k.

    Raises:
        ValueError: On bad shapes, NaN, or fewer than ``batch_size`` samples.

    Example:
        >>> e = np.eye(4)
        >>> r_precision(e, e, batch_size=4, top_k=2).tolist()
        [1.0, 1.0]
    """
    t, m = _paired(text_emb, motion_emb)
    top_k = _check_positive_int(top_k, 'top_k')
    hits = np.zeros(top_k, dtype=np.float64)
    count = 0
    for idx in protocol_batches(len(t), batch_size, seed, drop_last):
        dist = euclidean_distance_matrix(t[idx], m[idx])
        order = np.argsort(dist, axis=1, kind='stable')
        rank = np.argmax(order == np.arange(len(idx))[:, None], axis=1)  # 0 = nearest
        hits += (rank[:, None] < np.arange(1, top_k + 1)[None, :]).sum(axis=0)
        count += len(idx)
    return hits / count


def matching_score(text_emb, motion_emb, batch_size: int = 32, seed=None,
                   drop_last: bool = True) -> float:
    """Matching score (MM-Dist): mean distance between each text and its own motion.

    Averaged over the texts of the same batches as :func:`r_precision` with
    the same arguments (so only the dropped samples differ from the mean over
    all pairs).

    Args:
        text_emb (np.ndarray | Tensor): (N, E) text embeddings.
        motion_emb (np.ndarray | Tensor): (N, E) motion embeddings.
        batch_size (int): Pairs per batch. Defaults to 32.
        seed (int | np.random.Generator | None): Shuffle seed. Defaults to None.
        drop_last (bool): Ignore the last incomplete batch. Defaults to True.

    Returns:
        float: Mean Euclidean distance of the true pairs.

    Example:
        >>> matching_score(np.zeros((2, 2)), np.array([[3.0, 4.0], [0.0, 1.0]]), 2)
        3.0
    """
    t, m = _paired(text_emb, motion_emb)
    idx = np.concatenate(protocol_batches(len(t), batch_size, seed, drop_last))
    return float(np.linalg.norm(t[idx] - m[idx], axis=1).mean())


def diversity(emb, num_pairs: int = 300, seed=None) -> float:
    """Diversity: mean distance between random pairs of embeddings.

    Draws two independent index sets of size ``num_pairs`` without
    replacement from ``default_rng(seed)`` (first set, then second) and
    averages ``||emb[first[i]] - emb[second[i]]||``. A pair may pair a
    sample with itself, as in the reference. The protocol uses 300 pairs;
    the reference asserts N > num_pairs, here N >= num_pairs suffices.

    Args:
        emb (np.ndarray | Tensor): (N, E) embeddings.
        num_pairs (int): Pairs to draw. Defaults to 300.
        seed (int | np.random.Generator | None): Random seed. Defaults to None.

    Returns:
        float: Mean pair distance.

    Raises:
        ValueError: On bad shapes, NaN, or N < ``num_pairs``.

    Example:
        >>> diversity(np.ones((5, 3)), num_pairs=5, seed=0)
        0.0
    """
    x = _as_embeddings(emb, 'emb')
    num_pairs = _check_positive_int(num_pairs, 'num_pairs')
    if len(x) < num_pairs:
        raise ValueError(f'diversity draws num_pairs={num_pairs} pairs without replacement '
                         f'but got only {len(x)} samples; lower num_pairs')
    rng = np.random.default_rng(seed)
    first = rng.choice(len(x), num_pairs, replace=False)
    second = rng.choice(len(x), num_pairs, replace=False)
    return float(np.linalg.norm(x[first] - x[second], axis=1).mean())


def multimodality(emb, num_pairs: int = 10, seed=None) -> float:
    """Multimodality: mean distance between motions generated for the same text.

    Draws two index sets of size ``num_pairs`` without replacement from the
    R repeats (first set, then second, from ``default_rng(seed)``); for every
    text it averages the distances of the ``num_pairs`` pairs of its own
    repeats, then averages over texts. As in the reference the two draws are
    shared by all texts. Protocol: 100 texts x 30 repeats, 10 pairs; the
    reference asserts R > num_pairs, here R >= num_pairs suffices.

    Args:
        emb (np.ndarray | Tensor): (num_texts, R, E) embeddings of R motions
            generated per text.
        num_pairs (int): Pairs per text. Defaults to 10.
        seed (int | np.random.Generator | None): Random seed. Defaults to None.

    Returns:
        float: Mean distance between repeats of one text.

    Raises:
        ValueError: On bad shapes, NaN, or R < ``num_pairs``.

    Example:
        >>> multimodality(np.ones((100, 30, 8)), seed=0)  # one motion per text
        0.0
    """
    x = _as_embeddings(emb, 'emb', ndim=3)
    num_pairs = _check_positive_int(num_pairs, 'num_pairs')
    if x.shape[1] < num_pairs:
        raise ValueError(f'multimodality draws num_pairs={num_pairs} pairs of repeats without '
                         f'replacement but got only {x.shape[1]} repeats per text; lower '
                         'num_pairs or generate more repeats')
    rng = np.random.default_rng(seed)
    first = rng.choice(x.shape[1], num_pairs, replace=False)
    second = rng.choice(x.shape[1], num_pairs, replace=False)
    per_text = np.linalg.norm(x[:, first] - x[:, second], axis=2).mean(axis=1)
    return float(per_text.mean())

"""The Guo et al. text-to-motion metrics: functions against direct computations, and the metric."""
import glob
import os.path as osp
import zlib

import numpy as np
import pytest
import torch

from mdkit.evaluation import (
    BaseMotionEvaluator,
    TextMotionMetric,
    activation_statistics,
    diversity,
    euclidean_distance_matrix,
    fid,
    frechet_distance,
    matching_score,
    multimodality,
    protocol_batches,
    r_precision,
)
from mdkit.evaluation.metrics import text_motion_metric
from mdkit.registry import METRICS
from mdkit.structures import MotionDataSample

# --------------------------------------------------------------------------- FID


def test_activation_statistics_matches_np_cov():
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    mu, sigma = activation_statistics(x)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False),
                               rtol=1e-13, atol=1e-15)
    mu1, sigma1 = activation_statistics(np.array([[0.0], [2.0]]))
    assert sigma1.shape == (1, 1) and sigma1[0, 0] == 2.0 and mu1[0] == 1.0


def test_frechet_distance_closed_form_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.5, 1.0, 3.0])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 4.0, 2.0])
    expected = float(((mu1 - mu2) ** 2 + s1 + s2 - 2 * np.sqrt(s1 * s2)).sum())
    got = frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert abs(got - expected) < 1e-12 * max(1.0, expected)
    # 1-D: scalars are accepted and equal the textbook formula
    assert abs(frechet_distance(0.0, 1.0, 1.0, 4.0) - 2.0) < 1e-14


def test_fid_1d_sets_match_closed_form():
    rng = np.random.default_rng(1)
    a = rng.normal(0.0, 1.0, size=(40, 1))
    b = rng.normal(2.0, 3.0, size=(60, 1))
    m1, m2 = a.mean(), b.mean()
    v1, v2 = a.var(ddof=1), b.var(ddof=1)
    expected = (m1 - m2) ** 2 + v1 + v2 - 2 * np.sqrt(v1 * v2)
    assert abs(fid(a, b) - expected) < 1e-12 * expected


def test_fid_identical_symmetric_and_translation():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 16)) @ rng.normal(size=(16, 16))
    y = rng.normal(size=(150, 16)) * 2.0 + 0.5
    assert 0.0 <= fid(x, x) < 1e-9 * np.trace(np.cov(x, rowvar=False))
    assert abs(fid(x, y) - fid(y, x)) < 1e-9 * fid(x, y)
    shift = rng.normal(size=16)
    # same covariance: FID is exactly the squared mean difference
    assert abs(fid(x, x + shift) - shift @ shift) < 1e-9 * (shift @ shift)
    # torch tensors are accepted
    assert abs(fid(torch.from_numpy(x), torch.from_numpy(y)) - fid(x, y)) < 1e-12


def test_fid_matches_scipy_sqrtm_when_well_conditioned():
    linalg = pytest.importorskip('scipy.linalg')
    rng = np.random.default_rng(3)
    a = rng.normal(size=(300, 8)) @ rng.normal(size=(8, 8))
    b = rng.normal(size=(300, 8)) + 1.0
    (m1, s1), (m2, s2) = activation_statistics(a), activation_statistics(b)
    covmean = linalg.sqrtm(s1 @ s2).real
    ref = float((m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    assert abs(fid(a, b) - ref) < 1e-8 * ref


def test_fid_near_singular_covariances_stay_finite_and_non_negative():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(5, 32))  # rank 4 covariance in 32 dims
    b = rng.normal(size=(6, 32)) * 3.0
    for value in (fid(a, b), fid(b, a), fid(a, a), fid(a * 1e-6, b * 1e-6)):
        assert np.isfinite(value) and value >= 0.0
    assert fid(a, a) < 1e-9 * np.trace(np.cov(a, rowvar=False))
    shift = np.full(32, 0.1)
    assert abs(fid(a, a + shift) - shift @ shift) < 1e-9
    assert abs(fid(a, b) - fid(b, a)) < 1e-9 * fid(a, b)
    # a degenerate set (all samples equal) has zero covariance
    collapsed = np.repeat(a[:1], 5, axis=0)
    tr = np.trace(np.cov(a, rowvar=False))
    expected = ((a.mean(0) - a[0]) ** 2).sum() + tr
    assert abs(fid(a, collapsed) - expected) < 1e-9 * expected


def test_fid_errors():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match='at least 2 samples'):
        fid(x[:1], x)
    with pytest.raises(ValueError, match='NaN'):
        fid(np.full((4, 3), np.nan), x)
    with pytest.raises(ValueError, match='dims differ'):
        fid(x, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r'\(N, E\)'):
        fid(np.zeros(4), x)
    with pytest.raises(ValueError, match='sigma1 and sigma2'):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match='mu1 and mu2'):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(3))
    with pytest.raises(ValueError, match='sigma2 contains NaN'):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.full((2, 2), np.nan))


# ------------------------------------------------------------- distances, R-precision


def test_euclidean_distance_matrix_direct_and_precise():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    direct = np.array([[np.sqrt(((x - y) ** 2).sum()) for y in b] for x in a])
    np.testing.assert_allclose(euclidean_distance_matrix(a, b), direct, rtol=1e-14, atol=0)
    # far from the origin the |a|^2 + |b|^2 - 2ab expansion loses everything; we do not
    big = 1e8 + rng.normal(size=(3, 4)) * 1e-3
    d = euclidean_distance_matrix(big, big)
    assert np.all(np.diag(d) == 0.0)
    ref = np.linalg.norm(big[0] - big[1])
    assert abs(d[0, 1] - ref) < 1e-9 * ref
    with pytest.raises(ValueError, match='dims differ'):
        euclidean_distance_matrix(a, b[:, :3])


def test_protocol_batches_shuffle_and_drop_last():
    assert [b.tolist() for b in protocol_batches(7, 3)] == [[0, 1, 2], [3, 4, 5]]
    assert [b.tolist() for b in protocol_batches(7, 3, drop_last=False)][-1] == [6]
    shuffled = protocol_batches(10, 5, seed=3)
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(10))
    assert [b.tolist() for b in shuffled] == [b.tolist() for b in protocol_batches(10, 5, 3)]
    assert np.concatenate(shuffled).tolist() != list(range(10))


def test_r_precision_aligned_is_one_and_shuffled_is_chance():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(96, 8))
    np.testing.assert_array_equal(r_precision(x, x), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(r_precision(x, x, seed=0), [1.0, 1.0, 1.0])
    # independent texts and motions: the true motion sits at a uniform rank
    t, m = rng.normal(size=(32 * 150, 8)), rng.normal(size=(32 * 150, 8))
    rp = r_precision(t, m, batch_size=32, top_k=3, seed=0)
    np.testing.assert_allclose(rp, np.arange(1, 4) / 32, atol=0.012)
    assert np.all(np.diff(rp) >= 0)


def test_r_precision_and_matching_score_hand_computed():
    # batch of 3, 1-D embeddings; distances text_i -> motions:
    #   t=0: [0.4, 4.0, 1.0] own motion nearest          -> rank 1
    #   t=1: [0.6, 3.0, 0.0] own motion third             -> rank 3
    #   t=5: [4.6, 1.0, 4.0] own motion second            -> rank 2
    text = np.array([[0.0], [1.0], [5.0], [10.0]])
    motion = np.array([[0.4], [4.0], [1.0], [0.0]])
    np.testing.assert_allclose(r_precision(text, motion, batch_size=3),
                               [1 / 3, 2 / 3, 1.0], rtol=0, atol=1e-15)
    assert abs(matching_score(text, motion, batch_size=3) - (0.4 + 3.0 + 4.0) / 3) < 1e-14
    # keeping the last (single-pair) batch: its text trivially finds its motion
    np.testing.assert_allclose(r_precision(text, motion, batch_size=3, drop_last=False),
                               [2 / 4, 3 / 4, 1.0], rtol=0, atol=1e-15)
    assert abs(matching_score(text, motion, 3, drop_last=False) - 17.4 / 4) < 1e-14
    # top_k beyond the batch is simply 1
    assert r_precision(text, motion, batch_size=3, top_k=5)[-1] == 1.0


def test_r_precision_ties_score_chance():
    text = np.random.default_rng(7).normal(size=(8, 3))
    np.testing.assert_allclose(r_precision(text, np.zeros((8, 3)), batch_size=4),
                               [0.25, 0.5, 0.75], rtol=0, atol=1e-15)


def test_r_precision_errors():
    x = np.zeros((10, 4))
    with pytest.raises(ValueError, match=r'batch_size=32.*got 10.*lower batch_size'):
        r_precision(x, x)
    with pytest.raises(ValueError, match=r'batch_size=32.*got 10'):
        matching_score(x, x)
    with pytest.raises(ValueError, match='paired'):
        r_precision(x, np.zeros((9, 4)), batch_size=4)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        r_precision(bad, x, batch_size=4)
    with pytest.raises(ValueError, match='top_k'):
        r_precision(x, x, batch_size=4, top_k=0)


# ------------------------------------------------------------ diversity, multimodality


def test_diversity_direct_and_identical_points():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(20, 5))
    draw = np.random.default_rng(11)
    first, second = draw.choice(20, 12, replace=False), draw.choice(20, 12, replace=False)
    expected = np.mean([np.sqrt(((x[i] - x[j]) ** 2).sum()) for i, j in zip(first, second)])
    assert abs(diversity(x, num_pairs=12, seed=11) - expected) < 1e-14
    assert diversity(x, 12, seed=11) == diversity(x, 12, seed=11)
    assert diversity(np.ones((30, 5)), num_pairs=30, seed=0) == 0.0
    # two points at distance 5: every pair is either (i, i) or (i, j)
    assert diversity(np.array([[0.0, 0.0], [3.0, 4.0]]), num_pairs=2, seed=0) in (0.0, 5.0)


def test_diversity_errors():
    with pytest.raises(ValueError, match=r'num_pairs=300.*only 20 samples'):
        diversity(np.zeros((20, 3)))
    with pytest.raises(ValueError, match='NaN'):
        diversity(np.full((4, 3), np.nan), num_pairs=2)


def test_multimodality_direct():
    # text t, repeat r sits at r * scale_t on one axis: distance = scale_t * |i - j|
    scales = np.array([1.0, 2.0, 5.0])
    emb = np.zeros((3, 6, 2))
    emb[:, :, 0] = scales[:, None] * np.arange(6)[None, :]
    draw = np.random.default_rng(4)
    first, second = draw.choice(6, 4, replace=False), draw.choice(6, 4, replace=False)
    expected = np.mean(scales) * np.abs(first - second).mean()
    assert abs(multimodality(emb, num_pairs=4, seed=4) - expected) < 1e-13
    assert multimodality(np.ones((100, 30, 8)), seed=0) == 0.0


def test_multimodality_errors():
    with pytest.raises(ValueError, match=r'num_pairs=10.*only 5 repeats'):
        multimodality(np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match='num_texts, num_repeats, E'):
        multimodality(np.zeros((4, 5)))


# ------------------------------------------------------------------- the metric


class _MeanPoolEvaluator(BaseMotionEvaluator):
    """Motion: mean of valid frames times a fixed matrix. Text: hashed bag of words."""

    def __init__(self, feature_dim=6, embed_dim=4, vocab=64, unit_length=1, seed=0):
        super().__init__()
        self.feature_dim, self.embed_dim, self.unit_length = feature_dim, embed_dim, unit_length
        self.vocab = vocab
        g = torch.Generator().manual_seed(seed)
        self.register_buffer('motion_proj', torch.randn(feature_dim, embed_dim, generator=g))
        self.register_buffer('text_proj', torch.randn(vocab, embed_dim, generator=g))
        self.seen_lengths, self.seen_tokens = [], []

    def encode_motion(self, motion, lengths):
        self.check_motion(motion, lengths)
        self.seen_lengths.append(lengths.tolist())
        mask = (torch.arange(motion.shape[1])[None] < lengths[:, None]).float()
        pooled = (motion * mask[..., None]).sum(1) / lengths[:, None].float()
        return pooled @ self.motion_proj

    def encode_text(self, texts, tokens=None):
        self.seen_tokens.append(tokens)
        bags = torch.zeros(len(texts), self.vocab)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                bags[i, zlib.crc32(word.encode()) % self.vocab] += 1
        return bags @ self.text_proj


def _samples(n, feature_dim=6, seed=0, pred_noise=0.0, as_dict=False):
    rng = np.random.default_rng(seed)
    words = ['walk', 'run', 'jump', 'turn', 'wave', 'sit', 'kick', 'crawl']
    out = []
    for i in range(n):
        length = int(rng.integers(5, 15))
        gt = np.full((16, feature_dim), 1e3, dtype=np.float32)  # padding must be ignored
        gt[:length] = rng.normal(size=(length, feature_dim))
        pred = gt[:length] + pred_noise * rng.normal(size=(length, feature_dim))
        text = f'a person {words[i % 8]}s {words[(3 * i + 1) % 8]}'
        tokens = [f'{w}/NOUN' for w in text.split()]
        if as_dict:
            out.append(dict(pred_motion=pred.astype(np.float32), gt_motion=gt, length=length,
                            text=text, metainfo=dict(text_tokens=tokens)))
        else:
            s = MotionDataSample(metainfo=dict(text_tokens=tokens))
            s.gt_motion = torch.from_numpy(gt)
            s.length = length
            s.text = text
            s.pred_motion = torch.from_numpy(pred.astype(np.float32))
            out.append(s)
    return out


def _run(metric, samples, batch=4):
    for i in range(0, len(samples), batch):
        metric.process({}, samples[i:i + batch])
    return metric.compute_metrics(metric.results)


def test_metric_returns_every_key_and_matches_functions():
    ev = _MeanPoolEvaluator()
    metric = TextMotionMetric(ev, r_precision_batch=4, top_k=3, diversity_pairs=6, seed=1)
    samples = _samples(10, pred_noise=0.5)
    res = _run(metric, samples)
    keys = {'fid', 'matching_score', 'diversity', 'gt_matching_score', 'gt_diversity',
            'r_precision_batch_used', 'diversity_pairs_used', 'num_samples'}
    keys |= {f'{p}r_precision_top{k}' for p in ('', 'gt_') for k in (1, 2, 3)}
    assert set(res) == keys
    assert all(isinstance(v, float) and np.isfinite(v) for v in res.values())
    assert res['r_precision_batch_used'] == 4 and res['diversity_pairs_used'] == 6
    assert res['fid'] > 0
    # embeddings: mean of the valid frames only (the 1e3 padding never leaks in)
    proj = ev.motion_proj.double().numpy()
    gt = np.stack([s.gt_motion[:s.length].double().numpy().mean(0) @ proj for s in samples])
    pred = np.stack([s.pred_motion.double().numpy().mean(0) @ proj for s in samples])
    np.testing.assert_allclose(np.stack([r['gt_emb'] for r in metric.results]), gt,
                               rtol=1e-5, atol=1e-5)
    text = np.stack([r['text_emb'] for r in metric.results])
    assert abs(res['fid'] - fid(np.stack([r['pred_emb'] for r in metric.results]),
                                np.stack([r['gt_emb'] for r in metric.results]))) < 1e-12
    assert abs(res['fid'] - fid(pred, gt)) < 1e-3 * res['fid']
    np.testing.assert_allclose(
        [res[f'r_precision_top{k}'] for k in (1, 2, 3)],
        r_precision(text, np.stack([r['pred_emb'] for r in metric.results]), 4, 3, seed=1))
    assert res['gt_diversity'] == diversity(np.stack([r['gt_emb'] for r in metric.results]),
                                            6, seed=1)
    # tokens from the metainfo reach the evaluator
    assert ev.seen_tokens[0][0][:2] == ['a/NOUN', 'person/NOUN']
    # reproducible
    assert metric.compute_metrics(metric.results) == res


def test_metric_same_pred_and_gt_gives_zero_fid_and_equal_rows():
    metric = TextMotionMetric(_MeanPoolEvaluator(), r_precision_batch=4, diversity_pairs=8)
    res = _run(metric, _samples(8, pred_noise=0.0))
    assert 0.0 <= res['fid'] < 1e-9
    for key in ('r_precision_top1', 'r_precision_top3', 'matching_score', 'diversity'):
        assert abs(res[key] - res[f'gt_{key}']) < 1e-5


def test_metric_accepts_dicts_like_data_samples():
    a = _run(TextMotionMetric(_MeanPoolEvaluator(), 4, diversity_pairs=6),
             _samples(8, pred_noise=0.3))
    b = _run(TextMotionMetric(_MeanPoolEvaluator(), 4, diversity_pairs=6),
             _samples(8, pred_noise=0.3, as_dict=True))
    assert a == b


def test_metric_floors_lengths_to_unit_length():
    ev = _MeanPoolEvaluator(unit_length=4)
    metric = TextMotionMetric(ev)
    s = _samples(2)
    s[0].length, s[1].length = 10, 3
    s[0].pred_motion, s[1].pred_motion = torch.zeros(7, 6), torch.zeros(2, 6)
    metric.process({}, s)
    pred_lengths, gt_lengths = ev.seen_lengths
    assert pred_lengths == [4, 4] and gt_lengths == [8, 4]


def test_metric_adapt_sizes_warns_once_and_reports(monkeypatch):
    logged = []
    monkeypatch.setattr(text_motion_metric, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw)))
    metric = TextMotionMetric(_MeanPoolEvaluator())  # protocol sizes: 32 and 300
    res = _run(metric, _samples(6, pred_noise=0.2))
    assert res['r_precision_batch_used'] == 6 and res['diversity_pairs_used'] == 6
    assert res['num_samples'] == 6
    metric.compute_metrics(metric.results)
    assert len(logged) == 1
    msg, kw = logged[0]
    assert 'r_precision_batch=6' in msg and 'diversity_pairs=6' in msg
    assert kw['level'] == 30  # logging.WARNING


def test_metric_adapt_sizes_false_raises():
    metric = TextMotionMetric(_MeanPoolEvaluator(), adapt_sizes=False)
    with pytest.raises(ValueError, match=r'r_precision_batch=32.*got 6'):
        _run(metric, _samples(6))
    metric = TextMotionMetric(_MeanPoolEvaluator(), r_precision_batch=4, adapt_sizes=False)
    with pytest.raises(ValueError, match=r'diversity_pairs=300.*got 6'):
        _run(metric, _samples(6))


def test_metric_errors_and_build():
    with pytest.raises(TypeError, match='BaseMotionEvaluator'):
        TextMotionMetric(torch.nn.Linear(2, 2))
    metric = TextMotionMetric(_MeanPoolEvaluator())
    with pytest.raises(KeyError, match='pred_motion'):
        metric.process({}, [dict(gt_motion=np.zeros((4, 6)), text='a')])
    metric = METRICS.build(dict(type='TextMotionMetric',
                                evaluator=dict(type='T2MEvaluator', dataset='humanml3d')))
    assert metric.prefix == 't2m' and not metric.evaluator.training
    assert metric.evaluator_identity['type'] == 'T2MEvaluator'


# ----------------------------------------------------------------- real motions


def test_real_motions_fid_noise_and_collapse(humanml3d_samples):
    files = sorted(glob.glob(osp.join(humanml3d_samples, 'new_joint_vecs', '*.npy')))
    if len(files) < 3:
        pytest.skip(f'need at least 3 HumanML3D sample motions in {humanml3d_samples}')
    windows, texts = [], []
    for f in files:  # 40-frame windows, stride 10: tens of real clips
        feats = np.load(f).astype(np.float32)
        for start in range(0, len(feats) - 40 + 1, 10):
            windows.append(feats[start:start + 40])
            texts.append(f'clip {osp.basename(f)[:-4]}')
    assert len(windows) >= 40
    std = np.concatenate(windows).std(axis=0)
    rng = np.random.default_rng(0)

    def evaluate(preds):
        metric = TextMotionMetric(_MeanPoolEvaluator(feature_dim=263, embed_dim=8),
                                  r_precision_batch=16, diversity_pairs=32)
        samples = [dict(pred_motion=p, gt_motion=g, text=t)
                   for p, g, t in zip(preds, windows, texts)]
        return _run(metric, samples, batch=48)

    real = evaluate(windows)
    assert real['fid'] < 1e-9
    fids = []
    for level in (0.3, 1.0, 3.0):
        noisy = [w + (level * std * rng.normal(size=w.shape)).astype(np.float32)
                 for w in windows]
        fids.append(evaluate(noisy)['fid'])
    assert 0 < fids[0] < fids[1] < fids[2], fids
    collapsed = evaluate([windows[0]] * len(windows))
    assert collapsed['diversity'] == 0.0 < collapsed['gt_diversity'] == real['diversity']
    assert np.isfinite(collapsed['fid']) and collapsed['fid'] > 0

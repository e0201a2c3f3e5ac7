"""Test protocol helpers and the metric sanity checks on real data with a trained evaluator."""
import numpy as np
import pytest
import torch

from mdkit.evaluation.evaluators import ContrastiveEvaluator
from mdkit.evaluation.functional import diversity, fid, r_precision
from mdkit.evaluation.protocol import mean_confidence_interval, protocol_markdown


def test_mean_confidence_interval():
    mean, ci = mean_confidence_interval([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert ci == pytest.approx(1.96 * np.std([1, 2, 3, 4]) / 2)
    assert mean_confidence_interval([5.0]) == (5.0, 0.0)
    with pytest.raises(ValueError, match='no values'):
        mean_confidence_interval([])


def test_markdown_table_has_real_and_generated_rows():
    metrics = {'t2m/fid': dict(mean=1.23456, ci95=0.01, values=[]),
               't2m/r_precision_top1': dict(mean=0.5, ci95=0.002, values=[]),
               't2m/gt_r_precision_top1': dict(mean=0.6, ci95=0.001, values=[]),
               'plausibility/pred_jitter': dict(mean=300.0, ci95=5.0, values=[]),
               'plausibility/gt_jitter': dict(mean=100.0, ci95=0.0, values=[])}
    settings = dict(repetitions=3, use_gt_length=True, test_samples=10,
                    evaluator=dict(type='ContrastiveEvaluator'))
    table = protocol_markdown(dict(metrics=metrics, settings=settings), name='mine')
    lines = table.splitlines()
    assert lines[0].count('|') == 5  # label + top1, FID, jitter columns
    assert '| real | 0.600 ± 0.001 | – | 100.000 ± 0.000 |' in table
    assert '| mine | 0.500 ± 0.002 | 1.235 ± 0.010 | 300.000 ± 5.000 |' in table
    assert '3 repetitions' in table and 'ContrastiveEvaluator' in table


@pytest.fixture(scope='module')
def real_embeddings(captioned_cmu_dataset, tmp_path_factory):
    """Real motions with distinct captions, embedded by an evaluator fitted to them."""
    from conftest import train_tiny_evaluator

    from mdkit.datasets import HumanML3DDataset
    path = train_tiny_evaluator(captioned_cmu_dataset, 'all',
                                str(tmp_path_factory.mktemp('ev') / 'ev.pth'), steps=80)
    ds = HumanML3DDataset(data_root=captioned_cmu_dataset, split='all', min_length=20,
                          max_length=None, test_mode=True, pipeline=[])
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert len({d['texts'][0] for d in infos}) == len(infos) >= 10
    ev = ContrastiveEvaluator(checkpoint=path)
    lengths = torch.tensor([min(len(d['motion']), 196) for d in infos])
    motion = torch.zeros(len(infos), int(lengths.max()), 263)
    for i, d in enumerate(infos):
        motion[i, :lengths[i]] = torch.from_numpy(d['motion'][:lengths[i]])
    texts = [d['texts'][0] for d in infos]
    with torch.no_grad():
        return dict(ev=ev, motion=motion, lengths=lengths, texts=texts,
                    motion_emb=ev.encode_motion(motion, lengths).double().numpy(),
                    text_emb=ev.encode_text(texts).double().numpy())


def test_r_precision_of_real_pairs_is_above_chance_and_drops_when_shuffled(real_embeddings):
    t, m = real_embeddings['text_emb'], real_embeddings['motion_emb']
    n = len(t)
    real = r_precision(t, m, batch_size=n, top_k=3, seed=0)
    assert real[0] > 5.0 / n, (real, n)  # at least five times chance
    rng = np.random.default_rng(0)
    shuffled = np.mean([r_precision(t[rng.permutation(n)], m, batch_size=n, top_k=3, seed=0)
                        for _ in range(200)], axis=0)
    np.testing.assert_allclose(shuffled, np.arange(1, 4) / n, atol=0.05)
    assert real[0] > shuffled[0] + 0.3


def test_fid_of_real_halves_is_far_below_noised_and_grows_with_noise(real_embeddings):
    ev, motion = real_embeddings['ev'], real_embeddings['motion']
    lengths = real_embeddings['lengths']
    # many real samples: 40-frame windows (stride 5) of every motion
    windows = torch.stack([motion[i, s:s + 40] for i in range(len(motion))
                           for s in range(0, int(lengths[i]) - 40 + 1, 5)])
    n40 = torch.full((len(windows),), 40)
    assert len(windows) >= 60
    with torch.no_grad():
        emb = ev.encode_motion(windows, n40).double().numpy()
    perm = np.random.default_rng(0).permutation(len(emb))
    half = len(emb) // 2
    halves = fid(emb[perm[:half]], emb[perm[half:2 * half]])
    fids = []
    for scale in (1.0, 3.0, 10.0, 30.0):
        g = torch.Generator().manual_seed(0)
        noised = windows + scale * ev.std * torch.randn(windows.shape, generator=g)
        with torch.no_grad():
            fids.append(fid(emb, ev.encode_motion(noised, n40).double().numpy()))
    assert fids[0] < fids[1] < fids[2] < fids[3], fids
    assert halves < 0.2 * fids[-1], (halves, fids)
    assert fid(emb, emb) < 1e-8


def test_diversity_of_real_is_above_a_collapsed_set(real_embeddings):
    emb = real_embeddings['motion_emb']
    n = len(emb)
    collapsed = np.repeat(emb[:1], n, axis=0) + 1e-6
    assert diversity(emb, num_pairs=n, seed=0) > 10 * diversity(collapsed, num_pairs=n, seed=0)


"""ContrastiveEvaluator: embeddings, InfoNCE training on real data, export/load, retrieval."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from mdkit.evaluation.evaluators import (
    ContrastiveEvaluator,
    ContrastiveEvaluatorModel,
    dataset_fingerprint,
)
from mdkit.evaluation.metrics import RetrievalMetric, retrieval_recall
from mdkit.registry import METRICS, MODELS
from mdkit.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'evaluators', 'contrastive_minilm-tf3-128_2k_cmu.py')
TINY = dict(embed_dim=16, width=32, num_layers=1, num_heads=2, ff_dim=64, dropout=0.0)


@pytest.fixture(scope='module')
def real_batch(mini_cmu_dataset):
    """Eight real clips with their captions, padded, as the preprocessor yields them."""
    from mdkit.datasets import HumanML3DDataset
    register_all_modules()
    ds = HumanML3DDataset(data_root=mini_cmu_dataset, split='train', min_length=20,
                          test_mode=True, pipeline=[])
    infos = [ds.get_data_info(i) for i in range(min(len(ds), 8))]
    t = max(len(d['motion']) for d in infos)
    motion = torch.zeros(len(infos), t, 263)
    for i, d in enumerate(infos):
        motion[i, :len(d['motion'])] = torch.from_numpy(d['motion'])
    lengths = torch.tensor([len(d['motion']) for d in infos])
    return dict(motion=motion, lengths=lengths, texts=[d['texts'][0] for d in infos],
                root=mini_cmu_dataset, dataset=ds)


def _evaluator(root, **kw):
    return ContrastiveEvaluator(mean=osp.join(root, 'Mean.npy'), std=osp.join(root, 'Std.npy'),
                                **{**TINY, **kw})


def test_embeddings_shape_norm_padding_and_order(real_batch):
    ev = _evaluator(real_batch['root']).eval()
    m, n = real_batch['motion'], real_batch['lengths']
    with torch.no_grad():
        emb = ev.encode_motion(m, n)
        assert emb.shape == (len(m), 16)
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(len(m)))
        # padding content beyond each length does not matter
        noisy = m.clone()
        for i, k in enumerate(n):
            noisy[i, k:] = 7.0
        torch.testing.assert_close(ev.encode_motion(noisy, n), emb, atol=1e-5, rtol=1e-5)
        perm = torch.randperm(len(m))
        torch.testing.assert_close(ev.encode_motion(m[perm], n[perm]), emb[perm],
                                   atol=1e-5, rtol=1e-5)
        text = ev.encode_text(real_batch['texts'])
        assert text.shape == (len(m), 16)
        torch.testing.assert_close(text.norm(dim=-1), torch.ones(len(m)))


def test_bad_input_is_reported(real_batch):
    root = real_batch['root']
    with pytest.raises(ValueError, match='mean= and std='):
        ContrastiveEvaluator(**TINY)
    with pytest.raises(FileNotFoundError, match='Mean'):
        ContrastiveEvaluator(mean=osp.join(root, 'nope', 'Mean.npy'),
                             std=osp.join(root, 'Std.npy'), **TINY)
    with pytest.raises(ValueError, match='feature_dim=251'):
        _evaluator(root, feature_dim=251)
    ev = _evaluator(root)
    m, n = real_batch['motion'], real_batch['lengths']
    with pytest.raises(ValueError, match=r'\(B, T, 263\)'):
        ev.encode_motion(m[..., :251], n)
    with pytest.raises(ValueError, match='lengths must lie'):
        ev.encode_motion(m, n * 0)
    bad = m.clone()
    bad[0, 0, 0] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        ev.encode_motion(bad, n)


def _model(root, **kw):
    return ContrastiveEvaluatorModel(
        evaluator=dict(type='ContrastiveEvaluator', mean=osp.join(root, 'Mean.npy'),
                       std=osp.join(root, 'Std.npy'), **TINY),
        data_preprocessor=dict(type='MotionDataPreprocessor', codec=dict(type='HumanML3DCodec'),
                               normalize=False), **kw)


def test_infonce_decreases_on_real_pairs(real_batch):
    torch.manual_seed(0)
    model = _model(real_batch['root'], false_negative_threshold=None)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    m, n, texts = real_batch['motion'], real_batch['lengths'], real_batch['texts']
    # distinct captions so that every pair is learnable
    texts = [f'{t} (clip {i})' for i, t in enumerate(texts)]
    losses = []
    for _ in range(40):
        out = model.loss(model.evaluator.encode_motion(m, n),
                         model.evaluator.encode_text(texts), model.evaluator.text_features(texts))
        opt.zero_grad()
        out['loss_infonce'].backward()
        opt.step()
        losses.append(out['loss_infonce'].detach().item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert float(out['acc_top1']) > 0.5


def test_false_negatives_and_hard_negative_weights(real_batch):
    model = _model(real_batch['root'], false_negative_threshold=0.95, hard_negative_beta=2.0)
    texts = ['a person walks', 'a person walks', 'someone jumps high', 'salsa dance']
    logits = torch.randn(4, 4)
    w = model.negative_weights(model.evaluator.text_features(texts), logits)
    assert w[0, 1] == 0 and w[1, 0] == 0  # identical captions are not negatives
    assert torch.all(torch.diag(w) == 1)
    off = ~torch.eye(4, dtype=torch.bool)
    # re-weighted negatives keep mean 1 over the kept ones, and favour the more similar
    kept = (w > 0) & off
    for i in range(4):
        assert torch.isclose(w[i][kept[i]].mean(), torch.tensor(1.0))
    assert (w[2, 0] > w[2, 1]) == (logits[2, 0] > logits[2, 1])
    # removing a negative changes the loss exactly like dropping its column
    plain = _model(real_batch['root'], false_negative_threshold=None)
    emb = torch.nn.functional.normalize(torch.randn(4, 16), dim=-1)
    feats = plain.evaluator.text_features(texts)
    assert not torch.isclose(plain.loss(emb, emb, feats)['loss_infonce'],
                             _model(real_batch['root']).loss(emb, emb, feats)['loss_infonce'])
    with pytest.raises(ValueError, match='temperature'):
        _model(real_batch['root'], temperature=0)


def test_export_and_load_round_trip(real_batch, tmp_path):
    model = _model(real_batch['root'])
    path = model.export(str(tmp_path / 'ev.pth'),
                        dict(dataset=dataset_fingerprint(real_batch['dataset'])))
    loaded = MODELS.build(dict(type='ContrastiveEvaluator', checkpoint=path))
    assert not any(p.requires_grad for p in loaded.parameters())
    loaded.train()
    assert not loaded.training
    model.eval()
    m, n, texts = real_batch['motion'], real_batch['lengths'], real_batch['texts']
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_motion(m, n),
                                   model.evaluator.encode_motion(m, n))
        torch.testing.assert_close(loaded.encode_text(texts), model.evaluator.encode_text(texts))
    ident = loaded.identity()
    assert ident['type'] == 'ContrastiveEvaluator' and len(ident['checkpoint_sha256']) == 64
    assert ident['dataset']['split'] == 'train' and ident['dataset']['num_samples'] > 0
    assert ident['text_encoder'] == loaded.text_encoder.identity() != ''
    # the frozen text encoder is not stored
    ckpt = torch.load(path, weights_only=True)
    assert not any(k.startswith('text_encoder.') for k in ckpt['state_dict'])
    # a tampered file is reported with the offending keys
    ckpt['state_dict'].pop('motion_proj.bias')
    ckpt['state_dict']['motion_in.weight'] = torch.zeros(3, 3)
    torch.save(ckpt, tmp_path / 'bad.pth')
    with pytest.raises(RuntimeError, match=r'motion_proj\.bias.*motion_in\.weight'):
        ContrastiveEvaluator(checkpoint=str(tmp_path / 'bad.pth'))
    torch.save({'state_dict': {}}, tmp_path / 'other.pth')
    with pytest.raises(ValueError, match='not an exported mdkit contrastive evaluator'):
        ContrastiveEvaluator(checkpoint=str(tmp_path / 'other.pth'))
    (tmp_path / 'corrupt.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match='cannot read'):
        ContrastiveEvaluator(checkpoint=str(tmp_path / 'corrupt.pth'))
    with pytest.raises(FileNotFoundError, match='train_evaluator'):
        ContrastiveEvaluator(checkpoint=str(tmp_path / 'missing.pth'))


def test_retrieval_recall_counts_same_caption_as_correct():
    emb = np.eye(4)
    out = retrieval_recall(emb, emb, ['a', 'b', 'c', 'd'])
    assert out['t2m_R@1'] == 100.0 and out['m2t_median_rank'] == 1.0
    motion = emb[[1, 0, 2, 3]]  # first two swapped
    out = retrieval_recall(emb, motion, ['a', 'b', 'c', 'd'])
    assert out['t2m_R@1'] == 50.0 and out['t2m_R@2'] == 100.0  # ties keep index order
    out = retrieval_recall(emb, motion, ['a', 'a', 'c', 'd'])
    assert out['t2m_R@1'] == 100.0
    metric = METRICS.build(dict(type='RetrievalMetric', ks=(1, 2)))
    metric.process({}, [dict(text=t, motion_emb=torch.tensor(m), text_emb=torch.tensor(e))
                        for t, m, e in zip('abcd', motion, emb)])
    res = metric.compute_metrics(metric.results)
    assert res['t2m_R@1'] == 50.0 and res['num_samples'] == 4
    assert res['r_precision_batch_used'] == 4 and res['r_precision_top1'] == 0.5
    assert res['r_precision_top3'] >= res['r_precision_top2'] >= 0.5
    with pytest.raises(KeyError, match='motion_emb'):
        RetrievalMetric().process({}, [dict(text='a', text_emb=torch.zeros(2))])


def test_train_evaluator_tool(mini_cmu_dataset, tmp_path):
    work = str(tmp_path / 'work')
    opts = {'train_cfg.max_iters': 4, 'train_cfg.val_interval': 2,
            'default_hooks.checkpoint.interval': 2, 'default_hooks.logger.interval': 1,
            'param_scheduler': '[]',
            **{f'model.evaluator.{k}': v for k, v in TINY.items()},
            'model.evaluator.mean': osp.join(mini_cmu_dataset, 'Mean.npy'),
            'model.evaluator.std': osp.join(mini_cmu_dataset, 'Std.npy'),
            'model.data_preprocessor.codec.mean': osp.join(mini_cmu_dataset, 'Mean.npy'),
            'model.data_preprocessor.codec.std': osp.join(mini_cmu_dataset, 'Std.npy')}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({f'{loader}.dataset.data_root': mini_cmu_dataset,
                     f'{loader}.batch_size': 4, f'{loader}.num_workers': 0,
                     f'{loader}.persistent_workers': False,
                     f'{loader}.dataset.min_length': 20})
    args = [sys.executable, osp.join(REPO, 'tools', 'train_evaluator.py'), CONFIG,
            '--work-dir', work, '--cfg-options'] + [f'{k}={v}' for k, v in opts.items()]
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(osp.join(work, 'evaluator.json')) as f:
        meta = json.load(f)
    assert meta['iterations'] == 4 and meta['dataset']['split'] == 'train'
    assert 'retrieval/t2m_R@1' in meta['test_retrieval']
    ev = ContrastiveEvaluator(checkpoint=osp.join(work, 'evaluator.pth'))
    assert ev.identity()['dataset']['sha256'] == meta['dataset']['sha256']
    # re-export from a training checkpoint, and refuse a non-evaluator config
    proc = subprocess.run(args[:2] + [CONFIG, '--work-dir', work, '--export-only',
                                      osp.join(work, 'iter_4.pth'), '--out',
                                      str(tmp_path / 'again.pth'), '--cfg-options']
                          + args[6:], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    torch.testing.assert_close(
        torch.load(tmp_path / 'again.pth', weights_only=True)['state_dict'],
        torch.load(osp.join(work, 'evaluator.pth'), weights_only=True)['state_dict'])
    other = osp.join(REPO, 'configs', 'baselines', 'tmd_minilm-xattn-small_2k_cmu.py')
    proc = subprocess.run(args[:2] + [other], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode != 0 and 'not an evaluator' in proc.stderr

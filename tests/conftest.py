"""Shared fixtures: the real motion data folder (skip with a reason when absent)."""
import os
import os.path as osp

import pytest

from mdkit.utils import find_motion_data_root


@pytest.fixture(scope='session')
def motion_data_root():
    """Path of the real motion data (``$MDKIT_DATA`` or ``../shared/motion_data``)."""
    root = find_motion_data_root(required=False)
    if root is None:
        pytest.skip('real motion data not found: set MDKIT_DATA to the motion_data folder')
    return root


@pytest.fixture(scope='session')
def humanml3d_samples(motion_data_root):
    """Path of the HumanML3D reference samples folder."""
    path = osp.join(motion_data_root, 'humanml3d', 'samples')
    if not osp.isdir(path):
        pytest.skip(f'HumanML3D reference samples missing at {path}')
    return path


@pytest.fixture(scope='session')
def cmu_root(motion_data_root):
    """Path of the CMU mocap folder (zips + available_trials.json)."""
    path = osp.join(motion_data_root, 'cmu')
    if not osp.isfile(osp.join(path, 'available_trials.json')):
        pytest.skip(f'CMU mocap data missing at {path}')
    return path


#: Real CMU trials of every skeleton convention, enough for tiny training runs.
MINI_TRIALS = ['01_01', '02_01', '02_02', '05_01', '60_01', '131_01', '16_01', '35_01', '16_15',
               '07_01', '08_01', '06_01']


@pytest.fixture(scope='session')
def mini_cmu_dataset(cmu_root, tmp_path_factory):
    """A HumanML3D-format folder converted from a dozen real CMU trials (all splits non-empty)."""
    from mdkit.datasets.converters import ConversionConfig, assign_split, convert_dataset
    out = str(tmp_path_factory.mktemp('mini_cmu'))
    report = convert_dataset(cmu_root, out, ConversionConfig(), trials=MINI_TRIALS,
                             progress=False)
    assert report['trials_ok'] == len(MINI_TRIALS), report['trials_failed']
    assert {assign_split(t) for t in MINI_TRIALS} == {'train', 'val', 'test'}
    return out


def train_tiny_evaluator(data_root: str, split: str, out_path: str, steps: int = 60,
                         seed: int = 0) -> str:
    """Fit a tiny ContrastiveEvaluator to a split's clips (first caption) and export it."""
    import numpy as np
    import torch

    from mdkit.datasets import HumanML3DDataset, motion_collate
    from mdkit.evaluation.evaluators import ContrastiveEvaluatorModel, dataset_fingerprint
    from mdkit.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(seed)
    np.random.seed(seed)
    pipeline = [dict(type='RandomCaption', random=False),
                dict(type='CropMotion', max_length=196, unit_length=4),
                dict(type='PackMotionInputs')]
    ds = HumanML3DDataset(data_root=data_root, split=split, min_length=20, max_length=None,
                          pipeline=pipeline)
    model = ContrastiveEvaluatorModel(
        evaluator=dict(type='ContrastiveEvaluator', embed_dim=16, width=32, num_layers=1,
                       num_heads=2, ff_dim=64, dropout=0.0,
                       mean=osp.join(data_root, 'Mean.npy'), std=osp.join(data_root, 'Std.npy')),
        data_preprocessor=dict(type='MotionDataPreprocessor',
                               codec=dict(type='HumanML3DCodec'), normalize=False))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    n = min(len(ds), 32)
    for _ in range(steps):
        data = model.data_preprocessor(motion_collate([ds[i] for i in range(n)]), True)
        loss = model(**data, mode='loss')['loss_infonce']
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.export(out_path, dict(dataset=dataset_fingerprint(ds)))


@pytest.fixture(scope='session')
def tiny_evaluator_checkpoint(mini_cmu_dataset, tmp_path_factory):
    """A tiny ContrastiveEvaluator trained briefly on the mini dataset and exported."""
    return train_tiny_evaluator(mini_cmu_dataset, 'train',
                                str(tmp_path_factory.mktemp('evaluator') / 'evaluator.pth'))


#: Real CMU trials whose KIT-ML captions all differ (one clip per trial, no mirrors).
CAPTIONED_TRIALS = ['01_01', '01_03', '01_07', '02_06', '02_09', '02_10', '05_16', '07_03',
                    '07_11', '08_05', '08_01', '39_03']


@pytest.fixture(scope='session')
def captioned_cmu_dataset(cmu_root, tmp_path_factory):
    """A HumanML3D-format folder of real trials with distinct captions, all in all.txt."""
    from mdkit.datasets.converters import ConversionConfig, convert_dataset
    out = str(tmp_path_factory.mktemp('captioned_cmu'))
    cfg = ConversionConfig(mirror=False, use_descriptions=False, max_clip_seconds=600.0)
    report = convert_dataset(cmu_root, out, cfg, trials=CAPTIONED_TRIALS, progress=False)
    assert report['trials_ok'] == len(CAPTIONED_TRIALS), report['trials_failed']
    return out


#: A tiny VideoMAE (random weights) for tests that need real video features fast.
TINY_VIDEOMAE = dict(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32,
                     num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)


@pytest.fixture(scope='session')
def mini_video_features(mini_cmu_dataset, tmp_path_factory):
    """Precomputed video features of every mini-dataset clip: real joints rendered to 32x32
    clips by ``BodyClipRenderer``, encoded by a tiny VideoMAE, written in the cache layout."""
    import glob

    import numpy as np

    from mdkit.models.video_encoders import VideoMAEVideoEncoder
    from mdkit.models.video_encoders.feature_cache import FORMAT_VERSION, write_feature_meta
    from mdkit.visualization import BodyClipRenderer
    out = str(tmp_path_factory.mktemp('video_feats'))
    renderer = BodyClipRenderer(size=32)
    encoder = VideoMAEVideoEncoder(config=TINY_VIDEOMAE)
    samples = {}
    for path in sorted(glob.glob(os.path.join(mini_cmu_dataset, 'new_joints', '*.npy'))):
        sid = os.path.splitext(os.path.basename(path))[0]
        frames = renderer.render(np.load(path), seed=0)
        feats, counts = encoder.encode_native([frames])
        np.save(os.path.join(out, f'{sid}.npy'), feats[0].numpy().astype(np.float32))
        samples[sid] = dict(num_frames=int(counts[0]), num_slots=int(feats[0].shape[0]))
    write_feature_meta(out, dict(
        format_version=FORMAT_VERSION, encoder='VideoMAEVideoEncoder',
        encoder_config=encoder.encoder_config(), config_hash=encoder.config_hash(),
        feature_dim=encoder.out_dim, tubelet_size=encoder.tubelet_size, video_fps=20.0,
        render=dict(size=32), samples=samples))
    return out

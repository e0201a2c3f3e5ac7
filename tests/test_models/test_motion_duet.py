"""MotionDuet on real data: video features of rendered real clips, modality dropout, DASH."""
import os.path as osp

import pytest
import torch
from mmengine.optim import build_optim_wrapper

from mdkit.datasets import HumanML3DDataset, motion_collate
from mdkit.registry import MODELS
from mdkit.utils import register_all_modules


def duet_cfg(data_root, feature_dir, **kw):
    cfg = dict(
        type='MotionDuet',
        text_encoder=dict(type='MiniLMTextEncoder', max_length=32),
        video_encoder=dict(type='PrecomputedVideoEncoder', feature_dir=feature_dir,
                           expected_encoder='VideoMAEVideoEncoder'),
        fusion=dict(type='DUETFusion'),
        denoiser=dict(type='MotionTransformerDenoiser', width=32, num_layers=2, num_heads=2,
                      ff_dim=64, dropout=0.1, prediction_type='sample'),
        train_scheduler=dict(type='DDPMScheduler', num_train_timesteps=100,
                             beta_schedule='cosine', prediction_type='sample'),
        sampler=dict(type='DDIMSampler'),
        losses=dict(diffusion=dict(type='MaskedDiffusionLoss')),
        align_loss=dict(type='DASHLoss', num_slots=8),
        align_layer=0,
        guidance=dict(type='ClassifierFreeGuidance', modality_scales=dict(text=2.0, video=1.5)),
        data_preprocessor=dict(type='MotionDataPreprocessor', codec=dict(
            type='HumanML3DCodec', mean=osp.join(data_root, 'Mean.npy'),
            std=osp.join(data_root, 'Std.npy'))),
        num_inference_steps=3, max_length=64)
    cfg.update(kw)
    return cfg


@pytest.fixture(scope='module')
def batch(mini_cmu_dataset):
    register_all_modules()
    ds = HumanML3DDataset(mini_cmu_dataset, split='train', pipeline=[
        dict(type='RandomCaption', random=False),
        dict(type='CropMotion', max_length=48, random=True), dict(type='PackMotionInputs')])
    torch.manual_seed(0)
    return motion_collate([ds[i] for i in range(4)])


def test_video_is_cropped_and_timed_like_the_motion(mini_cmu_dataset, mini_video_features,
                                                    batch):
    model = MODELS.build(duet_cfg(mini_cmu_dataset, mini_video_features))
    data = model.data_preprocessor(batch, True)
    mask = data['inputs']['mask']
    video = model.encode_video(data['data_samples'], mask)
    assert video['video_present'].all()
    full = model.video_encoder([s.metainfo['sample_id'] for s in data['data_samples']])
    for i, s in enumerate(data['data_samples']):
        n, start = int(mask[i].sum()), int(s.metainfo['crop_start'])
        times = video['video_times'][i][video['video_mask'][i]]
        assert times.min() > -1.0 and times.max() < n  # inside the crop, re-timed to it
        keep = full['mask'][i] & (full['time_positions'][i] - start > -1.0) & \
            (full['time_positions'][i] - start < n)
        assert torch.allclose(video['video_tokens'][i][video['video_mask'][i]],
                              full['features'][i][keep])
    # a sample the cache does not know gets no video, not an error
    s0 = data['data_samples'][0]
    s0.set_metainfo(dict(sample_id='not_rendered'))
    assert not model.encode_video(data['data_samples'], mask)['video_present'][0]


def test_loss_terms_train_and_text_only_predict(mini_cmu_dataset, mini_video_features, batch):
    torch.manual_seed(0)
    model = MODELS.build(duet_cfg(mini_cmu_dataset, mini_video_features, weak_model=dict(
        denoiser=dict(num_layers=1))))
    wrapper = build_optim_wrapper(model, dict(constructor='MotionOptimWrapperConstructor',
                                              optimizer=dict(type='AdamW', lr=2e-3)))
    first = model.train_step(batch, wrapper)
    assert {'loss_diffusion', 'loss_align', 'weak_loss'} <= set(first)
    assert any(k.startswith('align_') for k in first)
    for _ in range(15):
        last = model.train_step(batch, wrapper)
    assert last['loss_align'] < first['loss_align']
    # test loop: text + video, then text only; both finite, and different
    model.eval()
    test_batch = model.data_preprocessor(batch, False)
    torch.manual_seed(1)
    both = [r.pred_motion.clone() for r in model.predict(test_batch['inputs'],
                                                          test_batch['data_samples'])]
    model.predict_modalities = ('text', )
    torch.manual_seed(1)
    text_only = model.predict(test_batch['inputs'], test_batch['data_samples'])
    assert all(torch.isfinite(r.pred_joints).all() for r in text_only)
    assert all(torch.isfinite(m).all() for m in both)
    assert not torch.allclose(both[0], text_only[0].pred_motion)


def test_modality_dropout_and_config_errors(mini_cmu_dataset, mini_video_features):
    model = MODELS.build(duet_cfg(mini_cmu_dataset, mini_video_features,
                                  modality_dropout=dict(text=1.0)))
    keep_text, keep_video = model._sample_modalities(64, torch.device('cpu'))
    assert keep_text.all() and not keep_video.any()
    model = MODELS.build(duet_cfg(mini_cmu_dataset, mini_video_features))
    torch.manual_seed(0)
    keep_text, keep_video = model._sample_modalities(4000, torch.device('cpu'))
    both = (keep_text & keep_video).float().mean()
    assert 0.66 < both < 0.74 and 0.08 < (~keep_text & ~keep_video).float().mean() < 0.12
    with pytest.raises(ValueError, match='sum to 1'):
        MODELS.build(duet_cfg(mini_cmu_dataset, mini_video_features,
                              modality_dropout=dict(text=0.5)))
    with pytest.raises(ValueError, match="unknown modality_dropout mode.*'txt'"):
        MODELS.build(duet_cfg(mini_cmu_dataset, mini_video_features,
                              modality_dropout=dict(txt=1.0)))
    with pytest.raises(ValueError, match='align_layer=5'):
        MODELS.build(duet_cfg(mini_cmu_dataset, mini_video_features, align_layer=5))
    with pytest.raises(ValueError, match='cond_drop_prob'):
        MODELS.build(duet_cfg(mini_cmu_dataset, mini_video_features, cond_drop_prob=0.1))
    with pytest.raises(ValueError, match='feature folder'):
        MODELS.build(duet_cfg(mini_cmu_dataset, mini_video_features + '_missing'))


def test_generate_with_new_videos(mini_cmu_dataset, mini_video_features):
    """A user's clip is encoded by the encoder rebuilt from the cache; it matches the cache."""
    import numpy as np

    from mdkit.apis import MotionGenerator
    from mdkit.models.generators import TextMotionDiffusion
    from mdkit.visualization import BodyClipRenderer
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(duet_cfg(mini_cmu_dataset, mini_video_features))
    sid = model.video_encoder.sample_ids[0]
    frames = BodyClipRenderer(size=32).render(
        np.load(osp.join(mini_cmu_dataset, 'new_joints', f'{sid}.npy')), seed=0)
    # the same frames through the rebuilt encoder give the cached features
    assert len(frames) == int(model.video_encoder.meta['samples'][sid]['num_frames'])
    cached = model.video_encoder([sid], motion_lengths=[len(frames)])
    fresh = model.video_features([frames], [len(frames)])[0]
    torch.testing.assert_close(fresh, cached['features'][0][cached['mask'][0]])
    n = min(len(frames), model.max_length)
    frames = frames[:n]
    gen = MotionGenerator(model)
    text_only, with_video = gen.generate(['a person walks'] * 2, videos=[None, frames],
                                         lengths=[n, None], seed=0, steps=2)
    assert with_video.length == n and with_video.pred_joints.shape == (n, 22, 3)
    assert not torch.allclose(text_only.pred_joints, with_video.pred_joints)
    with pytest.raises(ValueError, match='1 videos for 2 texts'):
        gen.generate(['a', 'b'], videos=[frames])
    text_model = MODELS.build({k: v for k, v in duet_cfg(mini_cmu_dataset, mini_video_features,
                                                         type='TextMotionDiffusion').items()
                               if k not in ('video_encoder', 'align_loss', 'align_layer')}
                              | dict(fusion=dict(type='CrossAttentionFusion')))
    assert isinstance(text_model, TextMotionDiffusion)
    with pytest.raises(ValueError, match='takes no video condition'):
        MotionGenerator(text_model).generate(['a person walks'], videos=[frames])


def test_live_encoder_refuses_other_weights(mini_video_features, tmp_path):
    from mdkit.models.video_encoders import PrecomputedVideoEncoder, VideoFeatureCacheError
    pre = PrecomputedVideoEncoder(mini_video_features)
    assert pre.live_encoder().config_hash() == pre.config_hash
    pre.config_hash = '0' * 64  # as if the cache had been written by other weights
    with pytest.raises(VideoFeatureCacheError, match='weights changed'):
        pre.live_encoder()
    pre.meta = dict(pre.meta, pretrained=str(tmp_path / 'moved'))
    with pytest.raises(FileNotFoundError, match='--video-encoder-weights'):
        pre.live_encoder()

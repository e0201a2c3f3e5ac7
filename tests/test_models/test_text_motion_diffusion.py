"""TextMotionDiffusion with real parts (MiniLM, tiny denoiser) on real converted CMU data."""
import os.path as osp

import pytest
import torch

from mdkit.apis import load_checkpoint_strict
from mdkit.datasets import HumanML3DDataset, motion_collate
from mdkit.registry import MODELS
from mdkit.structures import MotionDataSample
from mdkit.utils import register_all_modules


def tiny_model_cfg(data_root, fusion='CrossAttentionFusion', prediction_type='sample'):
    """A tiny text-to-motion diffusion config on a HumanML3D-format folder."""
    return dict(
        type='TextMotionDiffusion',
        text_encoder=dict(type='MiniLMTextEncoder', max_length=32),
        fusion=dict(type=fusion),
        denoiser=dict(type='MotionTransformerDenoiser', width=32, num_layers=2, num_heads=2,
                      ff_dim=64, dropout=0.0, prediction_type=prediction_type),
        train_scheduler=dict(type='DDPMScheduler', num_train_timesteps=100,
                             beta_schedule='cosine', prediction_type=prediction_type),
        sampler=dict(type='DDIMSampler'),
        losses=dict(diffusion=dict(type='MaskedDiffusionLoss'),
                    joints=dict(type='JointPositionLoss', loss_weight=0.1)),
        guidance=dict(type='ClassifierFreeGuidance', scale=2.0),
        data_preprocessor=dict(type='MotionDataPreprocessor', codec=dict(
            type='HumanML3DCodec', mean=osp.join(data_root, 'Mean.npy'),
            std=osp.join(data_root, 'Std.npy'))),
        num_inference_steps=4, max_length=120)


@pytest.fixture(scope='module')
def batch(mini_cmu_dataset):
    register_all_modules()
    ds = HumanML3DDataset(mini_cmu_dataset, split='train', pipeline=[
        dict(type='RandomCaption', random=False),
        dict(type='CropMotion', max_length=64, random=False), dict(type='PackMotionInputs')])
    return motion_collate([ds[i] for i in range(6)])


@pytest.mark.parametrize('fusion', ['CrossAttentionFusion', 'PrefixTokenFusion'])
def test_loss_decreases_on_real_batch(mini_cmu_dataset, batch, fusion):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(mini_cmu_dataset, fusion))
    assert not any(p.requires_grad for p in model.text_encoder.parameters())
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    data = model.data_preprocessor(batch, training=True)
    model.cond_drop_prob = 0.0
    first = last = None
    for step in range(40):
        torch.manual_seed(step % 4)  # a fixed cycle of noise levels, so the trend is clean
        losses = model.loss(data['inputs'], data['data_samples'])
        assert set(losses) == {'loss_diffusion', 'loss_joints'}
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        if step < 4:
            first = (first or 0) + total.item()
        if step >= 36:
            last = (last or 0) + total.item()
    assert last < 0.6 * first, (first, last)


def test_predict_shapes_lengths_and_errors(mini_cmu_dataset):
    model = MODELS.build(tiny_model_cfg(mini_cmu_dataset)).eval()
    samples = []
    for text, n in (('a person walks forward', 40), ('someone jumps', 23)):
        s = MotionDataSample()
        s.text, s.length = text, n
        samples.append(s)
    data = model.data_preprocessor(dict(inputs=None, data_samples=samples))
    out = model.predict(data['inputs'], data['data_samples'],
                        generator=torch.Generator().manual_seed(0))
    assert out[0].pred_motion.shape == (40, 263) and out[1].pred_joints.shape == (23, 22, 3)
    assert torch.isfinite(out[0].pred_joints).all()
    # seeded sampling is reproducible
    again = model.predict(data['inputs'], data['data_samples'],
                          generator=torch.Generator().manual_seed(0))
    assert torch.allclose(again[1].pred_motion, out[1].pred_motion)
    with pytest.raises(ValueError, match=r'outside \[1, 120\]'):
        model.check_lengths([121])


def test_config_errors(mini_cmu_dataset):
    cfg = tiny_model_cfg(mini_cmu_dataset)
    cfg['denoiser']['prediction_type'] = 'epsilon'
    with pytest.raises(ValueError, match='prediction_type'):
        MODELS.build(cfg)
    cfg = tiny_model_cfg(mini_cmu_dataset)
    cfg['fusion'] = dict(type='CrossAtentionFusion')
    with pytest.raises(KeyError, match='CrossAttentionFusion'):
        MODELS.build(cfg)
    cfg = tiny_model_cfg(mini_cmu_dataset)
    cfg['data_preprocessor']['codec']['mean'] = '/nonexistent/Mean.npy'
    with pytest.raises(FileNotFoundError, match='Mean.npy'):
        MODELS.build(cfg)


def test_checkpoint_mismatch_is_reported(mini_cmu_dataset, tmp_path):
    model = MODELS.build(tiny_model_cfg(mini_cmu_dataset))
    path = str(tmp_path / 'ckpt.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    load_checkpoint_strict(model, path)  # same config loads
    cfg = tiny_model_cfg(mini_cmu_dataset)
    cfg['denoiser']['width'] = 48
    other = MODELS.build(cfg)
    with pytest.raises(RuntimeError, match='shape mismatch'):
        load_checkpoint_strict(other, path)

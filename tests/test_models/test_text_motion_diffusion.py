"""TextMotionDiffusion with real parts (MiniLM, tiny denoiser) on real converted CMU data."""
import os
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


def test_min_snr_weighting_reaches_the_diffusion_loss(mini_cmu_dataset, batch):
    """With snr_gamma the diffusion term is weighted per sample at the batch's timesteps."""
    cfg = tiny_model_cfg(mini_cmu_dataset)
    cfg['losses'] = dict(diffusion=dict(type='MaskedDiffusionLoss', snr_gamma=5.0))
    model = MODELS.build(cfg).eval()
    data = model.data_preprocessor(batch, training=True)
    inputs, samples = data['inputs'], data['data_samples']
    torch.manual_seed(3)
    weighted = model.loss(inputs, samples)['loss_diffusion']
    torch.manual_seed(3)  # the same timesteps, noise and text dropout, recomputed by hand
    x0, mask, t, noise, x_t = model._noised(inputs)
    drop = torch.rand(x0.shape[0]) < model.cond_drop_prob
    pred = model.denoiser(x_t, t, mask, model.encode_text(model._texts(samples), drop))
    ab = model.train_scheduler.alphas_cumprod[t]
    w = torch.clamp(ab / (1 - ab), max=5.0).float()
    per_sample = ((pred - x0)**2 * mask[..., None]).sum((1, 2))
    direct = (w * per_sample).sum() / (mask.sum() * x0.shape[-1])
    torch.testing.assert_close(weighted, direct, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(weighted, per_sample.sum() / (mask.sum() * x0.shape[-1]))


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


@pytest.mark.parametrize('prediction_type', ['sample', 'epsilon', 'v_prediction'])
def test_reconstruct_follows_the_closed_form(mini_cmu_dataset, batch, prediction_type):
    """With a zeroed output layer the network predicts 0, so the x0 estimate is closed-form."""
    model = MODELS.build(tiny_model_cfg(mini_cmu_dataset, prediction_type=prediction_type)).eval()
    torch.nn.init.zeros_(model.denoiser.output_proj.weight)
    torch.nn.init.zeros_(model.denoiser.output_proj.bias)
    data = model.data_preprocessor(batch, training=False)
    inputs, samples = data['inputs'], data['data_samples']
    x0, mask = inputs['motion'], inputs['mask'][..., None]
    assert not mask.all()  # the batch has padding
    for t in (0, 30, 99):
        est = model.reconstruct(inputs, samples, t, generator=torch.Generator().manual_seed(t))
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(t)) * mask
        ab = model.train_scheduler.alphas_cumprod[t]
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        expected = {'sample': torch.zeros_like(x0), 'epsilon': x_t / ab.sqrt(),
                    'v_prediction': ab.sqrt() * x_t}[prediction_type] * mask
        torch.testing.assert_close(est, expected, rtol=1e-4, atol=1e-5)
    # at t = 0 a network that predicts zero noise gives the clean input back
    if prediction_type == 'epsilon':
        assert float((est - x0)[mask.expand_as(x0)].abs().mean()) > 1.0  # t = 99 is far off
        est0 = model.reconstruct(inputs, samples, 0, generator=torch.Generator().manual_seed(0))
        assert float((est0 - x0)[mask.expand_as(x0)].abs().mean()) < 0.05
    for bad in (-1, 100, 2.5, True):
        with pytest.raises(ValueError, match=r'timestep must be an int in \[0, 99\]'):
            model.reconstruct(inputs, samples, bad)
    with pytest.raises(ValueError, match='ground-truth motion'):
        model.reconstruct(dict(inputs, motion=None), samples, 0)


def test_generator_loads_checkpoints_in_turn(mini_cmu_dataset, tmp_path):
    from mdkit.apis import MotionGenerator
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = MODELS.build(tiny_model_cfg(mini_cmu_dataset))
        paths.append(str(tmp_path / f'seed{seed}.pth'))
        torch.save(dict(state_dict=model.state_dict(), meta={}), paths[-1])
    gen = MotionGenerator(MODELS.build(tiny_model_cfg(mini_cmu_dataset)))
    assert gen.checkpoint is None
    weights = {}
    for path in paths:
        gen.load_checkpoint(path)
        assert gen.checkpoint == path
        weights[path] = gen.model.denoiser.output_proj.weight.clone()
    assert not torch.equal(weights[paths[0]], weights[paths[1]])
    expected = torch.load(paths[1], weights_only=True)['state_dict']
    assert torch.equal(weights[paths[1]], expected['denoiser.output_proj.weight'])
    # the checkpoint the model holds is not read again; another path still is
    os.remove(paths[1])
    gen.load_checkpoint(paths[1])
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        gen.load_checkpoint(str(tmp_path / 'none.pth'))
    assert gen.checkpoint == paths[1]

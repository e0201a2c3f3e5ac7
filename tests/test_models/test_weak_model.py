"""The weak auto-guidance model: own optimizer, stop fraction, EMA, checkpoints, sampling."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper, OptimWrapperDict, build_optim_wrapper

from mdkit.datasets import HumanML3DDataset, motion_collate
from mdkit.registry import MODELS
from mdkit.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
AG_CONFIG = osp.join(REPO, 'configs', 'baselines', 'tmd_minilm-xattn-small-ag_2k_cmu.py')
OPTIM = dict(constructor='MotionOptimWrapperConstructor', type='OptimWrapper',
             optimizer=dict(type='AdamW', lr=1e-3), weak=dict(lr_mult=0.5))


def _model_cfg(data_root, weak_model, guidance=None):
    return dict(
        type='TextMotionDiffusion',
        text_encoder=dict(type='MiniLMTextEncoder', max_length=32),
        fusion=dict(type='CrossAttentionFusion'),
        denoiser=dict(type='MotionTransformerDenoiser', width=32, num_layers=2, num_heads=2,
                      ff_dim=64, dropout=0.1),
        train_scheduler=dict(type='DDPMScheduler', num_train_timesteps=100,
                             beta_schedule='cosine', prediction_type='sample'),
        sampler=dict(type='DDIMSampler'),
        losses=dict(diffusion=dict(type='MaskedDiffusionLoss')),
        guidance=guidance,
        weak_model=weak_model,
        data_preprocessor=dict(type='MotionDataPreprocessor', codec=dict(
            type='HumanML3DCodec', mean=osp.join(data_root, 'Mean.npy'),
            std=osp.join(data_root, 'Std.npy'))),
        num_inference_steps=3, max_length=64)


@pytest.fixture(scope='module')
def batch(mini_cmu_dataset):
    register_all_modules()
    ds = HumanML3DDataset(mini_cmu_dataset, split='train', pipeline=[
        dict(type='RandomCaption', random=False),
        dict(type='CropMotion', max_length=48, random=False), dict(type='PackMotionInputs')])
    return motion_collate([ds[i] for i in range(4)])


def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module):
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_weak_model_has_its_own_optimizer_and_stops(mini_cmu_dataset, batch):
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(mini_cmu_dataset, dict(
        denoiser=dict(num_layers=1), stop_fraction=0.5, ema_momentum=0.5)))
    assert model.weak_denoiser.num_layers == 1 and model.denoiser.num_layers == 2
    wrapper = build_optim_wrapper(model, OPTIM)
    assert isinstance(wrapper, OptimWrapperDict) and set(wrapper.keys()) == {'main', 'weak'}
    main_ids = {id(p) for g in wrapper['main'].param_groups for p in g['params']}
    weak_ids = {id(p) for g in wrapper['weak'].param_groups for p in g['params']}
    assert weak_ids == {id(p) for p in model.weak_denoiser.parameters()}
    assert not main_ids & weak_ids
    assert not main_ids & {id(p) for p in model.weak_ema.parameters()}
    assert wrapper['weak'].param_groups[0]['lr'] == pytest.approx(0.5e-3)

    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 10)
    hub.update_info('iter', 2)  # before the stop fraction: both models train
    main0, weak0, ema0 = _params(model.denoiser), _params(model.weak_denoiser), _params(
        model.weak_ema)
    log = model.train_step(batch, wrapper)
    assert 'weak_loss' in log and 'loss' in log and torch.isfinite(log['weak_loss'])
    assert _changed(main0, model.denoiser) and _changed(weak0, model.weak_denoiser)
    assert _changed(ema0, model.weak_ema)
    assert model.weak_guide is model.weak_ema.module

    hub.update_info('iter', 5)  # at 50% of 10 iterations the weak model is frozen
    hub.update_scalar('train/weak_loss', 1.0)  # as the runner logs it while it trains
    main1, weak1 = _params(model.denoiser), _params(model.weak_denoiser)
    log = model.train_step(batch, wrapper)
    assert 'weak_loss' not in log
    assert 'train/weak_loss' not in hub.log_scalars  # no stale value in later log lines
    assert _changed(main1, model.denoiser) and not _changed(weak1, model.weak_denoiser)
    hub.pop_info('iter')
    hub.pop_info('max_iters')

    # one optimizer for both models is refused with the fix named
    with pytest.raises(RuntimeError, match='MotionOptimWrapperConstructor'):
        model.train_step(batch, OptimWrapper(torch.optim.AdamW(model.parameters())))
    # no weak model: the constructor gives mmengine's plain wrapper
    plain = MODELS.build(_model_cfg(mini_cmu_dataset, None))
    assert not isinstance(build_optim_wrapper(plain, OPTIM), OptimWrapperDict)


def test_weak_model_config_errors(mini_cmu_dataset, tmp_path):
    with pytest.raises(ValueError, match="unknown weak_model key.*'stop_frac'"):
        MODELS.build(_model_cfg(mini_cmu_dataset, dict(stop_frac=0.5)))
    with pytest.raises(ValueError, match='stop_fraction must be in'):
        MODELS.build(_model_cfg(mini_cmu_dataset, dict(stop_fraction=1.5)))
    with pytest.raises(FileNotFoundError, match='weak_model.checkpoint not found'):
        MODELS.build(_model_cfg(mini_cmu_dataset, dict(checkpoint=str(tmp_path / 'x.pth'))))
    small = MODELS.build(_model_cfg(mini_cmu_dataset, dict(denoiser=dict(num_layers=1))))
    path = str(tmp_path / 'small.pth')
    torch.save(dict(state_dict=small.state_dict()), path)
    with pytest.raises(RuntimeError, match='does not fit the weak denoiser'):
        MODELS.build(_model_cfg(mini_cmu_dataset, dict(checkpoint=path, denoiser=dict(
            num_layers=3))))
    with pytest.raises(ValueError, match=r"optim_wrapper.weak key\(s\) \['lr_mul'\]"):
        build_optim_wrapper(small, dict(OPTIM, weak=dict(lr_mul=0.1)))


def test_checkpoint_weak_model_and_state_dict_round_trip(mini_cmu_dataset, batch, tmp_path):
    torch.manual_seed(0)
    main = MODELS.build(_model_cfg(mini_cmu_dataset, None))
    path = str(tmp_path / 'earlier.pth')
    torch.save(dict(state_dict=main.state_dict()), path)
    # weak = the same weights: auto-guidance at any scale returns the unguided sample
    same = MODELS.build(_model_cfg(mini_cmu_dataset, dict(checkpoint=path),
                                   guidance=dict(type='AutoGuidance', scale=3.0)))
    same.load_state_dict(main.state_dict(), strict=False)
    assert not any(p.requires_grad for p in same.weak_denoiser.parameters())
    main.eval()
    same.eval()
    cond = main.encode_text(['a person walks forward', 'a person jumps'])
    mask = torch.ones(2, 20, dtype=torch.bool)
    plain = main.sample(cond, mask, generator=torch.Generator().manual_seed(1))
    guided = same.sample(cond, mask, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(plain, guided, atol=1e-5)

    # a trained weak model and its EMA are in the state dict and come back exactly
    model = MODELS.build(_model_cfg(mini_cmu_dataset, dict(ema_momentum=0.1),
                                    guidance=dict(type='AutoGuidance', scale=2.0)))
    wrapper = build_optim_wrapper(model, OPTIM)
    model.train_step(batch, wrapper)
    state = model.state_dict()
    assert any(k.startswith('weak_denoiser.') for k in state)
    assert any(k.startswith('weak_ema.') for k in state)
    assert not any(k.startswith('text_encoder.model') for k in state)  # frozen stays out
    again = MODELS.build(_model_cfg(mini_cmu_dataset, dict(ema_momentum=0.1),
                                    guidance=dict(type='AutoGuidance', scale=2.0)))
    again.load_state_dict(state, strict=True)
    model.eval()
    again.eval()
    a = model.sample(cond, mask, generator=torch.Generator().manual_seed(2))
    b = again.sample(cond, mask, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)


def test_runner_saves_and_resumes_both_models(mini_cmu_dataset, tmp_path):
    """The auto-guidance config trains with the mmengine Runner; resume restores both optimizers."""
    from mmengine.runner import Runner
    register_all_modules()

    def runner(max_iters, resume):
        cfg = Config.fromfile(AG_CONFIG)
        cfg.merge_from_dict({
            'model.denoiser.width': 32, 'model.denoiser.num_layers': 2,
            'model.denoiser.num_heads': 2, 'model.denoiser.ff_dim': 64,
            'model.weak_model.denoiser.num_layers': 1, 'model.weak_model.stop_fraction': 1.0,
            'model.data_preprocessor.codec.mean': osp.join(mini_cmu_dataset, 'Mean.npy'),
            'model.data_preprocessor.codec.std': osp.join(mini_cmu_dataset, 'Std.npy'),
            'train_dataloader.dataset.data_root': mini_cmu_dataset,
            'train_dataloader.batch_size': 2, 'train_dataloader.num_workers': 0,
            'train_dataloader.persistent_workers': False,
            'train_cfg.max_iters': max_iters, 'train_cfg.val_interval': 1000,
            'default_hooks.checkpoint.interval': 2, 'default_hooks.logger.interval': 1,
            'work_dir': str(tmp_path), 'log_level': 'WARNING'})
        cfg.param_scheduler = []
        for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                    'test_evaluator'):
            cfg[key] = None
        cfg.resume = resume
        # mmengine names its default scope after the experiment, timestamped to the second: two
        # runners built within one second would share the name and mmengine warns.
        cfg.experiment_name = f'weak_model_resume_{max_iters}'
        return Runner.from_cfg(cfg)

    first = runner(2, False)
    first.train()
    ckpt = torch.load(osp.join(tmp_path, 'iter_2.pth'), map_location='cpu', weights_only=False)
    assert set(ckpt['optimizer']) == {'main', 'weak'}
    assert any(k.startswith('weak_denoiser.') for k in ckpt['state_dict'])
    weak_before = {k: v for k, v in ckpt['state_dict'].items() if k.startswith('weak_denoiser.')}
    second = runner(3, True)
    second.train()
    model = second.model
    weak_state = second.optim_wrapper['weak'].optimizer.state
    main_state = second.optim_wrapper['main'].optimizer.state
    # Adam step counts continue from the checkpoint: 2 resumed + 1 new
    assert {int(s['step']) for s in weak_state.values()} == {3}
    assert {int(s['step']) for s in main_state.values()} == {3}
    # and the weak model continued from its saved weights
    moved = [not torch.equal(weak_before[k], v) for k, v in
             model.state_dict().items() if k in weak_before]
    assert moved and any(moved)

"""Every experiment config builds (shrunk to tiny sizes) and runs one train and one test step."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mdkit.registry import DATASETS, MODELS
from mdkit.utils import build_from_cfg_checked, register_all_modules

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)

TINY = {
    'model.denoiser.width': 32, 'model.denoiser.num_layers': 1, 'model.denoiser.num_heads': 2,
    'model.denoiser.ff_dim': 64, 'model.num_inference_steps': 2,
}
TINY_EVALUATOR = {
    'model.evaluator.width': 32, 'model.evaluator.num_layers': 1,
    'model.evaluator.num_heads': 2, 'model.evaluator.ff_dim': 64, 'model.evaluator.embed_dim': 16,
}


def is_evaluator(cfg: Config) -> bool:
    """Whether the config trains a text-motion evaluator (not a generator)."""
    return cfg.model.type == 'ContrastiveEvaluatorModel'


def shrink(cfg: Config, data_root: str, video_features: str | None = None) -> Config:
    """Point a config at the mini dataset (and its video features) and shrink the model."""
    opts = dict(TINY_EVALUATOR if is_evaluator(cfg) else TINY)
    if cfg.model.get('video_encoder') is not None:
        opts['model.video_encoder.feature_dir'] = video_features
        opts['model.align_layer'] = 0  # the shrunk denoiser has one layer
    opts['model.data_preprocessor.codec.mean'] = osp.join(data_root, 'Mean.npy')
    opts['model.data_preprocessor.codec.std'] = osp.join(data_root, 'Std.npy')
    if is_evaluator(cfg):
        opts['model.evaluator.mean'] = osp.join(data_root, 'Mean.npy')
        opts['model.evaluator.std'] = osp.join(data_root, 'Std.npy')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if loader in cfg:
            opts[f'{loader}.dataset.data_root'] = data_root
    cfg.merge_from_dict(opts)
    return cfg


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_config_builds_and_steps(path, mini_cmu_dataset, tiny_evaluator_checkpoint,
                                 mini_video_features):
    register_all_modules()
    cfg = shrink(Config.fromfile(path), mini_cmu_dataset, mini_video_features)
    assert cfg.default_scope == 'mdkit'
    model = build_from_cfg_checked(cfg.model, MODELS)
    pipe = cfg.train_dataloader.dataset
    ds = build_from_cfg_checked(pipe, DATASETS)
    from mdkit.datasets import motion_collate
    batch = motion_collate([ds[i] for i in range(2)])
    from mmengine.optim import build_optim_wrapper
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)  # the config's own constructor
    log_vars = model.train_step(batch, wrapper)
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())
    test_ds = build_from_cfg_checked(cfg.test_dataloader.dataset, DATASETS)
    outputs = model.test_step(motion_collate([test_ds[0], test_ds[1]]))
    if is_evaluator(cfg):
        assert outputs[0].motion_emb.shape == outputs[0].text_emb.shape
        return
    assert outputs[0].pred_joints.shape[1:] == (22, 3)
    assert torch.isfinite(outputs[0].pred_joints).all()
    if hasattr(model, 'predict_modalities'):  # MotionDuet: text-only generation works too
        model.predict_modalities = ('text',)
        text_only = model.test_step(motion_collate([test_ds[0], test_ds[1]]))
        assert torch.isfinite(text_only[0].pred_joints).all()
        assert text_only[0].pred_joints.shape == outputs[0].pred_joints.shape
    # the test metrics build and compute on these predictions (the mdkit evaluator is swapped
    # for a tiny one; the published one needs user files and is only checked to be named)
    from mdkit.registry import METRICS
    metrics = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
    for metric_cfg in metrics:
        ev = metric_cfg.get('evaluator')
        if ev is not None and ev.type == 'T2MEvaluator':
            assert ev.checkpoint.endswith('finest.tar') and ev.glove_dir
            continue
        if ev is not None:
            ev.checkpoint = tiny_evaluator_checkpoint
        metric = METRICS.build(metric_cfg)
        metric.process({}, outputs)
        values = metric.compute_metrics(metric.results)
        assert values and all(torch.isfinite(torch.as_tensor(v)) for v in values.values())

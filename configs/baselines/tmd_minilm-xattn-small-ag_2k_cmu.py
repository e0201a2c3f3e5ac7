# Text-only motion diffusion with auto-guidance + CFG: a half-depth weak model
# trained in the same run.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/cmu_humanml3d.py',
    '../_base_/text_encoders/minilm.py',
    '../_base_/fusion/cross_attention.py',
    '../_base_/denoisers/transformer_small.py',
    '../_base_/diffusion_schedulers/ddpm_cosine_1000.py',
    '../_base_/diffusion_schedulers/ddim.py',
    '../_base_/losses/diffusion_geometric.py',
    '../_base_/guidance/autoguidance_cfg.py',
    '../_base_/weak_models/half_depth_quarter_run.py',
    '../_base_/schedules/adamw_2k_cpu.py',
    '../_base_/evaluation/t2m_contrastive_cmu.py',
]
model = dict(
    type='TextMotionDiffusion',
    text_encoder={{_base_.text_encoder}},
    fusion={{_base_.fusion}},
    denoiser={{_base_.denoiser}},
    train_scheduler={{_base_.train_scheduler}},
    sampler={{_base_.sampler}},
    losses={{_base_.losses}},
    guidance={{_base_.guidance}},
    weak_model={{_base_.weak_model}},
    data_preprocessor=dict(type='MotionDataPreprocessor', codec={{_base_.motion_codec}}),
    cond_drop_prob=0.1,
    num_inference_steps=50,
    max_length=196)
train_dataloader = dict(batch_size=32, num_workers=1)
val_dataloader = dict(batch_size=16, num_workers=1)
test_dataloader = dict(batch_size=16, num_workers=1)
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=1000, max_keep_ckpts=3))
val_evaluator = dict(type='MotionPlausibilityMetric')

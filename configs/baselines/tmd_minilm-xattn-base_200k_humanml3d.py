# Text-only motion diffusion at HumanML3D scale (GPU): base denoiser, 200k iters, HumanML3D.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/humanml3d.py',
    '../_base_/text_encoders/minilm.py',
    '../_base_/fusion/cross_attention.py',
    '../_base_/denoisers/transformer_base.py',
    '../_base_/diffusion_schedulers/ddpm_cosine_1000.py',
    '../_base_/diffusion_schedulers/ddim.py',
    '../_base_/losses/diffusion_geometric.py',
    '../_base_/guidance/cfg.py',
    '../_base_/weak_models/none.py',
    '../_base_/schedules/adamw_200k_gpu.py',
    '../_base_/evaluation/t2m_published_humanml3d.py',
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
train_dataloader = dict(batch_size=64, num_workers=4)
default_hooks = dict(
    logger=dict(interval=100), checkpoint=dict(interval=10000, max_keep_ckpts=3))
val_evaluator = dict(type='MotionPlausibilityMetric')

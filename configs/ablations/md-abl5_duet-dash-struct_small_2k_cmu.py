# Ablation 5 (vs 4: align loss): DASH structure terms (Gram, CKA) instead.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/cmu_humanml3d.py',
    '../_base_/text_encoders/minilm.py',
    '../_base_/video_encoders/precomputed.py',
    '../_base_/fusion/duet.py',
    '../_base_/denoisers/transformer_small.py',
    '../_base_/diffusion_schedulers/ddpm_cosine_1000.py',
    '../_base_/diffusion_schedulers/ddim.py',
    '../_base_/losses/diffusion_geometric.py',
    '../_base_/losses/dash_structure.py',
    '../_base_/guidance/cfg_text_video.py',
    '../_base_/weak_models/none.py',
    '../_base_/schedules/adamw_2k_cpu.py',
    '../_base_/evaluation/t2m_contrastive_cmu.py',
]
model = dict(
    type='MotionDuet',
    text_encoder={{_base_.text_encoder}},
    video_encoder={{_base_.video_encoder}},
    fusion={{_base_.fusion}},
    denoiser={{_base_.denoiser}},
    train_scheduler={{_base_.train_scheduler}},
    sampler={{_base_.sampler}},
    losses={{_base_.losses}},
    align_loss={{_base_.align_loss}},
    align_layer=1,
    guidance={{_base_.guidance}},
    weak_model={{_base_.weak_model}},
    data_preprocessor=dict(type='MotionDataPreprocessor', codec={{_base_.motion_codec}}),
    modality_dropout=dict(text_video=0.7, text=0.1, video=0.1, none=0.1),
    predict_modalities=('text', 'video'),
    num_inference_steps=50,
    max_length=196)
train_dataloader = dict(batch_size=32, num_workers=1)
val_dataloader = dict(batch_size=16, num_workers=1)
test_dataloader = dict(batch_size=16, num_workers=1)
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=1000, max_keep_ckpts=3))
val_evaluator = dict(type='MotionPlausibilityMetric')

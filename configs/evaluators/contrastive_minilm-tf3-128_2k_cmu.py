# mdkit's text-motion evaluator on the CMU dataset: 3-layer 128-wide motion transformer and frozen
# MiniLM sentence embeddings, symmetric InfoNCE. Train with tools/train_evaluator.py; the exported
# work_dir/evaluator.pth is what TextMotionMetric(evaluator=dict(type='ContrastiveEvaluator',
# checkpoint=...)) loads.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/cmu_humanml3d.py',
    '../_base_/text_encoders/minilm.py',
    '../_base_/schedules/adamw_evaluator_2k_cpu.py',
]
model = dict(
    type='ContrastiveEvaluatorModel',
    evaluator=dict(
        type='ContrastiveEvaluator', feature_dim=263, embed_dim=256, width=128, num_layers=3,
        num_heads=4, ff_dim=512, dropout=0.1, text_encoder={{_base_.text_encoder}},
        mean={{_base_.motion_codec.mean}}, std={{_base_.motion_codec.std}}),
    data_preprocessor=dict(type='MotionDataPreprocessor', codec={{_base_.motion_codec}},
                           normalize=False),
    temperature=0.1,
    false_negative_threshold=0.95,
    hard_negative_beta=0.0)
train_dataloader = dict(batch_size=64, num_workers=1)
val_dataloader = dict(batch_size=64, num_workers=1)
test_dataloader = dict(batch_size=64, num_workers=1)
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=1000, max_keep_ckpts=2))
val_evaluator = dict(type='RetrievalMetric')
test_evaluator = dict(type='RetrievalMetric')

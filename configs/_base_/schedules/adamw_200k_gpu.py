# AdamW, 200k iterations with warm-up and cosine decay, EMA weights: a HumanML3D-scale GPU schedule.
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='MotionOptimWrapperConstructor',  # own optimizer for a weak guidance model
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.0),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=2000),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=2000, end=200000, eta_min=1e-6),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=200000, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [dict(type='EMAHook', momentum=0.0005, update_buffers=True, priority='ABOVE_NORMAL')]

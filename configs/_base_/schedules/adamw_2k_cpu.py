# AdamW, 2k iterations with warm-up and cosine decay, EMA weights: a CPU-sized schedule.
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='MotionOptimWrapperConstructor',  # own optimizer for a weak guidance model
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.0),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=2000, eta_min=1e-5),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2000, val_interval=1000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [dict(type='EMAHook', momentum=0.002, update_buffers=True, priority='ABOVE_NORMAL')]

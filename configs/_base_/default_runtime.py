# Runtime defaults shared by every mdkit experiment: scope, hooks, env, logging, resume.
default_scope = 'mdkit'

# Iteration-based logging/checkpointing (diffusion training counts steps, not epochs).
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=5000, by_epoch=False, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # Empty: tools/train.py calls mdkit.engine.init_dist_if_needed, which picks 'nccl' with
    # CUDA and 'gloo' without. Set dist_cfg=dict(backend=...) to force one.
    dist_cfg=dict(),
)

# Used only under a distributed launcher; drops DDP device_ids for CPU modules. The 'mdkit.'
# prefix is required: mmengine's Runner looks the type up in the root MODEL_WRAPPERS registry.
model_wrapper_cfg = dict(type='mdkit.MDKitDistributedDataParallel')

log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)

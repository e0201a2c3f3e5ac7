# The small text-only baseline trained 2.5x longer (5k iterations, about an hour on 2 CPU cores).
# Same model and data as the 2k config; only the schedule length and checkpoint interval change.
_base_ = ['./tmd_minilm-xattn-small_2k_cmu.py']
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=5000, eta_min=1e-5),
]
train_cfg = dict(max_iters=5000, val_interval=1000)
default_hooks = dict(checkpoint=dict(interval=1000, max_keep_ckpts=5))

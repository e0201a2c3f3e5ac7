# KIT-ML in HumanML3D format (251-d features, 21 joints, 12.5 fps); users bring their own copy.
data_root = 'data/kit'
max_motion_length = 196
train_pipeline = [
    dict(type='RandomCaption'),
    dict(type='CropMotion', max_length=max_motion_length, unit_length=4),
    dict(type='PackMotionInputs'),
]
test_pipeline = [
    dict(type='RandomCaption', random=False),
    dict(type='CropMotion', max_length=max_motion_length, unit_length=4, random=False),
    dict(type='PackMotionInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='motion_collate'),
    dataset=dict(type='KITMLDataset', data_root=data_root, split='train', min_length=24,
                 max_length=200, pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='motion_collate'),
    dataset=dict(type='KITMLDataset', data_root=data_root, split='test', min_length=24,
                 max_length=200, test_mode=True, pipeline=test_pipeline))

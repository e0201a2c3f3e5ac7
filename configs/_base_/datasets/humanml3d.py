# HumanML3D (users bring their own copy: new_joint_vecs/, texts/, splits, Mean/Std).
data_root = 'data/humanml3d'
# The representation and its statistics (used by the model's data preprocessor).
motion_codec = dict(type='HumanML3DCodec', mean=data_root + '/Mean.npy', std=data_root + '/Std.npy')
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
# 'mdkit.' prefix: mmengine's Runner looks collate functions up in its root registry.
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='mdkit.motion_collate'),
    dataset=dict(type='HumanML3DDataset', data_root=data_root, split='train', min_length=40,
                 max_length=200, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='mdkit.motion_collate'),
    dataset=dict(type='HumanML3DDataset', data_root=data_root, split='val', min_length=40,
                 max_length=200, test_mode=True, pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='mdkit.motion_collate'),
    dataset=dict(type='HumanML3DDataset', data_root=data_root, split='test', min_length=40,
                 max_length=200, test_mode=True, pipeline=test_pipeline))

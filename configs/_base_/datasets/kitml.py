# KIT-ML in HumanML3D format (251-d features, 21 joints, 12.5 fps); users bring their own copy.
_base_ = ['./humanml3d.py']
data_root = 'data/kit'
motion_codec = dict(type='KITCodec', mean=data_root + '/Mean.npy', std=data_root + '/Std.npy')
_kit = dict(type='KITMLDataset', data_root=data_root, min_length=24)
train_dataloader = dict(dataset=_kit)
val_dataloader = dict(dataset=_kit)
test_dataloader = dict(dataset=_kit)

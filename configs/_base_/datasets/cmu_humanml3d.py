# CMU mocap converted to HumanML3D format by tools/dataset_converters/bvh_to_humanml3d.py.
_base_ = ['./humanml3d.py']
data_root = 'data/cmu_humanml3d'
motion_codec = dict(type='HumanML3DCodec', mean=data_root + '/Mean.npy', std=data_root + '/Std.npy')
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))

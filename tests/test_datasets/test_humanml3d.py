"""HumanML3DDataset on a folder assembled from the real reference samples."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mdkit.datasets import DatasetLoadError, HumanML3DDataset, motion_collate, parse_text_file
from mdkit.registry import DATASETS
from mdkit.structures import MotionDataSample

PIPELINE = [dict(type='RandomCaption'), dict(type='CropMotion', max_length=64),
            dict(type='PackMotionInputs')]


@pytest.fixture
def hml_folder(tmp_path, humanml3d_samples, motion_data_root):
    """A HumanML3D-format folder: real features/joints, real and test captions."""
    root = tmp_path / 'hml'
    for sub in ('new_joint_vecs', 'new_joints', 'texts'):
        (root / sub).mkdir(parents=True)
    ids = sorted(f[:-4] for f in os.listdir(osp.join(humanml3d_samples, 'new_joint_vecs')))
    for sid in ids:
        for sub in ('new_joint_vecs', 'new_joints'):
            shutil.copy(osp.join(humanml3d_samples, sub, sid + '.npy'), root / sub)
        src = osp.join(humanml3d_samples, 'texts', sid + '.txt')
        if osp.isfile(src):
            shutil.copy(src, root / 'texts')
        else:
            (root / 'texts' / f'{sid}.txt').write_text(
                f'a person moves in clip {sid}#a/DET person/NOUN#0.0#0.0\n'
                f'someone performs a motion#someone/PRON#0.0#0.0\n')
    # a sub-segment caption on 007005 (199 frames): seconds 1.0-4.0 -> frames 20-80
    with open(root / 'texts' / '007005.txt', 'a') as f:
        f.write('the person turns around#the/DET person/NOUN#1.0#4.0\n')
    (root / 'train.txt').write_text('\n'.join(ids[:5]) + '\n')
    (root / 'test.txt').write_text('\n'.join(ids[5:]) + '\n')
    for name in ('Mean.npy', 'Std.npy'):
        shutil.copy(osp.join(motion_data_root, 'humanml3d', name), root / name)
    return str(root)


def test_parse_text_file(humanml3d_samples):
    caps = parse_text_file(osp.join(humanml3d_samples, 'texts', '000000.txt'))
    assert len(caps) == 4
    assert caps[0]['caption'].startswith('a man kicks')
    assert caps[0]['tokens'][:2] == ['a/DET', 'man/NOUN']
    assert caps[0]['start'] == 0.0 and caps[0]['end'] == 0.0


def test_dataset_loads_filters_and_segments(hml_folder):
    ds = DATASETS.build(dict(type='HumanML3DDataset', data_root=hml_folder, split='train',
                             min_length=40, max_length=200, pipeline=PIPELINE))
    ids = [ds.get_data_info(i)['sample_id'] for i in range(len(ds))]
    assert '007005#20-80' in ids  # sub-segment became its own sample
    seg = ds.get_data_info(ids.index('007005#20-80'))
    assert seg['length'] == 60 and seg['texts'] == ['the person turns around']
    assert ds.metainfo['feature_dim'] == 263 and ds.metainfo['mean'].shape == (263, )
    item = ds[0]
    assert isinstance(item['data_samples'], MotionDataSample)
    assert item['inputs'].shape[1] == 263 and item['inputs'].shape[0] <= 64
    assert item['inputs'].shape[0] % 4 == 0
    assert item['data_samples'].text in ds.get_data_info(0)['texts']


def test_length_filters_have_no_hidden_cap(hml_folder):
    all_ds = HumanML3DDataset(hml_folder, split='train', min_length=1, max_length=None)
    lengths = sorted(all_ds.get_data_info(i)['length'] for i in range(len(all_ds)))
    assert lengths[-1] == 199  # nothing cut at 196
    short = HumanML3DDataset(hml_folder, split='train', min_length=1, max_length=120)
    assert all(short.get_data_info(i)['length'] <= 120 for i in range(len(short)))
    with pytest.raises(DatasetLoadError, match='No usable samples'):
        HumanML3DDataset(hml_folder, split='train', min_length=500, max_length=None)
    with pytest.raises(ValueError, match='below min_length'):
        HumanML3DDataset(hml_folder, min_length=50, max_length=10)


def test_collate_pads_and_masks(hml_folder):
    ds = HumanML3DDataset(hml_folder, split='train', pipeline=PIPELINE, min_length=1,
                          max_length=None)
    loader = DataLoader(ds, batch_size=4, shuffle=False, collate_fn=motion_collate)
    batch = next(iter(loader))
    motion, mask, lengths = (batch['inputs'][k] for k in ('motion', 'mask', 'lengths'))
    assert motion.shape[0] == 4 and motion.shape[2] == 263
    assert motion.shape[1] == int(lengths.max())
    for i, s in enumerate(batch['data_samples']):
        assert int(mask[i].sum()) == s.length == int(lengths[i])
        assert torch.all(motion[i, s.length:] == 0)
        assert torch.equal(motion[i, :s.length], s.gt_motion)


def test_test_mode_is_deterministic(hml_folder):
    pipe = [dict(type='RandomCaption', random=False),
            dict(type='CropMotion', max_length=64, random=False), dict(type='PackMotionInputs')]
    ds = HumanML3DDataset(hml_folder, split='train', pipeline=pipe, test_mode=True)
    a, b = ds[1], ds[1]
    assert torch.equal(a['inputs'], b['inputs']) and a['data_samples'].text == \
        b['data_samples'].text


def test_bad_folders_and_files(hml_folder, tmp_path):
    with pytest.raises(FileNotFoundError, match='Dataset folder not found'):
        HumanML3DDataset(str(tmp_path / 'nope'))
    with pytest.raises(FileNotFoundError, match='Split file not found'):
        HumanML3DDataset(hml_folder, split='val')
    # NaN in a motion: strict mode names the file, lenient mode skips and reports
    path = osp.join(hml_folder, 'new_joint_vecs', '009548.npy')
    m = np.load(path)
    m[10, 5] = np.nan
    np.save(path, m)
    with pytest.raises(DatasetLoadError, match='009548.npy contains NaN'):
        HumanML3DDataset(hml_folder, split='train')
    ds = HumanML3DDataset(hml_folder, split='train', lenient=True)
    assert [s['sample_id'] for s in ds.load_report['skipped']] == ['009548']
    # unreadable file and empty captions
    with open(osp.join(hml_folder, 'new_joint_vecs', 'M010655.npy'), 'wb') as f:
        f.write(b'not a numpy file')
    with pytest.raises(DatasetLoadError, match='unreadable motion file .*M010655.npy'):
        HumanML3DDataset(hml_folder, split='test')
    with open(osp.join(hml_folder, 'texts', '000000.txt'), 'w') as f:
        f.write('\n#tokens#0#0\n')
    with pytest.raises(DatasetLoadError, match='000000.txt has no non-empty caption'):
        HumanML3DDataset(hml_folder, split='train', lenient=False)
    os.remove(osp.join(hml_folder, 'Mean.npy'))
    with pytest.raises(FileNotFoundError, match='Mean.npy'):
        HumanML3DDataset(hml_folder, split='train', lenient=True)


def test_pipeline_typo_suggests_close_name(hml_folder):
    with pytest.raises(KeyError, match="Did you mean 'RandomCaption'"):
        HumanML3DDataset(hml_folder, pipeline=[dict(type='RandomCaptions')])
    with pytest.raises(TypeError, match='max_len'):
        HumanML3DDataset(hml_folder, pipeline=[dict(type='CropMotion', max_len=10)])

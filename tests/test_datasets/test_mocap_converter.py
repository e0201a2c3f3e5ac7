"""Mocap -> HumanML3D conversion on real CMU trials (one per skeleton convention)."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from mdkit.datasets import HumanML3DDataset, motion_collate
from mdkit.datasets.converters import (
    ConversionConfig,
    assign_split,
    convert_dataset,
    make_clips,
    mirror_joints,
    mirror_text,
    trial_captions,
)
from mdkit.motion import HUMANML3D_SKELETON, joints_to_features

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# cgspeed31 (T-pose frame), cgspeed31 without T-pose, daz43 at 60 fps, 3ds Max 31,
# ASF-named 31 (wrong header fps), ASF/AMC whole, ASF/AMC trimmed
TRIALS = ['01_01', '02_01', '60_01', '131_01', '16_01', '35_01', '16_15']


@pytest.fixture(scope='module')
def converted(cmu_root, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('cmu_hml'))
    report = convert_dataset(cmu_root, out, ConversionConfig(), trials=TRIALS, workers=1,
                             progress=False)
    return out, report


def test_every_convention_converts_without_nan(converted):
    out, report = converted
    assert report['trials_ok'] == len(TRIALS), report['trials_failed']
    assert set(report['trials_by_skeleton']) == {'cgspeed31', 'daz43', 'cgspeed_max31',
                                                 'cmu_asfnames31', 'cmu_asf'}
    for res in report['per_trial']:
        assert res['clips'], res
        for cid in res['clips']:
            feats = np.load(osp.join(out, 'new_joint_vecs', cid + '.npy'))
            joints = np.load(osp.join(out, 'new_joints', cid + '.npy'))
            assert feats.shape[1] == 263 and joints.shape == (len(feats), 22, 3)
            assert np.isfinite(feats).all() and np.isfinite(joints).all()
            # on the floor, upright, a human-sized body
            height = joints[:, 15, 1] - joints[:, :, 1].min(1)
            assert 1.2 < np.median(height) < 2.0, (cid, np.median(height))
            assert len(feats) <= 200  # 10 s clips at 20 fps


def test_clip_lengths_and_mirrors(converted):
    out, report = converted
    by_trial = {r['trial']: r for r in report['per_trial']}
    # 01_01 is 22.9 s -> three clips of ~7.6 s, plus mirrors
    assert len([c for c in by_trial['01_01']['clips'] if not c.startswith('M')]) == 3
    for cid in by_trial['01_01']['clips']:
        if cid.startswith('M'):
            continue
        a = np.load(osp.join(out, 'new_joints', cid + '.npy'))
        m = np.load(osp.join(out, 'new_joints', 'M' + cid + '.npy'))
        assert a.shape == m.shape
        # mirrored motion: same root height up to the source's left/right leg difference
        np.testing.assert_allclose(a[:, 0, 1], m[:, 0, 1], atol=1e-2)  # legs differ by mm
        with open(osp.join(out, 'texts', 'M' + cid + '.txt')) as f:
            assert f.read().count('#') >= 3


def test_splits_stats_and_dataset_loading(converted):
    out, report = converted
    ids = {}
    for s in ('train', 'val', 'test'):
        with open(osp.join(out, f'{s}.txt')) as f:
            ids[s] = f.read().split()
    assert not (set(ids['train']) & set(ids['test']))
    for res in report['per_trial']:
        split = assign_split(res['trial'])
        assert set(res['clips']) <= set(ids[split])
    mean, std = np.load(osp.join(out, 'Mean.npy')), np.load(osp.join(out, 'Std.npy'))
    assert mean.shape == std.shape == (263, ) and (std > 0).all()
    ds = HumanML3DDataset(out, split='train', min_length=40, max_length=200,
                          pipeline=[dict(type='RandomCaption'), dict(type='CropMotion'),
                                    dict(type='PackMotionInputs')])
    assert len(ds) == len(ids['train'])
    batch = motion_collate([ds[i] for i in range(min(4, len(ds)))])
    assert batch['inputs']['motion'].shape[-1] == 263
    captions = {t for i in range(len(ds)) for t in ds.get_data_info(i)['texts']}
    assert any('jump' in c for c in captions)  # 01_01: forward jumps / hops


def test_resume_skips_finished_trials(converted, cmu_root):
    out, _ = converted
    again = convert_dataset(cmu_root, out, ConversionConfig(), trials=TRIALS, progress=False)
    assert again['converted_this_run'] == 0 and again['trials_ok'] == len(TRIALS)
    with pytest.raises(ValueError, match='other settings'):
        convert_dataset(cmu_root, out, ConversionConfig(max_clip_seconds=5.0), trials=TRIALS,
                        progress=False)


def test_cli_errors_and_help(tmp_path):
    tool = osp.join(REPO, 'tools', 'dataset_converters', 'bvh_to_humanml3d.py')
    r = subprocess.run([sys.executable, tool, '--out-dir', str(tmp_path / 'o'), '--data-root',
                        str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert r.returncode != 0 and 'available_trials.json' in r.stderr


def test_helpers():
    assert mirror_text('Turns Left then right, clockwise') == \
        'Turns Right then left, counterclockwise'
    assert make_clips(458, 20, 10.0, 2.0) == [(0, 153), (153, 305), (305, 458)]
    assert make_clips(30, 20, 10.0, 2.0) == []
    assert assign_split('01_01') == assign_split('01_01')
    splits = [assign_split(f'{s:02d}_{t:02d}') for s in range(1, 40) for t in range(1, 20)]
    frac = splits.count('train') / len(splits)
    assert 0.72 < frac < 0.88


def test_mirror_joints_mirrors_features(humanml3d_samples):
    joints = np.load(osp.join(humanml3d_samples, 'new_joints', '012314.npy')).astype(np.float64)
    twice = mirror_joints(mirror_joints(joints))
    np.testing.assert_allclose(twice, joints)
    # without retargeting (the target skeleton's legs differ by 3 mm) the mirror keeps
    # root height and reverses the turning direction
    f = joints_to_features(joints, retarget=False)
    fm = joints_to_features(mirror_joints(joints), retarget=False)
    np.testing.assert_allclose(f[:, 3], fm[:, 3], atol=1e-6)
    assert np.corrcoef(f[:, 0], fm[:, 0])[0, 1] < -0.9
    assert HUMANML3D_SKELETON.mirror_indices()[1] == 2


def test_report_written(converted):
    out, _ = converted
    with open(osp.join(out, 'conversion_report.json')) as f:
        rep = json.load(f)
    assert rep['clips'] * 2 == rep['clips_with_mirrors'] and rep['hours_without_mirrors'] > 0


def test_placeholder_descriptions_fall_back_to_category():
    cfg = ConversionConfig()
    entry = dict(cmu_description='Unknown', cmu_subject_category='indian dance',
                 kitml_captions=['A person dances.', 'a person dances.'])
    assert trial_captions(entry, cfg) == ['indian dance', 'A person dances.']
    entry = dict(cmu_description='walk # fast', kitml_captions=[])
    assert trial_captions(entry, cfg) == ['walk fast']
    assert trial_captions(dict(cmu_description='unknown'), cfg) == []

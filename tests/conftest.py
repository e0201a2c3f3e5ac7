"""Shared fixtures: the real motion data folder (skip with a reason when absent)."""
import os.path as osp

import pytest

from mdkit.utils import find_motion_data_root


@pytest.fixture(scope='session')
def motion_data_root():
    """Path of the real motion data (``$MDKIT_DATA`` or ``../shared/motion_data``)."""
    root = find_motion_data_root(required=False)
    if root is None:
        pytest.skip('real motion data not found: set MDKIT_DATA to the motion_data folder')
    return root


@pytest.fixture(scope='session')
def humanml3d_samples(motion_data_root):
    """Path of the HumanML3D reference samples folder."""
    path = osp.join(motion_data_root, 'humanml3d', 'samples')
    if not osp.isdir(path):
        pytest.skip(f'HumanML3D reference samples missing at {path}')
    return path


@pytest.fixture(scope='session')
def cmu_root(motion_data_root):
    """Path of the CMU mocap folder (zips + available_trials.json)."""
    path = osp.join(motion_data_root, 'cmu')
    if not osp.isfile(osp.join(path, 'available_trials.json')):
        pytest.skip(f'CMU mocap data missing at {path}')
    return path


#: Real CMU trials of every skeleton convention, enough for tiny training runs.
MINI_TRIALS = ['01_01', '02_01', '02_02', '05_01', '60_01', '131_01', '16_01', '35_01', '16_15',
               '07_01', '08_01', '06_01']


@pytest.fixture(scope='session')
def mini_cmu_dataset(cmu_root, tmp_path_factory):
    """A HumanML3D-format folder converted from a dozen real CMU trials (all splits non-empty)."""
    from mdkit.datasets.converters import ConversionConfig, assign_split, convert_dataset
    out = str(tmp_path_factory.mktemp('mini_cmu'))
    report = convert_dataset(cmu_root, out, ConversionConfig(), trials=MINI_TRIALS,
                             progress=False)
    assert report['trials_ok'] == len(MINI_TRIALS), report['trials_failed']
    assert {assign_split(t) for t in MINI_TRIALS} == {'train', 'val', 'test'}
    return out

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

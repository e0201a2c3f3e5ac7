import os.path as osp

import numpy as np
import torch

from mdkit.evaluation import MotionPlausibilityMetric, plausibility_stats
from mdkit.structures import MotionDataSample


def _walker(t=60, fps=20.0, slide=0.0):
    """A rigid body translating forward; feet on the ground slide by ``slide`` m/frame."""
    base = np.zeros((22, 3))
    base[:, 1] = np.linspace(0.0, 1.7, 22)
    base[[7, 8, 10, 11], 1] = 0.0
    joints = np.repeat(base[None], t, 0)
    joints[:, :, 2] += np.arange(t)[:, None] * slide
    return joints


def test_foot_skate_and_contacts():
    still = plausibility_stats(_walker(slide=0.0))
    assert still['foot_skate'] == 0.0 and still['jitter'] == 0.0
    sliding = plausibility_stats(_walker(slide=0.05))  # 1 m/s > 0.5 m/s
    assert sliding['foot_skate'] == 1.0
    assert sliding['acceleration'] < 1e-9  # constant velocity


def test_penetration_floating_and_jitter_direct():
    j = _walker()
    j[:, :, 1] -= 0.02
    s = plausibility_stats(j)
    assert abs(s['penetration'] - 0.02) < 1e-12 and s['floating'] == 0.0
    j = _walker()
    j[:, :, 1] += 0.1
    assert abs(plausibility_stats(j)['floating'] - 0.1) < 1e-12
    rng = np.random.default_rng(0)
    noisy = _walker() + rng.normal(scale=0.01, size=(60, 22, 3))
    jerk = np.diff(noisy, n=3, axis=0) * 20 ** 3
    assert abs(plausibility_stats(noisy)['jitter'] -
               np.linalg.norm(jerk, axis=-1).mean()) < 1e-9


def test_limb_and_root_speed():
    # a rigid body travelling at 1 m/s: the root moves, the limbs do not move relative to it
    travel = plausibility_stats(_walker(slide=0.05))
    assert abs(travel['root_speed'] - 1.0) < 1e-9 and travel['limb_speed'] < 1e-9
    # the left wrist (index 20) swings 0.1 m back and forth every frame: 2 m/s on 1 of 21 joints
    swing = _walker()
    swing[1::2, 20, 2] += 0.1
    s = plausibility_stats(swing)
    assert s['root_speed'] == 0.0
    assert abs(s['limb_speed'] - 2.0 / 21) < 1e-9


def test_metric_real_gt_row(humanml3d_samples):
    feats = np.load(osp.join(humanml3d_samples, 'new_joint_vecs', '000000.npy'))
    joints = np.load(osp.join(humanml3d_samples, 'new_joints', '000000.npy'))
    s = MotionDataSample()
    s.gt_motion = torch.from_numpy(feats.astype(np.float32))
    s.pred_joints = torch.from_numpy(joints)
    metric = MotionPlausibilityMetric()
    metric.process({}, [s])
    res = metric.compute_metrics(metric.results)
    # prediction == ground truth here, so both rows agree (same code path)
    for k in ('foot_skate', 'jitter', 'floating', 'limb_speed', 'root_speed'):
        assert abs(res[f'pred_{k}'] - res[f'gt_{k}']) < 1e-3
    assert res['gt_limb_speed'] > 0.1  # a real body moves its limbs
    assert res['gt_foot_skate'] < 0.3  # real motion skates little

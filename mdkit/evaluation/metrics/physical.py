"""Physical plausibility of generated motions, measured on recovered joints."""
from __future__ import annotations

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mdkit.motion.features import features_to_joints
from mdkit.motion.skeletons import get_skeleton
from mdkit.registry import METRICS

__all__ = ['MotionPlausibilityMetric', 'plausibility_stats']


def plausibility_stats(joints: np.ndarray, fps: float = 20.0, skeleton='humanml3d',
                       contact_height: float = 0.05, skate_speed: float = 0.5) -> dict:
    """Foot skating, ground penetration/floating and jitter of one motion.

    Args:
        joints (np.ndarray): (T, J, 3) positions, metres, Y up, floor at y = 0.
        fps (float): Frame rate. Defaults to 20.
        skeleton (str): Skeleton name (foot joints). Defaults to 'humanml3d'.
        contact_height (float): A foot joint below this height (m) is near the
            ground. Defaults to 0.05.
        skate_speed (float): Horizontal speed (m/s) above which a near-ground
            foot joint skates. Defaults to 0.5.

    Returns:
        dict: ``foot_skate`` (fraction of near-ground foot-joint frames that
        skate), ``penetration`` (mean depth below the floor of the lowest
        joint, m), ``floating`` (mean height of the lowest joint above the
        floor, m), ``jitter`` (mean jerk magnitude over joints, m/s^3),
        ``acceleration`` (mean acceleration magnitude, m/s^2), ``limb_speed``
        (mean speed of the joints relative to the root joint, m/s: how much the
        body moves apart from travelling) and ``root_speed`` (mean horizontal
        speed of the root joint, m/s). The last two are descriptive: compare
        them with real motion rather than minimise them.
    """
    skel = get_skeleton(skeleton)
    joints = np.asarray(joints, dtype=np.float64)
    feet = joints[:, list(skel.foot_joints)]
    out = {}
    if len(joints) >= 2:
        speed = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * fps
        near = feet[1:, :, 1] < contact_height
        out['foot_skate'] = float((near & (speed > skate_speed)).sum() / max(near.sum(), 1))
    else:
        out['foot_skate'] = 0.0
    lowest = joints[..., 1].min(axis=1)
    out['penetration'] = float(np.clip(-lowest, 0, None).mean())
    out['floating'] = float(np.clip(lowest, 0, None).mean())
    if len(joints) >= 3:
        acc = np.diff(joints, n=2, axis=0) * fps ** 2
        out['acceleration'] = float(np.linalg.norm(acc, axis=-1).mean())
    else:
        out['acceleration'] = 0.0
    if len(joints) >= 4:
        jerk = np.diff(joints, n=3, axis=0) * fps ** 3
        out['jitter'] = float(np.linalg.norm(jerk, axis=-1).mean())
    else:
        out['jitter'] = 0.0
    if len(joints) >= 2:
        root = skel.parents.index(-1)
        local = np.delete(joints - joints[:, root:root + 1], root, axis=1)
        out['limb_speed'] = float(np.linalg.norm(np.diff(local, axis=0), axis=-1).mean() * fps)
        out['root_speed'] = float(
            np.linalg.norm(np.diff(joints[:, root, [0, 2]], axis=0), axis=-1).mean() * fps)
    else:
        out['limb_speed'] = out['root_speed'] = 0.0
    return out


@METRICS.register_module()
class MotionPlausibilityMetric(BaseMetric):
    """Physical plausibility of predicted (and ground-truth) motions, averaged over samples.

    Reads ``pred_joints`` (T, J, 3) from each predicted sample and, when the
    sample carries ``gt_motion`` (raw features), the ground-truth joints
    recovered through the same code path, so both rows are comparable.

    Args:
        fps (float): Frame rate. Defaults to 20.
        skeleton (str): Skeleton name. Defaults to 'humanml3d'.
        contact_height (float): See :func:`plausibility_stats`. Defaults to 0.05.
        skate_speed (float): See :func:`plausibility_stats`. Defaults to 0.5.
        collect_device (str): mmengine collect device. Defaults to 'cpu'.
        prefix (str | None): Metric name prefix. Defaults to None.

    Example:
        >>> metric = METRICS.build(dict(type='MotionPlausibilityMetric'))
    """

    default_prefix = 'plausibility'

    def __init__(self, fps: float = 20.0, skeleton: str = 'humanml3d',
                 contact_height: float = 0.05, skate_speed: float = 0.5,
                 collect_device: str = 'cpu', prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.kw = dict(fps=fps, skeleton=skeleton, contact_height=contact_height,
                       skate_speed=skate_speed)

    def process(self, data_batch, data_samples) -> None:
        """Compute per-sample statistics of predictions and ground truth."""
        for s in data_samples:
            get = s.get if hasattr(s, 'get') else s.__getitem__
            pred = get('pred_joints')
            if pred is None:
                raise KeyError('MotionPlausibilityMetric needs pred_joints in the samples')
            pred = pred.cpu().numpy() if torch.is_tensor(pred) else np.asarray(pred)
            row = {f'pred_{k}': v for k, v in plausibility_stats(pred, **self.kw).items()}
            gt = get('gt_motion') if hasattr(s, 'get') else None
            if gt is not None:
                gt = gt.cpu().double().numpy() if torch.is_tensor(gt) else np.asarray(gt)
                n = int(get('length') or len(gt))
                gt_joints = features_to_joints(gt[:n], skeleton=self.kw['skeleton'])
                row.update({f'gt_{k}': v
                            for k, v in plausibility_stats(gt_joints, **self.kw).items()})
            self.results.append(row)

    def compute_metrics(self, results: list) -> dict:
        """Mean of every statistic over samples."""
        keys = sorted({k for r in results for k in r})
        return {k: float(np.mean([r[k] for r in results if k in r])) for k in keys}

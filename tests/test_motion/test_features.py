"""The HumanML3D representation against the released reference samples."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch

from mdkit.motion import (
    HUMANML3D_SKELETON,
    KIT_SKELETON,
    feature_slices,
    features_to_joints,
    forward_kinematics,
    gaussian_filter1d,
    inverse_kinematics,
    joints_to_features,
)


def _pairs(folder):
    vec_files = sorted(glob.glob(osp.join(folder, 'new_joint_vecs', '*.npy')))
    assert vec_files, f'no reference samples under {folder}'
    for f in vec_files:
        sid = osp.splitext(osp.basename(f))[0]
        yield sid, np.load(f), np.load(osp.join(folder, 'new_joints', sid + '.npy'))


def test_reference_bone_lengths_are_the_default_target(humanml3d_samples):
    skel = HUMANML3D_SKELETON
    for sid, _, joints in _pairs(humanml3d_samples):
        offsets = skel.offsets_from_joints(joints[0])
        np.testing.assert_allclose(np.linalg.norm(offsets, axis=-1), skel.default_bone_lengths,
                                   atol=2e-6, err_msg=sid)


def test_features_to_joints_reproduces_new_joints(humanml3d_samples):
    for sid, vecs, joints in _pairs(humanml3d_samples):
        assert vecs.shape[1] == 263
        rec = features_to_joints(vecs.astype(np.float64))
        assert rec.shape == joints.shape
        assert np.abs(rec - joints).max() < 1e-5, sid


def test_features_to_joints_batched_torch_matches_numpy(humanml3d_samples):
    items = list(_pairs(humanml3d_samples))[:3]
    t = min(v.shape[0] for _, v, _ in items)
    batch = np.stack([v[:t] for _, v, _ in items]).astype(np.float32)
    out = features_to_joints(torch.from_numpy(batch))
    assert out.shape == (3, t, 22, 3) and out.dtype == torch.float32
    for i, (_, _, joints) in enumerate(items):
        assert np.abs(out[i].numpy() - joints[:t]).max() < 1e-4


def test_joints_to_features_reproduces_new_joint_vecs(humanml3d_samples):
    for sid, vecs, joints in _pairs(humanml3d_samples):
        feats = joints_to_features(joints)
        assert feats.shape == (joints.shape[0] - 1, 263)
        diff = np.abs(feats - vecs[:-1])
        assert diff.mean() < 1e-3, (sid, diff.mean())
        # contacts and root height are exact
        sl = feature_slices()
        np.testing.assert_array_equal(feats[:, sl['foot_contact']], vecs[:-1, sl['foot_contact']])
        np.testing.assert_allclose(feats[:, sl['root_height']], vecs[:-1, sl['root_height']],
                                   atol=1e-5)


def _transform(joints, yaw, shift, scale=1.0):
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return (joints * scale) @ rot.T + shift


def test_features_invariant_to_placement_and_scale(humanml3d_samples):
    _, _, joints = next(_pairs(humanml3d_samples))
    joints = joints.astype(np.float64)
    base = joints_to_features(joints)
    moved = joints_to_features(_transform(joints, 1.1, np.array([3.0, 0.5, -2.0]), scale=1.3))
    # retargeting to the standard skeleton removes the scale; placement removes yaw/shift.
    # Contacts depend on absolute speed, so compare the geometric blocks only.
    sl = feature_slices()
    for key in ('ric', 'rot6d', 'root_height'):
        np.testing.assert_allclose(moved[:, sl[key]], base[:, sl[key]], atol=1e-6, err_msg=key)


def test_round_trip_on_new_skeleton_motion(humanml3d_samples):
    """joints -> features -> joints gives the retargeted, placed input back."""
    _, _, joints = next(_pairs(humanml3d_samples))
    src = _transform(joints.astype(np.float64), -0.7, np.array([1.0, 0.2, 4.0]))
    rec = features_to_joints(joints_to_features(src))
    placed = features_to_joints(joints_to_features(joints.astype(np.float64)))
    np.testing.assert_allclose(rec, placed, atol=1e-6)


def test_ik_fk_round_trip_and_retarget_lengths(humanml3d_samples):
    _, _, joints = next(_pairs(humanml3d_samples))
    joints = joints.astype(np.float64)
    skel = HUMANML3D_SKELETON
    quats = inverse_kinematics(joints, skel)
    rec = forward_kinematics(quats, joints[:, 0], skel.offsets_from_joints(joints[0]), skel)
    np.testing.assert_allclose(rec, joints, atol=1e-5)
    longer = skel.offsets(skel.default_bone_lengths * 1.2)
    re = forward_kinematics(quats, joints[:, 0], longer, skel)
    parents = np.array(skel.parents)
    lengths = np.linalg.norm(re[:, 1:] - re[:, parents[1:]], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(skel.default_bone_lengths[1:] * 1.2,
                                                        lengths.shape), atol=1e-9)


def test_kit_variant_round_trip():
    """KIT 251-d: a synthetic walking figure survives joints -> features -> joints."""
    skel = KIT_SKELETON
    rng = np.random.default_rng(0)
    lengths = np.concatenate([[0.0], rng.uniform(0.1, 0.4, size=20)])
    offsets = skel.offsets(lengths)
    t = 60
    quats = np.zeros((t, 21, 4))
    quats[..., 0] = 1.0
    ang = np.linspace(0, 0.8, t)
    quats[:, 0] = np.stack([np.cos(ang / 2), 0 * ang, np.sin(ang / 2), 0 * ang], -1)
    swing = 0.3 * np.sin(np.linspace(0, 6, t))
    for j in (12, 17):
        quats[:, j] = np.stack([np.cos(swing / 2), np.sin(swing / 2), 0 * swing, 0 * swing], -1)
    root = np.stack([np.linspace(0, 1.5, t), np.full(t, 1.0), np.linspace(0, 0.5, t)], -1)
    joints = forward_kinematics(quats, root, offsets, skel)
    feats = joints_to_features(joints, skeleton='kit', target_offsets=offsets)
    assert feats.shape == (t - 1, 251)
    rec = features_to_joints(feats, skeleton='kit')
    # shape of the motion is preserved (compare root-relative, placement-free quantities)
    np.testing.assert_allclose(np.linalg.norm(rec[:, 1:] - rec[:, :1], axis=-1),
                               np.linalg.norm(joints[:-1, 1:] - joints[:-1, :1], axis=-1),
                               atol=1e-6)


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r'\(T, 22, 3\)'):
        joints_to_features(np.zeros((10, 21, 3)))
    bad = np.zeros((10, 22, 3))
    bad[3, 5, 1] = np.nan
    with pytest.raises(ValueError, match='right_knee'):
        joints_to_features(bad)
    with pytest.raises(ValueError, match='at least 2 frames'):
        joints_to_features(np.zeros((1, 22, 3)))
    with pytest.raises(ValueError, match='263'):
        features_to_joints(np.zeros((5, 251)))
    with pytest.raises(ValueError, match='target_offsets'):
        KIT_SKELETON.offsets()


def test_gaussian_filter_matches_closed_form():
    x = np.zeros(101)
    x[50] = 1.0
    out = gaussian_filter1d(x, 3.0)
    k = np.exp(-0.5 * (np.arange(-12, 13) / 3.0) ** 2)
    np.testing.assert_allclose(out[38:63], k / k.sum(), atol=1e-12)
    # edge mode 'nearest': a constant stays constant
    np.testing.assert_allclose(gaussian_filter1d(np.ones((30, 2)), 20, axis=0), 1.0)

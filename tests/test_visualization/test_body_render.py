"""BodyClipRenderer: shapes, seeded cameras, body pixels, colours, resampling, perspective."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mdkit.motion import HUMANML3D_SKELETON, KIT_SKELETON
from mdkit.visualization import BODY_COLORS, BodyClipRenderer


def _rest_pose(skel, scale=0.25):
    """(J, 3) rest pose built from the raw offsets, feet on the floor (y = 0)."""
    lengths = np.full(skel.num_joints, scale)
    lengths[0] = 0.0
    offsets = skel.raw_offsets * lengths[:, None]
    rest = np.zeros((skel.num_joints, 3))
    for chain in skel.kinematic_chains:
        for a, b in zip(chain[:-1], chain[1:]):
            rest[b] = rest[a] + offsets[b]
    rest[:, 1] -= rest[:, 1].min()
    return rest


def _walk(skel=HUMANML3D_SKELETON, num_frames=40, step=(0.0, 0.0, 0.03)):
    """A rest pose translated by ``step`` metres per frame."""
    rest = _rest_pose(skel)
    t = np.arange(num_frames)[:, None, None]
    return rest[None] + t * np.asarray(step)[None, None]


def _body_mask(frames, renderer):
    """Pixels that differ from the uniform background (show_floor=False)."""
    return (frames != np.asarray(renderer.sky_color, dtype=np.uint8)).any(axis=-1)


@pytest.fixture(scope='module')
def kick(humanml3d_samples):
    """(116, 22, 3) reference motion: a person kicking with the left leg."""
    joints = np.load(osp.join(humanml3d_samples, 'new_joints', '000000.npy'))
    assert joints.shape == (116, 22, 3)
    return joints


FRONT = dict(azimuth=0.0, elevation=10.0, distance=3.5)


def test_real_motion_shape_dtype_and_info(kick):
    renderer = BodyClipRenderer(size=224)
    frames, info = renderer.render_with_info(kick, seed=0)
    assert frames.shape == (116, 224, 224, 3) and frames.dtype == np.uint8
    assert info['num_frames'] == 116 and info['source_frames'] == 116
    assert info['fps'] == 20.0 and info['size'] == [224, 224]
    assert isinstance(info['follow'], bool)
    # not a blank image: floor, sky and body colours
    assert len(np.unique(frames[0].reshape(-1, 3), axis=0)) > 50
    # the motion moves, so consecutive frames differ
    assert np.abs(frames[1:].astype(int) - frames[:-1]).sum(axis=(1, 2, 3)).min() > 0


def test_torch_input_and_non_square_size():
    joints = torch.from_numpy(_walk(num_frames=5))
    frames = BodyClipRenderer(size=(48, 80)).render(joints, seed=1)
    assert frames.shape == (5, 48, 80, 3)


def test_seed_determinism_and_generator():
    joints = _walk(num_frames=12)
    renderer = BodyClipRenderer(size=64)
    a = renderer.render(joints, seed=3)
    b = renderer.render(joints, seed=3)
    c = renderer.render(joints, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert renderer.camera(3) == renderer.camera(3)


def test_different_seeds_give_different_cameras_within_ranges():
    renderer = BodyClipRenderer(size=64, azimuth_range=(-90, 90), elevation_range=(5, 30),
                                distance_range=(3.0, 4.5))
    cams = [renderer.camera(s) for s in range(20)]
    assert len({(c['azimuth'], c['elevation'], c['distance']) for c in cams}) == 20
    for c in cams:
        assert set(c) == {'azimuth', 'elevation', 'distance'}
        assert -90 <= c['azimuth'] <= 90 and 5 <= c['elevation'] <= 30
        assert 3.0 <= c['distance'] <= 4.5
    joints = _walk(num_frames=4)
    assert not np.array_equal(renderer.render(joints, seed=0), renderer.render(joints, seed=1))


def test_body_pixels_present_and_follow_the_motion():
    renderer = BodyClipRenderer(size=96, show_floor=False, follow=False)
    side = dict(azimuth=90.0, elevation=10.0, distance=4.0)  # looks along -X: +Z is screen left
    still = renderer.render(_walk(num_frames=6, step=(0, 0, 0)), camera=side)
    mask = _body_mask(still, renderer)
    assert (mask.sum(axis=(1, 2)) > 100).all()  # every frame shows the body
    assert np.array_equal(still[0], still[-1])  # nothing moves, nothing changes

    moving = renderer.render(_walk(num_frames=6, step=(0, 0, 0.1)), camera=side)
    mask = _body_mask(moving, renderer)
    cols = np.arange(mask.shape[2])
    cx = [(m.sum(axis=0) * cols).sum() / m.sum() for m in mask]
    assert np.all(np.diff(cx) < -1.0)  # walks towards +Z: the body moves left on screen


def test_left_and_right_colours_both_present(kick):
    frames = BodyClipRenderer(size=160).render(kick[::10], camera=FRONT)
    for part in ('left_leg', 'right_leg', 'left_arm', 'right_arm', 'center', 'head'):
        count = (frames == np.asarray(BODY_COLORS[part], dtype=np.uint8)).all(axis=-1).sum()
        assert count > 30, part


def test_left_limbs_on_screen_right_in_front_view():
    # a character facing +Z seen from the front shows its left side (+X) on the right
    renderer = BodyClipRenderer(size=128, show_floor=False)
    frame = renderer.render(_walk(num_frames=1), camera=FRONT)[0]
    cols = np.arange(frame.shape[1])

    def mean_col(part):
        m = (frame == np.asarray(BODY_COLORS[part], dtype=np.uint8)).all(axis=-1)
        assert m.any(), part
        return (m.sum(axis=0) * cols).sum() / m.sum()

    assert mean_col('left_leg') > mean_col('right_leg')


def test_num_frames_and_fps_resampling(kick):
    frames, info = BodyClipRenderer(size=64, num_frames=16).render_with_info(kick, seed=0)
    assert frames.shape[0] == 16 and info['num_frames'] == 16
    assert info['fps'] == pytest.approx(15 / (115 / 20))
    up = BodyClipRenderer(size=32, num_frames=300).render(kick, seed=0)
    assert up.shape[0] == 300
    half, info = BodyClipRenderer(size=32, fps=10).render_with_info(kick, seed=0)
    assert half.shape[0] == 58 and info['fps'] == 10.0  # frames 0, 2, ..., 114
    double = BodyClipRenderer(size=32, fps=40).render(kick, seed=0)
    assert double.shape[0] == 231
    # a one-frame motion still renders
    assert BodyClipRenderer(size=32, num_frames=4).render(kick[:1], seed=0).shape[0] == 4


def test_resampled_frames_interpolate_the_motion():
    # at 40 fps the odd frames show poses half-way between the source frames
    joints = _walk(num_frames=3, step=(0.2, 0, 0))
    cam = dict(azimuth=0.0, elevation=10.0, distance=4.0)
    fine = BodyClipRenderer(size=96, fps=40, show_floor=False, follow=False)
    out = fine.render(joints, camera=cam)
    assert out.shape[0] == 5
    mid = _walk(num_frames=5, step=(0.1, 0, 0))
    ref = BodyClipRenderer(size=96, show_floor=False, follow=False).render(mid, camera=cam)
    np.testing.assert_array_equal(out, ref)


def test_limbs_thicker_when_the_camera_is_closer(kick):
    renderer = BodyClipRenderer(size=448, show_floor=False)
    pose = kick[:1]
    color = np.asarray(BODY_COLORS['left_leg'], dtype=np.uint8)

    def limb_radius(distance):
        frame = renderer.render(pose, camera=dict(FRONT, distance=distance))[0]
        mask = (frame == color).all(axis=-1).astype(np.uint8)
        return cv2.distanceTransform(mask, cv2.DIST_L2, 5).max()

    near, far = limb_radius(3.0), limb_radius(4.5)
    assert near > 1.3 * far  # perspective: ~1.5x for a 1.5x closer camera
    thick = BodyClipRenderer(size=448, show_floor=False, limb_width=0.12)
    frame = thick.render(pose, camera=dict(FRONT, distance=4.5))[0]
    mask = (frame == color).all(axis=-1).astype(np.uint8)
    assert cv2.distanceTransform(mask, cv2.DIST_L2, 5).max() > 1.6 * far


def test_auto_follow_keeps_a_long_walk_in_view():
    walk = _walk(num_frames=60, step=(0.1, 0, 0))  # 6 m across the view
    cam = dict(azimuth=0.0, elevation=15.0, distance=3.0)
    auto = BodyClipRenderer(size=64, show_floor=False)
    frames, info = auto.render_with_info(walk, camera=cam)
    assert info['follow'] is True
    mask = _body_mask(frames, auto)
    assert (mask.sum(axis=(1, 2)) > 20).all()
    assert not mask[:, :, 0].any() and not mask[:, :, -1].any()  # never touches the sides
    fixed = BodyClipRenderer(size=64, show_floor=False, follow=False)
    frames = fixed.render(walk, camera=cam)
    mask = _body_mask(frames, fixed)
    assert mask[:, :, 0].any() or mask[:, :, -1].any() or (mask.sum(axis=(1, 2)) == 0).any()
    # a motion that stays in place keeps the fixed camera
    _, info = auto.render_with_info(_walk(num_frames=10, step=(0, 0, 0)), camera=cam)
    assert info['follow'] is False


def test_floor_shows_motion_relative_to_the_ground():
    # with a following camera the body stays put on screen while the floor slides under it
    walk = _walk(num_frames=8, step=(0.15, 0, 0))
    renderer = BodyClipRenderer(size=96, follow=True, show_shadow=False)
    frames = renderer.render(walk, camera=dict(azimuth=0.0, elevation=20.0, distance=3.0))
    floor_rows = frames[:, -20:]  # the bottom rows only see the floor
    assert len(np.unique(floor_rows[0].reshape(-1, 3), axis=0)) > 2  # a pattern, not a fill
    assert not np.array_equal(floor_rows[0], floor_rows[-1])


def test_kit_skeleton():
    joints = _walk(KIT_SKELETON, num_frames=3)
    frames = BodyClipRenderer(size=64, skeleton='kit').render(joints, seed=0)
    assert frames.shape == (3, 64, 64, 3)


def test_bad_joints_raise_check_joints_errors():
    renderer = BodyClipRenderer(size=32)
    with pytest.raises(ValueError, match=r'shape \(T, 22, 3\)'):
        renderer.render(np.zeros((10, 21, 3)))
    with pytest.raises(ValueError, match='skeleton=.kit.'):
        renderer.render(np.zeros((10, 21, 3)))
    bad = _walk(num_frames=4)
    bad[2, 5, 1] = np.nan
    with pytest.raises(ValueError, match='non-finite.*frame 2'):
        renderer.render(bad)


@pytest.mark.parametrize('kwargs, match', [
    (dict(size=8), 'at least 16x16'),
    (dict(elevation_range=(30, 5)), 'min <= max'),
    (dict(elevation_range=(0, 95)), r'\[-89, 89\]'),
    (dict(distance_range=(0.0, 2.0)), 'above 0'),
    (dict(num_frames=0), 'num_frames'),
    (dict(fps=0), 'fps'),
    (dict(follow='yes'), 'follow'),
    (dict(sky_color=(300, 0, 0)), 'sky_color'),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BodyClipRenderer(**kwargs)

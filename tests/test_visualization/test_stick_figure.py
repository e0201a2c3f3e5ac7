"""Stick-figure rendering: videos and PNGs read back, input checks, KIT skeleton."""
import gc
import os.path as osp
import subprocess
import sys
import warnings

import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np
import pytest
import torch

from mdkit.motion import HUMANML3D_SKELETON, KIT_SKELETON
from mdkit.visualization import (
    StickFigureRenderer,
    check_joints,
    frames_to_array,
    render_frames_png,
    render_stick_figure,
)
from mdkit.visualization.stick_figure import (
    CENTER_COLOR,
    LEFT_ARM_COLOR,
    LEFT_LEG_COLOR,
    RIGHT_ARM_COLOR,
    RIGHT_LEG_COLOR,
    _chain_styles,
    _grab,
)


@pytest.fixture(scope='module')
def kick(humanml3d_samples):
    """(116, 22, 3) reference motion: a person kicking with the left leg."""
    joints = np.load(osp.join(humanml3d_samples, 'new_joints', '000000.npy'))
    assert joints.shape == (116, 22, 3)
    return joints


def _synthetic(skel, num_frames=30, seed=0):
    """A (T, J, 3) rest pose built from the raw offsets, walking along +Z and waving."""
    rng = np.random.default_rng(seed)
    lengths = np.full(skel.num_joints, 0.2)
    lengths[0] = 0.0
    offsets = skel.raw_offsets * lengths[:, None]
    rest = np.zeros((skel.num_joints, 3))
    for chain in skel.kinematic_chains:
        for a, b in zip(chain[:-1], chain[1:]):
            rest[b] = rest[a] + offsets[b]
    rest[:, 1] -= rest[:, 1].min()
    t = np.arange(num_frames)[:, None]
    joints = np.repeat(rest[None], num_frames, axis=0)
    joints[..., 2] += 0.05 * t
    joints += 0.02 * np.sin(t[..., None] / 3 + rng.normal(size=(1, skel.num_joints, 1)))
    return joints


def _read_mp4(path):
    """All frames and the fps of an MP4, read with imageio's ffmpeg plugin.

    imageio-ffmpeg leaves ffmpeg's stdin/stdout pipes to the garbage collector
    when ffmpeg has already exited at close (i.e. after reading the last
    frame); collect them here with ResourceWarning silenced so the test run
    (``filterwarnings = error``) does not see an unraisable warning later.
    """
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ResourceWarning)
        with imageio.get_reader(path) as reader:
            n = reader.count_frames()
            fps = reader.get_meta_data()['fps']
            frames = np.stack([reader.get_data(i) for i in range(n)])
        del reader
        gc.collect()
    return frames, fps


def _color_pixels(img, hex_color, tol=40):
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(img.astype(int) - rgb).max(-1) < tol).sum())


def _check_video_frames(frames, num_frames, width, height):
    assert frames.shape == (num_frames, height, width, 3)
    assert frames.dtype == np.uint8
    # not blank: every frame has real contrast (figure + floor on white)
    assert (frames.reshape(num_frames, -1, 3).std(axis=1).mean(-1) > 10).all()
    # the motion moves: first vs middle vs last frame differ
    diff = np.abs(frames[0].astype(int) - frames[num_frames // 2].astype(int)).mean()
    assert diff > 1.0
    assert not np.array_equal(frames[num_frames // 2], frames[-1])


def test_render_mp4_reference(kick, tmp_path):
    out = tmp_path / 'sub' / 'kick.mp4'
    ret = render_stick_figure(kick, str(out), title='a person kicks with the left leg',
                              size=(224, 160))
    assert ret == str(out) and out.is_file()
    frames, fps = _read_mp4(str(out))
    assert fps == pytest.approx(20)
    _check_video_frames(frames, 116, 224, 160)


def test_render_mp4_rounds_odd_size_to_even(kick, tmp_path):
    out = str(tmp_path / 'odd.mp4')
    render_stick_figure(torch.from_numpy(kick[:20]), out, size=(161, 121), fps=30)
    frames, fps = _read_mp4(out)
    assert frames.shape == (20, 122, 162, 3)
    assert fps == pytest.approx(30)


def test_render_gif_reference(kick, tmp_path):
    out = str(tmp_path / 'kick.GIF')
    render_stick_figure(kick, out, size=(160, 192))
    frames = iio.imread(out, index=None)
    _check_video_frames(frames, 116, 160, 192)
    meta = iio.immeta(out)
    assert meta['duration'] == 50 and meta['loop'] == 0


def test_frames_to_array_colors_and_torch_input(kick):
    sub = kick[::23]
    frames = frames_to_array(sub, size=(192, 192))
    assert frames.shape == (len(sub), 192, 192, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames_to_array(torch.from_numpy(sub), size=(192, 192)),
                                  frames)
    # all limb colours are drawn
    for color in (LEFT_LEG_COLOR, RIGHT_LEG_COLOR, LEFT_ARM_COLOR, RIGHT_ARM_COLOR):
        assert _color_pixels(frames[0], color) > 30, color


def test_chain_colors_follow_joint_sides():
    styles = {tuple(c.tolist()): color for c, color, _ in _chain_styles(HUMANML3D_SKELETON)}
    assert styles[(0, 1, 4, 7, 10)] == LEFT_LEG_COLOR
    assert styles[(0, 2, 5, 8, 11)] == RIGHT_LEG_COLOR
    assert styles[(9, 13, 16, 18, 20)] == LEFT_ARM_COLOR
    assert styles[(9, 14, 17, 19, 21)] == RIGHT_ARM_COLOR
    assert styles[(0, 3, 6, 9, 12, 15)] == CENTER_COLOR
    kit = {tuple(c.tolist()): color for c, color, _ in _chain_styles(KIT_SKELETON)}
    assert kit[(0, 16, 17, 18, 19, 20)] == LEFT_LEG_COLOR
    assert kit[(0, 11, 12, 13, 14, 15)] == RIGHT_LEG_COLOR
    assert kit[(3, 8, 9, 10)] == LEFT_ARM_COLOR
    assert kit[(3, 5, 6, 7)] == RIGHT_ARM_COLOR


def test_png_filmstrip_and_overlay(kick, tmp_path):
    out = str(tmp_path / 'strip.png')
    render_frames_png(kick, out, num_frames=8, ncols=4, panel_size=(120, 150))
    img = iio.imread(out)
    assert img.shape[:2] == (300, 480) and img.shape[2] in (3, 4)
    assert img[..., :3].std() > 10
    assert _color_pixels(img[..., :3], LEFT_LEG_COLOR) > 50

    titled = str(tmp_path / 'titled.png')
    render_frames_png(kick, titled, num_frames=3, title='a person kicks', ncols=4,
                      panel_size=(120, 150))
    h, w = iio.imread(titled).shape[:2]
    assert w == 360 and h > 150  # 3 panels in one row, plus a title strip

    overlay = str(tmp_path / 'overlay.jpg')
    render_frames_png(torch.from_numpy(kick), overlay, num_frames=5, mode='overlay',
                      size=(320, 200), title='overlay')
    assert iio.imread(overlay).shape[:2] == (200, 320)

    # more frames requested than the motion has: every frame once
    few = str(tmp_path / 'few.png')
    render_frames_png(kick[:3], few, num_frames=8, ncols=8, panel_size=(100, 100))
    assert iio.imread(few).shape[:2] == (100, 300)


def test_kit_skeleton_renders(tmp_path):
    joints = _synthetic(KIT_SKELETON, num_frames=24)
    assert joints.shape == (24, 21, 3)
    out = str(tmp_path / 'kit.gif')
    render_stick_figure(joints, out, skeleton='kit', fps=12.5, size=(128, 128))
    frames = iio.imread(out, index=None)
    _check_video_frames(frames, 24, 128, 128)
    png = str(tmp_path / 'kit.png')
    render_frames_png(joints, png, skeleton='kit', num_frames=4, panel_size=(96, 128))
    assert iio.imread(png).shape[:2] == (128, 384)
    arr = frames_to_array(joints, skeleton=KIT_SKELETON, size=(128, 128))
    assert _color_pixels(arr[0], LEFT_LEG_COLOR) > 10
    assert _color_pixels(arr[0], RIGHT_LEG_COLOR) > 10


def test_long_walk_stays_in_view():
    joints = _synthetic(HUMANML3D_SKELETON, num_frames=40)
    joints[..., 2] += np.linspace(0, 30, 40)[:, None]  # 30 m walk
    renderer = StickFigureRenderer(joints, size=(128, 128), show_info=False,
                                   show_trajectory=False, show_shadow=False)
    for t in (0, 39):
        frame = renderer.render(t)
        # the figure is drawn in both the first and last frame
        assert _color_pixels(frame, LEFT_LEG_COLOR) > 10
        assert _color_pixels(frame, CENTER_COLOR) > 10
    with pytest.raises(IndexError, match='out of range'):
        renderer.render(40)


def test_cached_static_texts_match_a_direct_draw():
    # title and legend are rasterised once and blended onto every frame
    joints = _synthetic(HUMANML3D_SKELETON, num_frames=8)
    renderer = StickFigureRenderer(joints, size=(200, 150),
                                   title='a long caption that wraps onto a second line here')
    fast = renderer.render(5)
    assert len(renderer.static_texts) == 3
    for text in renderer.static_texts:
        text.set_visible(True)
    direct = _grab(renderer.canvas, 200, 150)
    assert np.abs(fast.astype(int) - direct.astype(int)).max() <= 3


def test_input_errors(tmp_path):
    good = _synthetic(HUMANML3D_SKELETON, num_frames=5)
    with pytest.raises(ValueError, match=r"\(T, 22, 3\).*got \(5, 21, 3\).*skeleton='kit'"):
        render_stick_figure(good[:, :21], str(tmp_path / 'a.mp4'))
    with pytest.raises(ValueError, match=r'\(T, 21, 3\).*got \(5, 22, 3\)'):
        render_frames_png(good, str(tmp_path / 'a.png'), skeleton='kit')
    with pytest.raises(ValueError, match='features_to_joints'):
        check_joints(np.zeros((5, 263)))
    with pytest.raises(ValueError, match=r'joints\[None\]'):
        check_joints(good[0])
    with pytest.raises(ValueError, match='got \\(0, 22, 3\\)'):
        check_joints(good[:0])

    bad = good.copy()
    bad[3, 7, 1] = np.nan
    with pytest.raises(ValueError, match="1 non-finite.*frame 3, joint 7 \\('left_ankle'\\)"):
        render_stick_figure(bad, str(tmp_path / 'a.gif'))
    bad[4, 0, 0] = np.inf
    with pytest.raises(ValueError, match='2 non-finite'):
        frames_to_array(torch.from_numpy(bad))

    with pytest.raises(ValueError, match=r"'\.avi'.*\.mp4, \.gif"):
        render_stick_figure(good, str(tmp_path / 'a.avi'))
    with pytest.raises(ValueError, match=r"'\(none\)'.*\.mp4, \.gif"):
        render_stick_figure(good, str(tmp_path / 'noext'))
    with pytest.raises(ValueError, match=r'\.png'):
        render_frames_png(good, str(tmp_path / 'a.mp4'))
    with pytest.raises(ValueError, match='mode'):
        render_frames_png(good, str(tmp_path / 'a.png'), mode='grid')
    with pytest.raises(ValueError, match='at least 32x32'):
        render_stick_figure(good, str(tmp_path / 'a.mp4'), size=(8, 8))
    with pytest.raises(ValueError, match='fps'):
        render_stick_figure(good, str(tmp_path / 'a.mp4'), fps=0)
    with pytest.raises(KeyError, match='Unknown skeleton'):
        render_stick_figure(good, str(tmp_path / 'a.mp4'), skeleton='smplx')
    assert not list(tmp_path.iterdir())  # nothing written on errors


def test_import_is_light_and_pyplot_free():
    code = (
        'import sys\n'
        'import numpy as np\n'
        'import mdkit.visualization as vis\n'
        "heavy = [m for m in ('matplotlib', 'imageio') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        'from mdkit.motion import HUMANML3D_SKELETON as s\n'
        'j = np.zeros((2, 22, 3)); j[:, :, 1] = np.arange(22) / 20\n'
        'f = vis.frames_to_array(j, size=(64, 64))\n'
        'assert f.shape == (2, 64, 64, 3)\n'
        "assert 'matplotlib.pyplot' not in sys.modules\n")
    subprocess.run([sys.executable, '-c', code], check=True, timeout=120)

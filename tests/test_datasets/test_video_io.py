"""read_video / write_video: round trips (mp4, gif, png folder), resampling, clear errors."""
import os
import os.path as osp

import imageio.v3 as iio
import numpy as np
import pytest

from mdkit.datasets import read_video, write_video
from mdkit.datasets.video_io import mp4_is_complete


def _frames(num=30, h=64, w=80):
    """Smooth moving gradients: easy for H.264, with a per-frame signature (frame index)."""
    yy, xx = np.mgrid[:h, :w]
    out = []
    for t in range(num):
        out.append(np.stack([(xx * 3 + t * 5) % 256, (yy * 3) % 256,
                             np.full_like(xx, t * 8 % 256)], axis=-1))
    return np.asarray(out, dtype=np.uint8)


def _blocks(num=12, h=48, w=64):
    """Frames of a few flat colours (exact in a gif palette), a block moving right."""
    out = np.zeros((num, h, w, 3), dtype=np.uint8)
    out[...] = (230, 230, 230)
    for t in range(num):
        out[t, 10:30, 2 + 4 * t:12 + 4 * t] = (200, 40, 40)
        out[t, 35:45, :] = (40, 40, 200)
    return out


def _frame_ids(frames):
    """Index of each decoded frame, from the blue channel (t * 8)."""
    return np.round(frames[..., 2].astype(float).mean(axis=(1, 2)) / 8).astype(int)


@pytest.fixture(scope='module')
def mp4_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('video') / 'clip.mp4')
    write_video(path, _frames(), fps=20)
    return path


def test_mp4_round_trip(mp4_file):
    src = _frames()
    out = read_video(mp4_file)
    assert out.shape == src.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - src).mean() < 4  # H.264 crf 18: near-equal
    np.testing.assert_array_equal(_frame_ids(out), np.arange(30))
    assert mp4_is_complete(mp4_file)


def test_mp4_num_frames_size_and_fps(mp4_file):
    clip = read_video(mp4_file, num_frames=16, size=224)  # the VideoMAE call
    assert clip.shape == (16, 224, 224, 3)
    np.testing.assert_array_equal(
        _frame_ids(read_video(mp4_file, num_frames=4)), [0, 10, 19, 29])
    assert read_video(mp4_file, size=(32, 40)).shape == (30, 32, 40, 3)
    half = read_video(mp4_file, fps=10)
    np.testing.assert_array_equal(_frame_ids(half), np.arange(0, 30, 2))
    double = read_video(mp4_file, fps=40)
    assert len(double) == 59
    np.testing.assert_array_equal(_frame_ids(double)[:6], [0, 0, 1, 1, 2, 2])
    both = read_video(mp4_file, fps=10, num_frames=3)
    np.testing.assert_array_equal(_frame_ids(both), [0, 14, 28])


def test_odd_size_mp4_is_padded(tmp_path):
    path = str(tmp_path / 'odd.mp4')
    write_video(path, _frames(5, 33, 47), fps=20)
    assert read_video(path).shape == (5, 34, 48, 3)


def test_gif_round_trip_and_resampling(tmp_path):
    src = _blocks()
    src[5] = src[4]  # identical consecutive frames (gif writers merge them)
    path = str(tmp_path / 'clip.gif')
    write_video(path, src, fps=20)
    out = read_video(path)
    assert out.shape == src.shape
    assert np.abs(out.astype(int) - src).max() <= 2
    assert read_video(path, fps=10).shape[0] == 6
    assert read_video(path, num_frames=5, size=24).shape == (5, 24, 24, 3)


def test_png_folder_round_trip(tmp_path):
    src = _frames(12)
    folder = tmp_path / 'frames'
    folder.mkdir()
    for t, frame in enumerate(src):
        iio.imwrite(str(folder / f'frame_{t}.png'), frame)  # natural order: 2 before 10
    (folder / 'notes.txt').write_text('not a frame')
    out = read_video(str(folder))
    np.testing.assert_array_equal(out, src)
    np.testing.assert_array_equal(_frame_ids(read_video(str(folder), fps=10)), [0, 2, 4, 6, 8,
                                                                                  10])
    np.testing.assert_array_equal(_frame_ids(read_video(str(folder), fps=5, folder_fps=10)),
                                  [0, 2, 4, 6, 8, 10])
    assert read_video(str(folder), num_frames=3, size=(16, 20)).shape == (3, 16, 20, 3)


def test_missing_file(tmp_path):
    path = str(tmp_path / 'nope.mp4')
    with pytest.raises(FileNotFoundError, match='nope.mp4'):
        read_video(path)


def test_corrupt_and_truncated_mp4(tmp_path, mp4_file):
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(ValueError, match='junk.mp4.*corrupt or truncated'):
        read_video(str(junk))
    with open(mp4_file, 'rb') as f:
        data = f.read()
    cut = tmp_path / 'cut.mp4'
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match='cut.mp4'):
        read_video(str(cut))
    empty = tmp_path / 'empty.mp4'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match='empty.mp4'):
        read_video(str(empty))
    assert not mp4_is_complete(str(junk)) and not mp4_is_complete(str(cut))
    assert not mp4_is_complete(str(empty)) and not mp4_is_complete(str(tmp_path / 'none.mp4'))


def test_corrupt_gif_and_frame(tmp_path):
    gif = tmp_path / 'bad.gif'
    gif.write_bytes(b'GIF89a' + bytes(20))
    with pytest.raises(ValueError, match='bad.gif'):
        read_video(str(gif))
    folder = tmp_path / 'frames'
    folder.mkdir()
    iio.imwrite(str(folder / '0.png'), _frames(1)[0])
    (folder / '1.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match=r'1\.png'):
        read_video(str(folder))


def test_mixed_frame_sizes_need_size(tmp_path):
    folder = tmp_path / 'frames'
    folder.mkdir()
    iio.imwrite(str(folder / '0.png'), _frames(1, 32, 32)[0])
    iio.imwrite(str(folder / '1.png'), _frames(1, 40, 32)[0])
    with pytest.raises(ValueError, match='pass size'):
        read_video(str(folder))
    assert read_video(str(folder), size=16).shape == (2, 16, 16, 3)


def test_empty_folder_and_unknown_extension(tmp_path):
    empty = tmp_path / 'empty_dir'
    empty.mkdir()
    with pytest.raises(ValueError, match='empty_dir.*no .png'):
        read_video(str(empty))
    odd = tmp_path / 'clip.xyz'
    odd.write_bytes(b'123')
    with pytest.raises(ValueError, match=r"clip\.xyz.*\.mp4"):
        read_video(str(odd))


def test_bad_arguments(tmp_path, mp4_file):
    with pytest.raises(ValueError, match='num_frames'):
        read_video(mp4_file, num_frames=0)
    with pytest.raises(ValueError, match='fps'):
        read_video(mp4_file, fps=-1)
    with pytest.raises(ValueError, match='size'):
        read_video(mp4_file, size=(1, 2, 3))
    with pytest.raises(ValueError, match=r'\.avi'):
        write_video(str(tmp_path / 'x.avi'), _frames(2), fps=20)
    with pytest.raises(ValueError, match='uint8'):
        write_video(str(tmp_path / 'x.mp4'), _frames(2).astype(np.float32), fps=20)
    with pytest.raises(ValueError, match='shape'):
        write_video(str(tmp_path / 'x.mp4'), np.zeros((2, 8), np.uint8), fps=20)
    assert not os.listdir(tmp_path) or not osp.exists(tmp_path / 'x.mp4')


@pytest.mark.parametrize('ext, codec', [('avi', 'mpeg4'), ('webm', 'libvpx')])
def test_other_containers(tmp_path, mp4_file, ext, codec):
    import subprocess

    import imageio_ffmpeg
    path = str(tmp_path / f'clip.{ext}')
    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), '-y', '-loglevel', 'error', '-i',
                           mp4_file, '-c:v', codec, '-q:v', '2', '-b:v', '2M', path],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f'this ffmpeg cannot encode {codec}: {proc.stderr[-200:]!r}')
    out = read_video(path)
    assert out.shape == (30, 64, 80, 3)
    assert np.abs(out.astype(int) - _frames()).mean() < 8
    np.testing.assert_array_equal(_frame_ids(read_video(path, fps=10)), np.arange(0, 30, 2))

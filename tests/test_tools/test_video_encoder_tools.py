"""tools/pretrain_video_encoder.py and tools/extract_video_features.py run as subprocesses."""
import contextlib
import csv
import gc
import json
import os.path as osp
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: A tiny VideoMAE: 32x32 frames, 8x8 patches, windows of 4 frames, tubelet 2.
TINY_ARGS = ['--size', '32', '--num-frames', '4', '--tubelet', '2', '--patch', '8',
             '--hidden', '32', '--layers', '2', '--heads', '2', '--decoder-hidden', '32',
             '--decoder-layers', '1', '--decoder-heads', '2']


def _run(*args):
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


@contextlib.contextmanager
def _ffmpeg_pipes_collected():
    """Run ffmpeg reads/writes, then collect their pipes with ResourceWarning ignored.

    imageio-ffmpeg leaves the stdin pipe of an ffmpeg process that already exited to the
    garbage collector; under ``filterwarnings = error`` the late "unclosed file" warning
    would fail whichever test happens to be running when it is collected.
    """
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ResourceWarning)
        try:
            yield
        finally:
            gc.collect()


def _toy_clip(index: int, num_frames: int) -> np.ndarray:
    """A coloured block sliding over a grey floor: structure a masked autoencoder can learn."""
    frames = np.full((num_frames, 32, 32, 3), 30, np.uint8)
    frames[:, 24:] = 90
    for t in range(num_frames):
        x = 2 + (t * (index + 1)) % 24
        frames[t, 8:20, x:x + 6] = (200, 60 + 40 * index, 30)
    return frames


@pytest.fixture(scope='module')
def clip_dir(tmp_path_factory):
    from mdkit.datasets.video_io import write_video
    folder = tmp_path_factory.mktemp('clips')
    with _ffmpeg_pipes_collected():
        for i in range(4):
            write_video(str(folder / f'clip{i:02d}.mp4'), _toy_clip(i, 20 + 6 * i), fps=20)
    return folder


@pytest.fixture(scope='module')
def pretrained_dir(clip_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp('videomae')
    proc = _run('tools/pretrain_video_encoder.py', '--video-dir', str(clip_dir), '--out',
                str(out), *TINY_ARGS, '--iters', '20', '--batch-size', '4', '--lr', '2e-3',
                '--log-interval', '5', '--seed', '0', '--no-progress')
    assert proc.returncode == 0, proc.stderr
    assert 'held-out loss' in proc.stdout
    return out


def test_pretrain_outputs_and_loss(pretrained_dir):
    for name in ('config.json', 'model.safetensors', 'preprocessor_config.json', 'loss.csv',
                 'loss.png', 'pretrain_info.json'):
        assert osp.isfile(pretrained_dir / name), name
    with open(pretrained_dir / 'loss.csv') as f:
        rows = list(csv.DictReader(f))
    assert [int(r['iter']) for r in rows] == [0, 5, 10, 15, 20]
    assert all(np.isfinite(float(r['eval_loss'])) for r in rows)
    assert all(np.isfinite(float(r['train_loss'])) for r in rows[1:])
    info = json.loads((pretrained_dir / 'pretrain_info.json').read_text())
    assert info['training']['iterations'] == 20 and info['data']['num_clips'] == 4
    assert np.isfinite(info['final_train_loss'])
    # the held-out loss (fixed windows and masks) went down
    assert info['final_eval_loss'] < info['initial_eval_loss']
    # only the encoder was saved; it loads with from_pretrained and the mdkit adapter
    config = json.loads((pretrained_dir / 'config.json').read_text())
    assert config['architectures'] == ['VideoMAEModel'] and config['hidden_size'] == 32
    import transformers
    model = transformers.VideoMAEModel.from_pretrained(str(pretrained_dir),
                                                       local_files_only=True)
    assert model.config.num_frames == 4
    from mdkit.models.video_encoders import IMAGENET_MEAN, VideoMAEVideoEncoder
    enc = VideoMAEVideoEncoder(pretrained=str(pretrained_dir))
    assert enc.out_dim == 32 and enc.image_mean == IMAGENET_MEAN
    out = enc([_toy_clip(0, 10)])
    assert out['features'].shape == (1, 5, 32) and torch.isfinite(out['features']).all()


def test_pretrain_empty_video_dir(tmp_path):
    proc = _run('tools/pretrain_video_encoder.py', '--video-dir', str(tmp_path), '--out',
                str(tmp_path / 'out'), '--iters', '1')
    assert proc.returncode != 0
    assert 'no *.mp4 clips in' in proc.stderr and 'render_videos.py' in proc.stderr


def test_pretrain_ids_files(clip_dir, tmp_path):
    train, held_out = tmp_path / 'train.txt', tmp_path / 'val.txt'
    train.write_text('clip00\nclip01\nclip02\n')
    held_out.write_text('clip03\n')
    out = tmp_path / 'out'
    proc = _run('tools/pretrain_video_encoder.py', '--video-dir', str(clip_dir), '--out',
                str(out), *TINY_ARGS, '--iters', '2', '--batch-size', '2', '--log-interval', '1',
                '--ids-file', str(train), '--eval-ids-file', str(held_out), '--no-progress')
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / 'pretrain_info.json').read_text())['data']
    assert data['num_clips'] == 3 and data['eval_clips'] == 1 and data['eval_held_out']
    # an id without a clip is named, with the way to make it
    held_out.write_text('clip09\n')
    proc = _run('tools/pretrain_video_encoder.py', '--video-dir', str(clip_dir), '--out',
                str(out), '--ids-file', str(train), '--eval-ids-file', str(held_out))
    assert proc.returncode != 0
    assert 'clip09.mp4' in proc.stderr and 'render_videos.py' in proc.stderr


def test_extract_then_precomputed(pretrained_dir, clip_dir, tmp_path):
    from mdkit.datasets.video_io import read_video
    from mdkit.models.video_encoders import PrecomputedVideoEncoder, VideoMAEVideoEncoder

    feats = tmp_path / 'feats'
    ids = tmp_path / 'split.txt'
    ids.write_text('clip00\nclip02\n')
    proc = _run('tools/extract_video_features.py', 'VideoMAEVideoEncoder', '--pretrained',
                str(pretrained_dir), '--video-dir', str(clip_dir), '--out-dir', str(feats),
                '--ids-file', str(ids), '--no-progress')
    assert proc.returncode == 0, proc.stderr
    assert 'extracted 2 clip(s), 0 up to date' in proc.stdout
    assert sorted(p.name for p in feats.iterdir()) == ['clip00.npy', 'clip02.npy', 'meta.json']

    enc = VideoMAEVideoEncoder(pretrained=str(pretrained_dir))
    meta = json.loads((feats / 'meta.json').read_text())
    assert meta['config_hash'] == enc.config_hash() and meta['encoder'] == 'VideoMAEVideoEncoder'
    assert meta['samples']['clip02']['num_frames'] == 32
    pre = PrecomputedVideoEncoder(str(feats), expected_encoder='VideoMAEVideoEncoder',
                                  expected_hash=enc.config_hash())
    with _ffmpeg_pipes_collected():
        videos = [read_video(str(clip_dir / f'{i}.mp4'), fps=20) for i in ('clip00', 'clip02')]
    direct = enc(videos, motion_lengths=[20, 32])
    cached = pre(['clip00', 'clip02'], motion_lengths=[20, 32])
    for key in direct:
        torch.testing.assert_close(cached[key], direct[key], atol=1e-5, rtol=1e-5)

    # a second run over the whole folder (config file, same weights) skips what is there
    cfg = 'configs/_base_/video_encoders/videomae_pretrained.py'
    proc = _run('tools/extract_video_features.py', cfg, '--pretrained', str(pretrained_dir),
                '--video-dir', str(clip_dir), '--out-dir', str(feats), '--no-progress')
    assert proc.returncode == 0, proc.stderr
    assert 'extracted 2 clip(s), 2 up to date' in proc.stdout

    # other weights: the stale cache is refused, then replaced with --overwrite
    other = tmp_path / 'other'
    changed = VideoMAEVideoEncoder(pretrained=str(pretrained_dir))
    changed.load_state_dict({k: v + 0.01 for k, v in changed.full_state_dict().items()})
    changed.model.save_pretrained(str(other))
    args = ['tools/extract_video_features.py', 'VideoMAEVideoEncoder', '--pretrained',
            str(other), '--video-dir', str(clip_dir), '--out-dir', str(feats), '--ids-file',
            str(ids), '--no-progress']
    proc = _run(*args)
    assert proc.returncode != 0
    assert 'another encoder or other weights' in proc.stderr and '--overwrite' in proc.stderr
    proc = _run(*args, '--overwrite')
    assert proc.returncode == 0, proc.stderr
    assert 'removed 4 stale feature files' in proc.stdout
    assert sorted(p.name for p in feats.iterdir()) == ['clip00.npy', 'clip02.npy', 'meta.json']
    with pytest.raises(ValueError, match='stale'):
        PrecomputedVideoEncoder(str(feats), expected_hash=enc.config_hash())

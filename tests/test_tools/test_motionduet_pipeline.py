"""render -> pretrain -> extract -> train -> generate for MotionDuet, through the real tools."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'motionduet',
                  'motionduet_minilm-videomae-duet-dash-ag_small_2k_cmu.py')
#: A tiny VideoMAE: 32x32 frames, 8x8 patches, windows of 4 frames, tubelet 2.
TINY_VIDEOMAE = ['--size', '32', '--num-frames', '4', '--tubelet', '2', '--patch', '8',
                 '--hidden', '32', '--layers', '1', '--heads', '2', '--decoder-hidden', '32',
                 '--decoder-layers', '1', '--decoder-heads', '2']


def _run(*args):
    proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _options(data_root, feature_dir, max_iters):
    opts = {
        'model.denoiser.width': 32, 'model.denoiser.num_layers': 1, 'model.denoiser.num_heads': 2,
        'model.denoiser.ff_dim': 64, 'model.num_inference_steps': 2, 'model.align_layer': 0,
        'model.video_encoder.feature_dir': feature_dir,
        'model.data_preprocessor.codec.mean': osp.join(data_root, 'Mean.npy'),
        'model.data_preprocessor.codec.std': osp.join(data_root, 'Std.npy'),
        'train_cfg.max_iters': max_iters, 'train_cfg.val_interval': 1000,
        'default_hooks.checkpoint.interval': max_iters, 'default_hooks.logger.interval': 1,
        'param_scheduler': '[]',
    }
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts[f'{loader}.dataset.data_root'] = data_root
        opts[f'{loader}.batch_size'] = 4
        opts[f'{loader}.num_workers'] = 0
        opts[f'{loader}.persistent_workers'] = False
    return [f'{k}={v}' for k, v in opts.items()]


def test_render_pretrain_extract_train_generate(mini_cmu_dataset, tmp_path):
    videos = str(tmp_path / 'videos')
    _run('tools/dataset_converters/render_videos.py', mini_cmu_dataset, '--split', 'all',
         '--out-dir', videos, '--size', '32', '--workers', '1', '--no-progress')
    with open(osp.join(mini_cmu_dataset, 'all.txt')) as f:
        ids = [ln.strip() for ln in f if ln.strip()]
    assert all(osp.isfile(osp.join(videos, f'{i}.mp4')) for i in ids)

    weights = str(tmp_path / 'videomae')
    _run('tools/pretrain_video_encoder.py', '--video-dir', videos, '--out', weights,
         '--ids-file', osp.join(mini_cmu_dataset, 'train.txt'), '--eval-ids-file',
         osp.join(mini_cmu_dataset, 'val.txt'), *TINY_VIDEOMAE, '--iters', '3',
         '--batch-size', '2', '--log-interval', '3', '--no-progress')

    feats = str(tmp_path / 'feats')
    proc = _run('tools/extract_video_features.py', 'VideoMAEVideoEncoder', '--pretrained',
                weights, '--video-dir', videos, '--out-dir', feats, '--no-progress')
    assert f'extracted {len(ids)} clip(s)' in proc.stdout

    work = str(tmp_path / 'work')
    proc = _run('tools/train.py', CONFIG, '--work-dir', work, '--cfg-options',
                *_options(mini_cmu_dataset, feats, 2))
    assert 'loss_align' in proc.stdout + proc.stderr  # DASH ran on the extracted features
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)

    # the same prompt and seed with and without a video condition (a clip the cache never saw
    # as a file name: it is encoded by the encoder rebuilt from the cache's meta.json)
    clip = osp.join(videos, f'{ids[0]}.mp4')
    prompts = tmp_path / 'prompts.txt'
    prompts.write_text(f'a person walks forward#30\na person walks forward#30#{clip}\n'
                       f'someone moves##{clip}\n')
    out_dir = str(tmp_path / 'gen')
    _run('tools/generate.py', CONFIG, ckpt, '--text-file', str(prompts), '--steps', '2',
         '--out-dir', out_dir, '--no-video', '--cfg-options',
         *_options(mini_cmu_dataset, feats, 2))
    with open(osp.join(out_dir, 'results.json')) as f:
        results = json.load(f)
    assert [r['video_condition'] for r in results] == [None, clip, clip]
    text_only, with_video, video_length = (np.load(r['joints']) for r in results)
    assert text_only.shape == with_video.shape == (30, 22, 3)
    assert np.isfinite(with_video).all() and not np.allclose(text_only, with_video)
    # no length: the video's duration (rendered at the motion's 20 fps)
    assert len(video_length) == np.load(osp.join(mini_cmu_dataset, 'new_joints',
                                                 f'{ids[0]}.npy')).shape[0]
    # a text-only model refuses a video; a missing video file is named
    bad = subprocess.run(
        [sys.executable, 'tools/generate.py', CONFIG, ckpt, '--text', 'a person walks',
         '--video', str(tmp_path / 'nope.mp4'), '--cfg-options',
         *_options(mini_cmu_dataset, feats, 2)], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode != 0 and 'video not found' in bad.stderr

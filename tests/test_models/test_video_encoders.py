"""Video encoders: VideoMAE slots, sliding windows, time alignment, freezing, feature caches."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from torch import nn

from mdkit.models.video_encoders import (
    BaseVideoEncoder,
    PrecomputedVideoEncoder,
    VideoFeatureCacheError,
    VideoMAEVideoEncoder,
    align_video_slots,
    feature_file,
    write_feature_meta,
)
from mdkit.models.video_encoders.feature_cache import FORMAT_VERSION
from mdkit.registry import MODELS
from mdkit.utils import build_from_cfg_checked, register_all_modules

#: 4 frames per window, tubelet 2 -> 2 slots per window; 32x32 frames, 4x4 patches.
TINY = dict(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32,
            num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def make_video(num_frames, size=32, seed=0):
    """A random uint8 clip (F, H, W, 3)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (num_frames, size, size, 3), dtype=torch.uint8, generator=g)


@pytest.fixture(scope='module')
def encoder():
    return VideoMAEVideoEncoder(config=TINY)


def test_registry_build_and_out_dim():
    register_all_modules()
    enc = build_from_cfg_checked(dict(type='VideoMAEVideoEncoder', config=TINY), MODELS,
                                 expected_type=BaseVideoEncoder)
    assert enc.out_dim == 32 and enc.tubelet_size == 2 and enc.num_frames == 4
    assert enc.image_size == (32, 32) and enc.window_stride == 4


def test_shapes_and_masks_for_different_lengths(encoder):
    videos = [make_video(9, seed=1), make_video(4, seed=2), make_video(1, seed=3)]
    out = encoder(videos)
    assert set(out) == {'features', 'mask', 'time_positions', 'pooled'}
    assert out['features'].shape == (3, 5, 32) and out['features'].dtype == torch.float32
    assert out['mask'].dtype == torch.bool
    assert out['mask'].sum(1).tolist() == [5, 2, 1]  # ceil(F / tubelet)
    assert torch.all(out['features'][~out['mask']] == 0)
    assert torch.isfinite(out['features']).all()
    # slot centres in motion frames (video and motion both at 20 fps): 9 frames -> the last
    # slot holds frame 8 only
    torch.testing.assert_close(out['time_positions'][0],
                               torch.tensor([0.5, 2.5, 4.5, 6.5, 8.0]))
    torch.testing.assert_close(out['time_positions'][2, :1], torch.tensor([0.0]))
    pooled = out['features'][1, :2].mean(0)
    torch.testing.assert_close(out['pooled'][1], pooled)
    # each video's features do not depend on the other videos of the batch
    alone = encoder([videos[1]])
    torch.testing.assert_close(alone['features'][0], out['features'][1, :2], atol=1e-5,
                               rtol=1e-5)


def test_padded_tensor_batch_equals_list(encoder):
    a, b = make_video(8, seed=4), make_video(5, seed=5)
    batch = torch.zeros(2, 8, 32, 32, 3, dtype=torch.uint8)
    batch[0], batch[1, :5] = a, b
    out = encoder(batch, video_lengths=[8, 5])
    ref = encoder([a, b])
    assert out['mask'].sum(1).tolist() == [4, 3]
    torch.testing.assert_close(out['features'], ref['features'])
    # numpy input and float input in [0, 1] give the same result as uint8
    as_float = encoder([a.float() / 255, b.numpy()])
    torch.testing.assert_close(as_float['features'], ref['features'], atol=1e-5, rtol=1e-5)


def test_sliding_windows_match_single_window(encoder):
    long = make_video(13, seed=6)
    first = encoder([long[:4]])['features'][0]  # one window = 2 slots
    out = encoder([long])
    assert out['mask'].sum().item() == 7  # ceil(13 / 2)
    torch.testing.assert_close(out['features'][0, :2], first)
    assert encoder.window_starts(13) == [0, 4, 8, 10]  # last window ends at the padded end
    # overlapping windows (stride = one tubelet): the first slot is seen by window 0 only
    overlap = VideoMAEVideoEncoder(config=TINY, window_stride=2)
    assert overlap.window_starts(13) == [0, 2, 4, 6, 8, 10]
    feats = overlap([long])['features'][0]
    torch.testing.assert_close(feats[0], first[0])
    assert not torch.allclose(feats[1], first[1])  # averaged with the next window
    # slots equal the mean of the windows covering them
    w0, w1 = overlap.slot_features(torch.stack([
        overlap.preprocess(long[0:4]), overlap.preprocess(long[2:6])]))
    torch.testing.assert_close(feats[1], (w0[1] + w1[0]) / 2, atol=1e-5, rtol=1e-5)


def test_resampling_and_motion_time(encoder):
    video = make_video(8, seed=7)
    native = encoder([video])
    # resampling to the native count over the same duration is the identity
    same = encoder([video], num_slots=4)
    torch.testing.assert_close(same['features'], native['features'], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(same['time_positions'], native['time_positions'])
    # a motion of 16 frames spanned by the 8-frame video: positions in motion frames double
    stretched = encoder([video], motion_lengths=[16])
    torch.testing.assert_close(stretched['time_positions'][0], torch.tensor([1.5, 5.5, 9.5,
                                                                             13.5]))
    # one slot per motion frame, per-sample counts padded and masked
    out = encoder([video, make_video(3, seed=8)], motion_lengths=[16, 6], num_slots=[16, 6])
    assert out['features'].shape == (2, 16, 32)
    assert out['mask'].sum(1).tolist() == [16, 6]
    torch.testing.assert_close(out['time_positions'][0], torch.arange(16.0))
    # linear interpolation in time between native slots (centres at video times 1, 3, 5, 7);
    # motion frame 5 is video time 2.75, motion frame 0 (video time 0.25) takes slot 0
    nat = native['features'][0]
    torch.testing.assert_close(out['features'][0, 5], nat[0] * 0.125 + nat[1] * 0.875,
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out['features'][0, 0], nat[0])
    # motion_fps / video_fps without motion lengths
    slow = VideoMAEVideoEncoder(config=TINY, video_fps=10.0, motion_fps=20.0)
    torch.testing.assert_close(slow([video])['time_positions'][0],
                               torch.tensor([1.5, 5.5, 9.5, 13.5]))


def test_align_checks():
    with pytest.raises(ValueError, match='expected 2'):
        align_video_slots([torch.zeros(3, 4)], [4], 2, [1.0])
    with pytest.raises(ValueError, match='num_slots has 2 entries'):
        align_video_slots([torch.zeros(2, 4)], [4], 2, [1.0], num_slots=[3, 4])


def test_frozen_no_grad_not_in_state_dict(encoder):
    assert not any(p.requires_grad for p in encoder.parameters())
    parent = nn.ModuleDict(dict(video=encoder, head=nn.Linear(2, 2)))
    parent.train()
    assert parent['head'].training and not encoder.training
    assert not any(m.training for m in encoder.modules())
    assert set(parent.state_dict()) == {'head.weight', 'head.bias'}
    full = encoder.full_state_dict()
    assert len(full) > 10
    assert not parent.load_state_dict(parent.state_dict(), strict=True).missing_keys
    for k, v in encoder.full_state_dict().items():
        assert torch.equal(v, full[k])
    out = encoder([make_video(4)])
    assert all(not v.requires_grad for v in out.values())


def test_trainable_mode_has_gradients():
    enc = VideoMAEVideoEncoder(config=TINY, frozen=False)
    assert all(p.requires_grad for p in enc.parameters())
    assert len(enc.state_dict()) == len(enc.full_state_dict())
    out = enc([make_video(6)], num_slots=5)
    out['features'].sum().backward()
    assert enc.model.embeddings.patch_embeddings.projection.weight.grad is not None


def test_seeded_init_and_config_hash():
    a, b = VideoMAEVideoEncoder(config=TINY), VideoMAEVideoEncoder(config=TINY)
    assert a.config_hash() == b.config_hash() and len(a.config_hash()) == 64
    c = VideoMAEVideoEncoder(config=TINY, init_seed=1)
    assert c.config_hash() != a.config_hash()
    d = VideoMAEVideoEncoder(config=TINY, window_stride=2)
    assert d.weights_hash() == a.weights_hash() and d.config_hash() != a.config_hash()


def test_save_pretrained_round_trip(encoder, tmp_path):
    encoder.model.save_pretrained(str(tmp_path))
    loaded = VideoMAEVideoEncoder(pretrained=str(tmp_path))
    videos = [make_video(11, seed=9), make_video(5, size=48, seed=10)]
    ref, out = encoder(videos), loaded(videos)
    for key in ref:
        assert torch.equal(ref[key], out[key]), key
    assert loaded.weights_hash() == encoder.weights_hash()
    assert loaded.config_hash() == encoder.config_hash()


def test_resize_modes(encoder):
    wide = make_video(4, size=32, seed=11).repeat(1, 1, 2, 1)  # 32 x 64
    crop = encoder([wide])['features']
    stretch = VideoMAEVideoEncoder(config=TINY, resize_mode='stretch')([wide])['features']
    assert crop.shape == stretch.shape == (1, 2, 32)
    assert not torch.allclose(crop, stretch)


def test_input_and_config_errors(encoder, tmp_path):
    with pytest.raises(ValueError, match='float videos must be in \\[0, 1\\]'):
        encoder([make_video(4).float()])
    with pytest.raises(ValueError, match='must be \\(F, H, W, 3\\)'):
        encoder([torch.zeros(4, 32, 32, dtype=torch.uint8)])
    with pytest.raises(ValueError, match='videos is empty'):
        encoder([])
    with pytest.raises(ValueError, match="Did you mean 'hidden_size'"):
        VideoMAEVideoEncoder(config=dict(TINY, hiden_size=8))
    with pytest.raises(ValueError, match='exactly one of'):
        VideoMAEVideoEncoder()
    with pytest.raises(FileNotFoundError, match='cannot be downloaded'):
        VideoMAEVideoEncoder(pretrained=str(tmp_path / 'nope'))
    with pytest.raises(ValueError, match='window_stride'):
        VideoMAEVideoEncoder(config=TINY, window_stride=3)


# -- precomputed features ------------------------------------------------------------------
def write_cache(folder, encoder, videos: dict, video_fps=20.0):
    """A feature folder in the layout tools/extract_video_features.py writes."""
    samples = {}
    for sid, video in videos.items():
        feats, frames = encoder.encode_native([video])
        np.save(feature_file(str(folder), sid), feats[0].numpy())
        samples[sid] = dict(num_frames=frames[0], num_slots=int(feats[0].shape[0]),
                            video_sha256='0' * 64)
    write_feature_meta(str(folder), dict(
        format_version=FORMAT_VERSION, encoder=type(encoder).__name__,
        encoder_config=encoder.encoder_config(), weights_hash=encoder.weights_hash(),
        config_hash=encoder.config_hash(), pretrained=None, feature_dim=encoder.out_dim,
        tubelet_size=encoder.tubelet_size, video_fps=video_fps, render=dict(video_fps=20.0),
        samples=samples))


@pytest.fixture
def cache(encoder, tmp_path):
    videos = {'a': make_video(9, seed=12), 'b': make_video(4, seed=13),
              'c': make_video(6, seed=14)}
    write_cache(tmp_path, encoder, videos)
    return tmp_path, videos


def test_precomputed_round_trip(encoder, cache):
    folder, videos = cache
    register_all_modules()
    pre = build_from_cfg_checked(dict(type='PrecomputedVideoEncoder', feature_dir=str(folder),
                                      expected_encoder='VideoMAEVideoEncoder',
                                      expected_hash=encoder.config_hash()[:12]), MODELS,
                                 expected_type=BaseVideoEncoder)
    assert pre.out_dim == 32 and set(pre.sample_ids) == {'a', 'b', 'c'}
    assert pre.state_dict() == {} and not list(pre.parameters())
    for kwargs in (dict(), dict(motion_lengths=[18, 8, 12], num_slots=[18, 8, 12]),
                   dict(num_slots=3)):
        direct = encoder([videos['a'], videos['b'], videos['c']], **kwargs)
        cached = pre(['a', 'b', 'c'], **kwargs)
        for key in direct:
            torch.testing.assert_close(cached[key], direct[key], atol=1e-6, rtol=1e-6)
    assert pre.to(torch.float64)(['b'])['features'].dtype == torch.float64
    # samples read once stay in memory (outputs are copies, so editing one changes nothing);
    # without the memory cache every call reads the file again
    out = pre.to(torch.float32)(['a'])
    out['features'].add_(1.0)
    torch.testing.assert_close(pre(['a'])['features'], encoder([videos['a']])['features'],
                               atol=1e-6, rtol=1e-6)
    assert len(pre._memory) == 3
    with pytest.raises(ValueError, match='read-only'):
        pre.load('a')[0][0, 0] = 1.0  # the cached array itself cannot be edited either
    no_memory = PrecomputedVideoEncoder(str(folder), memory_cache=0)
    no_memory(['a'])
    assert not no_memory._memory


def test_precomputed_stale_hash_and_encoder(encoder, cache):
    folder, _ = cache
    other = VideoMAEVideoEncoder(config=TINY, init_seed=5)
    with pytest.raises(ValueError, match='stale.*extract_video_features.py') as info:
        PrecomputedVideoEncoder(str(folder), expected_hash=other.config_hash())
    assert isinstance(info.value, VideoFeatureCacheError)
    assert 'meta.json' in str(info.value)
    with pytest.raises(ValueError, match="written by encoder 'VideoMAEVideoEncoder'"):
        PrecomputedVideoEncoder(str(folder), expected_encoder='XCLIPVideoEncoder')
    with pytest.raises(ValueError, match='does not exist.*extract_video_features.py'):
        PrecomputedVideoEncoder(str(folder / 'sub'))
    (folder / 'meta.json').unlink()
    with pytest.raises(ValueError, match='has no meta.json.*extract_video_features.py'):
        PrecomputedVideoEncoder(str(folder))


def test_precomputed_bad_files(cache):
    folder, _ = cache
    pre = PrecomputedVideoEncoder(str(folder))
    with pytest.raises(ValueError, match=r'zz\.npy is missing.*extract_video_features.py'):
        pre(['a', 'zz'])
    np.save(folder / 'b.npy', np.full((2, 32), np.nan, np.float32))
    with pytest.raises(ValueError, match=r'b\.npy holds NaN'):
        pre(['b'])
    np.save(folder / 'c.npy', np.zeros((3, 16), np.float32))
    with pytest.raises(ValueError, match=r'c\.npy has shape \(3, 16\), expected \(3, 32\)'):
        pre(['c'])
    np.save(folder / 'd.npy', np.zeros((3, 32), np.float32))
    with pytest.raises(ValueError, match=r'd\.npy is not listed'):
        pre(['d'])
    meta = json.loads((folder / 'meta.json').read_text())
    meta['format_version'] = 99
    (folder / 'meta.json').write_text(json.dumps(meta))
    with pytest.raises(ValueError, match='format_version 99'):
        PrecomputedVideoEncoder(str(folder))
    assert osp.isfile(folder / 'a.npy')

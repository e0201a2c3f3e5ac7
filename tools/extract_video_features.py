"""Encode every clip of a folder with a video encoder and cache the features for training.

Usage:
    python tools/extract_video_features.py configs/_base_/video_encoders/videomae_pretrained.py \\
        --video-dir data/cmu_humanml3d/videos --out-dir data/cmu_humanml3d/video_feats \\
        [--pretrained work_dirs/videomae_cmu] [--ids-file data/cmu_humanml3d/train.txt]
        [--video-fps 20] [--batch-size 4] [--device cpu] [--overwrite]
    python tools/extract_video_features.py VideoMAEVideoEncoder --pretrained DIR ...

The first argument is a config file defining ``video_encoder`` (a live encoder
such as ``VideoMAEVideoEncoder``) or a registered encoder type name (then
``--pretrained`` is required). Each ``<id>.mp4`` of ``--video-dir`` (or each id
of ``--ids-file``) is read at ``--video-fps`` and encoded into native slots;
``OUT/<id>.npy`` (float32, (S, D)) and ``OUT/meta.json`` are written (layout:
:mod:`mdkit.models.video_encoders.feature_cache`). Files that are up to date
(same encoder config hash, same video file content) are skipped, so an
interrupted run resumes. A folder written by another encoder or other weights
(a different config hash) is refused unless ``--overwrite`` is given, which
deletes its feature files first. ``PrecomputedVideoEncoder(feature_dir=OUT)``
reads the result.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import os.path as osp
import sys
import tempfile

import numpy as np

#: Files in the video folder whose settings are recorded as the render settings.
RENDER_SETTINGS_FILES = ('render_config.json', 'render_settings.json', 'render_meta.json',
                         'render_info.json', 'meta.json')


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(
        description='Extract per-sample video features into a cache folder.')
    p.add_argument('encoder', help='config file defining `video_encoder`, or an encoder type '
                                   "name such as 'VideoMAEVideoEncoder'")
    p.add_argument('--video-dir', required=True, help='folder of <id>.<ext> clips')
    p.add_argument('--out-dir', required=True, help='feature folder to write')
    p.add_argument('--ids-file', help='text file with one sample id per line (default: every '
                                      'clip of --video-dir)')
    p.add_argument('--pretrained', help='local pretrained folder (overrides the config)')
    p.add_argument('--ext', default='mp4', help='clip file extension. Default: mp4')
    p.add_argument('--video-fps', type=float, default=20.0,
                   help='clips are resampled to this frame rate when read. Default: 20')
    p.add_argument('--render-settings', help='JSON file with the render settings to record '
                                             '(default: a render_*.json in --video-dir)')
    p.add_argument('--batch-size', type=int, default=4, help='clips per forward. Default: 4')
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:N]'. Default: cpu")
    p.add_argument('--overwrite', action='store_true',
                   help='replace a cache written by another encoder / other weights')
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    args = p.parse_args(argv)
    if args.batch_size < 1:
        p.error('--batch-size must be >= 1')
    if not args.video_fps > 0:
        p.error('--video-fps must be > 0')
    return args


def build_encoder(spec: str, pretrained: str | None, device: str):
    """The live video encoder named by a config file or a type name."""
    from mdkit.models.video_encoders import BaseVideoEncoder
    from mdkit.registry import MODELS
    from mdkit.utils import build_from_cfg_checked, register_all_modules

    register_all_modules()
    if spec.endswith('.py') or osp.isfile(spec):
        from mdkit.utils import load_config
        try:
            cfg = load_config(spec)
        except FileNotFoundError as e:
            sys.exit(f'error: {e}')
        if 'video_encoder' not in cfg:
            sys.exit(f'error: {spec} defines no `video_encoder`')
        enc_cfg = cfg.video_encoder.to_dict()
    else:
        enc_cfg = dict(type=spec)
    if pretrained is not None:
        enc_cfg['pretrained'] = pretrained
        enc_cfg.pop('config', None)
    if enc_cfg.get('type') == 'PrecomputedVideoEncoder':
        sys.exit('error: PrecomputedVideoEncoder reads cached features; pass the config of the '
                 'live encoder that computes them (e.g. configs/_base_/video_encoders/'
                 'videomae_pretrained.py)')
    if 'pretrained' not in enc_cfg and 'config' not in enc_cfg:
        sys.exit(f'error: {enc_cfg["type"]} needs weights: pass --pretrained DIR')
    if enc_cfg.get('pretrained') and not osp.isdir(enc_cfg['pretrained']):
        sys.exit(f'error: pretrained folder {enc_cfg["pretrained"]!r} does not exist; pretrain '
                 'one with tools/pretrain_video_encoder.py or pass --pretrained DIR')
    encoder = build_from_cfg_checked(enc_cfg, MODELS, expected_type=BaseVideoEncoder)
    if not hasattr(encoder, 'encode_native') or not hasattr(encoder, 'encoder_config'):
        sys.exit(f'error: {type(encoder).__name__} cannot extract features (it has no '
                 'encode_native/encoder_config)')
    return encoder.to(device)


def read_ids(args) -> list[str]:
    """Sample ids to extract: the ids file, else every clip in the video folder."""
    ext = args.ext.lstrip('.')
    if not osp.isdir(args.video_dir):
        sys.exit(f'error: --video-dir {args.video_dir!r} does not exist')
    if args.ids_file:
        with open(args.ids_file, encoding='utf-8') as f:
            ids = [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]
    else:
        ids = sorted(n[:-len(ext) - 1] for n in os.listdir(args.video_dir)
                     if n.endswith('.' + ext))
    if not ids:
        sys.exit(f'error: no ids to extract (no *.{ext} clips in {args.video_dir!r} or an empty '
                 'ids file)')
    missing = [i for i in ids if not osp.isfile(osp.join(args.video_dir, f'{i}.{ext}'))]
    if missing:
        shown = ', '.join(missing[:5]) + (f' and {len(missing) - 5} more' if len(missing) > 5
                                          else '')
        sys.exit(f'error: {len(missing)} clip(s) missing in {args.video_dir!r}: {shown}. Render '
                 'them with tools/dataset_converters/render_videos.py')
    return list(dict.fromkeys(ids))


def file_sha256(path: str) -> str:
    """sha256 of a file's content."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def render_settings(args) -> dict:
    """Summary of the render settings: the JSON's scalar and short entries, its name and hash."""
    path = args.render_settings
    if path is None:
        path = next((osp.join(args.video_dir, n) for n in RENDER_SETTINGS_FILES
                     if osp.isfile(osp.join(args.video_dir, n))), None)
    summary = dict(video_fps=args.video_fps)
    if path is None:
        return summary
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        sys.exit(f'error: cannot read render settings {path}: {exc}')
    summary.update(file=osp.abspath(path), sha256=file_sha256(path))
    if isinstance(data, dict):  # keep it small: per-clip tables stay in the render folder
        summary['settings'] = {
            k: v for k, v in data.items()
            if isinstance(v, str | int | float | bool) or v is None
            or (isinstance(v, list | dict) and len(v) <= 8 and len(json.dumps(v)) <= 400)}
    return summary


def save_npy(path: str, array: np.ndarray) -> None:
    """Write an ``.npy`` atomically."""
    fd, tmp = tempfile.mkstemp(suffix='.npy.tmp', dir=osp.dirname(path))
    try:
        with os.fdopen(fd, 'wb') as f:
            np.save(f, array)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def main(argv=None) -> dict:
    """Run the extraction; returns a summary dict."""
    args = parse_args(argv)
    ids = read_ids(args)
    encoder = build_encoder(args.encoder, args.pretrained, args.device)

    import torch
    from tqdm import tqdm

    from mdkit.datasets.video_io import read_video
    from mdkit.models.video_encoders import (
        META_FILE,
        VideoFeatureCacheError,
        feature_file,
        read_feature_meta,
        write_feature_meta,
    )
    from mdkit.models.video_encoders.feature_cache import FORMAT_VERSION

    out_dir = osp.abspath(args.out_dir)
    enc_config = encoder.encoder_config()
    weights_hash = encoder.weights_hash()
    config_hash = encoder.config_hash()
    meta_path = osp.join(out_dir, META_FILE)
    old = None
    if osp.isfile(meta_path):
        try:
            old = read_feature_meta(out_dir)
        except VideoFeatureCacheError as exc:
            if not args.overwrite:
                sys.exit(f'error: {exc}\nPass --overwrite to replace this folder.')
        if old is not None and old['config_hash'] != config_hash:
            if not args.overwrite:
                sys.exit(
                    f'error: {out_dir} holds features of another encoder or other weights '
                    f'(config hash {old["config_hash"][:16]}..., encoder {old["encoder"]}, '
                    f'pretrained {old.get("pretrained")!r}); this encoder\'s hash is '
                    f'{config_hash[:16]}.... Pass --overwrite to delete its '
                    f'{len(old["samples"])} feature files and extract again, or choose another '
                    '--out-dir.')
            old = None
        if old is None:  # --overwrite: remove what the previous cache listed
            removed = 0
            for name in os.listdir(out_dir):
                if name.endswith('.npy'):
                    os.remove(osp.join(out_dir, name))
                    removed += 1
            os.remove(meta_path)
            print(f'--overwrite: removed {removed} stale feature files from {out_dir}')
    os.makedirs(out_dir, exist_ok=True)
    samples = dict(old['samples']) if old is not None else {}
    meta = dict(format_version=FORMAT_VERSION, encoder=type(encoder).__name__,
                encoder_config=enc_config, weights_hash=weights_hash, config_hash=config_hash,
                pretrained=getattr(encoder, 'pretrained', None), feature_dim=encoder.out_dim,
                tubelet_size=encoder.tubelet_size, video_fps=args.video_fps,
                render=render_settings(args), samples=samples)
    if old is not None and float(old['video_fps']) != args.video_fps:
        sys.exit(f'error: {out_dir} was extracted at {old["video_fps"]} fps, not '
                 f'--video-fps {args.video_fps}; use the same rate or --overwrite')

    ext = args.ext.lstrip('.')
    todo, skipped = [], 0
    for sid in ids:
        video = osp.join(args.video_dir, f'{sid}.{ext}')
        digest = file_sha256(video)
        info = samples.get(sid)
        if (info is not None and info.get('video_sha256') == digest
                and osp.isfile(feature_file(out_dir, sid))):
            skipped += 1
            continue
        todo.append((sid, video, digest))

    written = 0
    bar = tqdm(total=len(todo), desc='extracting', unit='clip', disable=args.no_progress)
    try:
        for b in range(0, len(todo), args.batch_size):
            chunk = todo[b:b + args.batch_size]
            videos = [read_video(path, fps=args.video_fps) for _, path, _ in chunk]
            with torch.no_grad():
                feats, frames = encoder.encode_native(videos)
            for (sid, _, digest), f, count in zip(chunk, feats, frames):
                array = f.detach().float().cpu().numpy()
                if not np.isfinite(array).all():
                    sys.exit(f'error: the encoder produced NaN/inf features for {sid}')
                save_npy(feature_file(out_dir, sid), array)
                samples[sid] = dict(num_frames=int(count), num_slots=int(array.shape[0]),
                                    video_sha256=digest)
                written += 1
            bar.update(len(chunk))
            if (b // args.batch_size) % 50 == 49:
                write_feature_meta(out_dir, meta)  # keep progress if interrupted
    finally:
        bar.close()
        write_feature_meta(out_dir, meta)
    summary = dict(out_dir=out_dir, written=written, skipped=skipped, total=len(samples),
                   config_hash=config_hash)
    print(f'extracted {written} clip(s), {skipped} up to date; {len(samples)} in {out_dir} '
          f'(config hash {config_hash[:16]}...)')
    return summary


if __name__ == '__main__':
    main()

"""On-disk layout of precomputed video features (written by ``tools/extract_video_features.py``).

A feature folder holds one ``<sample_id>.npy`` per video, float32 of shape
``(S, D)`` (the encoder's native slots, ``S = ceil(F / tubelet_size)``), and a
``meta.json``::

    {
      "format_version": 1,
      "encoder": "VideoMAEVideoEncoder",          # class name
      "encoder_config": {...},                    # encoder.encoder_config()
      "weights_hash": "<sha256 of the weights>",
      "config_hash": "<sha256(canonical JSON of encoder_config + weights_hash)>",
      "pretrained": "work_dirs/videomae_cmu",     # or null for a random init
      "feature_dim": 192, "tubelet_size": 2, "video_fps": 20.0,
      "render": {...},                            # render settings of the videos
      "samples": {"<id>": {"num_frames": F, "num_slots": S, "video_sha256": "..."}}
    }
"""
from __future__ import annotations

import json
import os
import os.path as osp
import tempfile

__all__ = ['META_FILE', 'FORMAT_VERSION', 'EXTRACT_HINT', 'VideoFeatureCacheError',
           'feature_file', 'read_feature_meta', 'write_feature_meta']

#: Name of the metadata file of a feature folder.
META_FILE = 'meta.json'
#: Version of the folder layout described above.
FORMAT_VERSION = 1
#: Appended to every cache error.
EXTRACT_HINT = ('Re-run `python tools/extract_video_features.py CONFIG --video-dir VIDEOS '
                '--out-dir FEATURES` (add `--overwrite` to replace a cache made by another '
                'encoder).')


class VideoFeatureCacheError(ValueError):
    """A precomputed feature folder that is missing, stale or corrupt."""


def feature_file(folder: str, sample_id: str) -> str:
    """str: Path of the ``.npy`` of ``sample_id`` in ``folder``."""
    sample_id = str(sample_id)
    if not sample_id or '/' in sample_id or '\\' in sample_id or sample_id in ('.', '..'):
        raise VideoFeatureCacheError(f'invalid sample id {sample_id!r} (it names a file)')
    return osp.join(folder, sample_id + '.npy')


def read_feature_meta(folder: str) -> dict:
    """Read and sanity-check ``meta.json`` of a feature folder.

    Args:
        folder (str): The feature folder.

    Returns:
        dict: The metadata.

    Raises:
        VideoFeatureCacheError: The folder or its ``meta.json`` is missing,
            unreadable, of another format version or lacks required keys.
    """
    path = osp.join(folder, META_FILE)
    if not osp.isfile(path):
        what = 'does not exist' if not osp.isdir(folder) else f'has no {META_FILE}'
        raise VideoFeatureCacheError(f'video feature folder {folder!r} {what}. {EXTRACT_HINT}')
    try:
        with open(path, encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, ValueError) as exc:
        raise VideoFeatureCacheError(f'cannot read {path}: {exc}. {EXTRACT_HINT}') from exc
    if not isinstance(meta, dict) or meta.get('format_version') != FORMAT_VERSION:
        got = meta.get('format_version') if isinstance(meta, dict) else None
        raise VideoFeatureCacheError(f'{path} has format_version {got!r}, expected '
                                     f'{FORMAT_VERSION}. {EXTRACT_HINT}')
    missing = [k for k in ('encoder', 'config_hash', 'feature_dim', 'tubelet_size', 'video_fps',
                           'samples') if k not in meta]
    if missing:
        raise VideoFeatureCacheError(f'{path} lacks {", ".join(missing)}. {EXTRACT_HINT}')
    return meta


def write_feature_meta(folder: str, meta: dict) -> str:
    """Write ``meta.json`` atomically (a reader never sees a half-written file).

    Args:
        folder (str): The feature folder (created if needed).
        meta (dict): The metadata.

    Returns:
        str: The path written.
    """
    os.makedirs(folder, exist_ok=True)
    path = osp.join(folder, META_FILE)
    fd, tmp = tempfile.mkstemp(suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(meta, f, indent=1, sort_keys=True)
            f.write('\n')
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return path

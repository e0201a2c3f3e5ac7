"""Read and write short RGB video clips (mp4/avi/webm/mov/mkv, gif, folders of frames).

:func:`read_video` returns a (F, H, W, 3) uint8 array, optionally resampled in
time (to a frame rate and/or to exactly ``num_frames`` uniformly spaced frames)
and resized; :func:`write_video` writes H.264 mp4 (yuv420p) or looping gif
files. Videos are decoded by the ffmpeg binary that ``imageio-ffmpeg`` ships
(no system ffmpeg needed), run as a subprocess; gifs and frame folders are read
with Pillow. Both libraries are imported only when a file is read or written.

Example:
    >>> from mdkit.datasets import read_video, write_video
    >>> clip = read_video('data/cmu_humanml3d/videos/01_01_00.mp4', num_frames=16, size=224)
    >>> clip.shape
    (16, 224, 224, 3)
    >>> write_video('work_dirs/clip.gif', clip, fps=8)
"""
from __future__ import annotations

import math
import os
import os.path as osp
import re

import numpy as np

__all__ = ['read_video', 'write_video', 'mp4_is_complete', 'VIDEO_FILE_EXTENSIONS',
           'FRAME_FILE_EXTENSIONS']

#: File extensions decoded with ffmpeg.
FFMPEG_EXTENSIONS = ('.mp4', '.avi', '.webm', '.mov', '.mkv', '.m4v')
#: Every video file extension :func:`read_video` reads.
VIDEO_FILE_EXTENSIONS = FFMPEG_EXTENSIONS + ('.gif', )
#: Frame files :func:`read_video` reads from a folder (sorted by natural order).
FRAME_FILE_EXTENSIONS = ('.png', '.jpg', '.jpeg')
#: Extensions :func:`write_video` writes.
WRITE_EXTENSIONS = ('.mp4', '.gif')

_EPS = 1e-6


# ----------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------
def _check_size(size) -> tuple | None:
    if size is None:
        return None
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        try:
            h, w = (int(v) for v in size)
        except (TypeError, ValueError):
            raise ValueError(f'size must be None, an int or (H, W), got {size!r}') from None
    if h < 1 or w < 1:
        raise ValueError(f'size must be positive, got {size!r}')
    return h, w


def _check_positive(value, name: str, integer: bool = False):
    if value is None:
        return None
    try:
        v = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a positive number, got {value!r}') from None
    if (integer and v < 1) or (not integer and (not math.isfinite(v) or v <= 0)):
        raise ValueError(f'{name} must be {"an int >= 1" if integer else "positive"}, '
                         f'got {value!r}')
    return v


def _natural_key(name: str) -> list:
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r'(\d+)', name)]


# ----------------------------------------------------------------------------
# time resampling
# ----------------------------------------------------------------------------
def _fps_indices(num_src: int, src_fps: float, fps: float) -> np.ndarray:
    """Source frame of each output frame when a constant-rate clip is resampled to ``fps``.

    Output frames sit at ``j / fps`` seconds for every such time up to the
    last source frame (``(num_src - 1) / src_fps``); each shows the latest
    source frame that started at or before it (frames repeat when upsampling).
    """
    count = int(math.floor((num_src - 1) * fps / src_fps + _EPS)) + 1
    idx = np.floor(np.arange(count) * (src_fps / fps) + _EPS).astype(np.int64)
    return np.minimum(idx, num_src - 1)


def _uniform_indices(num_src: int, num_frames: int) -> np.ndarray:
    """``num_frames`` indices spread uniformly from the first to the last frame."""
    return np.round(np.linspace(0, num_src - 1, num_frames)).astype(np.int64)


def _select(frames, src_fps: float | None, fps: float | None, num_frames: int | None,
            path: str) -> list:
    if fps is not None:
        if src_fps is None or not src_fps > 0:
            raise ValueError(f'Cannot resample {path} to {fps} fps: its frame rate is unknown; '
                             'pass num_frames instead, or folder_fps for a frame folder.')
        frames = [frames[i] for i in _fps_indices(len(frames), src_fps, fps)]
    if num_frames is not None:
        frames = [frames[i] for i in _uniform_indices(len(frames), num_frames)]
    return frames


# ----------------------------------------------------------------------------
# readers
# ----------------------------------------------------------------------------
def _ffmpeg_exe() -> str:
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg_error(path: str, stderr: str) -> ValueError:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    detail = next((ln for ln in reversed(lines) if 'rror' in ln or 'nvalid' in ln
                   or 'not found' in ln or 'matches no streams' in ln),
                  lines[-1] if lines else 'ffmpeg failed')
    return ValueError(
        f'Cannot decode video file {path!r}: {detail}. The file is corrupt or truncated (for '
        'example an interrupted write); delete it and create it again (for rendered clips: '
        'tools/dataset_converters/render_videos.py re-renders missing clips).')


_SIZE_RE = re.compile(r'[ ,](\d{1,5})x(\d{1,5})[ ,\[]')
_FPS_RE = re.compile(r'(\d+(?:\.\d+)?)(k?) (fps|tbr)')


def _parse_ffmpeg_log(log: str) -> tuple:
    """(source fps or None, (W, H) of the decoded frames or None) from ffmpeg's stream info."""
    head, _, tail = log.partition('Output #0')
    src_fps = None
    video_in = [ln for ln in head.splitlines() if 'Stream #' in ln and 'Video:' in ln]
    if video_in:
        found = {kind: float(v) * (1000 if k else 1) for v, k, kind in
                 _FPS_RE.findall(video_in[0])}
        src_fps = found.get('fps') or found.get('tbr')
    video_out = [ln for ln in tail.splitlines() if 'Stream #' in ln and 'Video:' in ln]
    match = _SIZE_RE.search(video_out[0] + ' ') if video_out else None
    size = (int(match.group(1)), int(match.group(2))) if match else None
    return src_fps, size


def _read_ffmpeg(path: str, fps, num_frames, size) -> list:
    import subprocess

    cmd = [_ffmpeg_exe(), '-hide_banner', '-nostdin', '-i', path, '-map', '0:v:0', '-an']
    if size is not None:
        cmd += ['-vf', f'scale={size[1]}:{size[0]}:flags=area']
    cmd += ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']
    proc = subprocess.run(cmd, capture_output=True, check=False)
    log = proc.stderr.decode('utf-8', 'replace')
    if proc.returncode != 0:
        raise _ffmpeg_error(path, log)
    src_fps, wh = _parse_ffmpeg_log(log)
    if size is not None:
        wh = (size[1], size[0])
    data = proc.stdout
    if wh is None or not data:
        raise ValueError(f'Video file {path!r} holds no decodable frames; it is empty or '
                         'corrupt: delete it and create it again.')
    frame_bytes = wh[0] * wh[1] * 3
    num = len(data) // frame_bytes
    arr = np.frombuffer(data, dtype=np.uint8, count=num * frame_bytes).reshape(
        num, wh[1], wh[0], 3)
    return _select(list(arr), src_fps, fps, num_frames, path)


def _pil_resize(img, size):
    from PIL import Image

    if size is None or img.size == (size[1], size[0]):
        return img
    return img.resize((size[1], size[0]), Image.Resampling.BILINEAR)


def _read_gif(path: str, fps, num_frames, size) -> list:
    from PIL import Image, ImageSequence

    try:
        with Image.open(path) as im:
            frames, durations = [], []
            for frame in ImageSequence.Iterator(im):
                durations.append(float(frame.info.get('duration') or 100.0))
                frames.append(np.asarray(_pil_resize(frame.convert('RGB'), size)))
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise ValueError(f'Cannot decode gif file {path!r} ({type(e).__name__}: {e}); it is '
                         'corrupt or truncated: delete it and create it again.') from e
    if not frames:
        raise ValueError(f'Gif file {path!r} holds no frames.')
    # Gif writers merge identical consecutive frames into one longer frame; expand
    # them back to a constant frame rate when every duration is a multiple of the
    # shortest one (otherwise keep the frames as they are).
    base = min(durations)
    reps = [d / base for d in durations]
    if all(abs(r - round(r)) < 0.05 for r in reps):
        frames = [f for f, r in zip(frames, reps) for _ in range(int(round(r)))]
        src_fps = 1000.0 / base
    else:
        src_fps = 1000.0 * len(frames) / sum(durations)
    return _select(frames, src_fps, fps, num_frames, path)


def _read_folder(path: str, fps, num_frames, size, folder_fps) -> list:
    from PIL import Image

    names = sorted((n for n in os.listdir(path)
                    if osp.splitext(n)[1].lower() in FRAME_FILE_EXTENSIONS), key=_natural_key)
    if not names:
        raise ValueError(f'Frame folder {path!r} holds no {"/".join(FRAME_FILE_EXTENSIONS)} '
                         'files; put one image per frame there (sorted by name) or pass a '
                         'video file.')
    # choose the frames first, so only those are decoded
    idx = list(range(len(names)))
    idx = _select(idx, folder_fps, fps, num_frames, path)
    frames, cache, shape = [], {}, None
    for i in idx:
        if i not in cache:
            fpath = osp.join(path, names[i])
            try:
                with Image.open(fpath) as im:
                    cache[i] = np.asarray(_pil_resize(im.convert('RGB'), size))
            except (OSError, ValueError, SyntaxError) as e:
                raise ValueError(f'Cannot read frame {fpath!r} ({type(e).__name__}: {e}); '
                                 'replace or delete the file.') from e
            if shape is None:
                shape = cache[i].shape
            elif cache[i].shape != shape:
                raise ValueError(
                    f'Frame {fpath!r} is {cache[i].shape[1]}x{cache[i].shape[0]} but earlier '
                    f'frames of {path!r} are {shape[1]}x{shape[0]}; pass size=(H, W) to resize '
                    'them all.')
        frames.append(cache[i])
    return frames


def read_video(path: str, num_frames: int | None = None, fps: float | None = None,
               size: int | tuple | None = None, folder_fps: float = 20.0) -> np.ndarray:
    """Read a video file or a folder of frames as RGB frames.

    Time resampling happens in two optional steps: first to ``fps`` (frames at
    ``j / fps`` seconds up to the last source frame, each showing the latest
    source frame at or before that time; upsampling repeats frames), then to
    exactly ``num_frames`` frames spread uniformly from the first to the last
    frame (rounded indices; repeats when the clip is shorter).

    Args:
        path (str): A ``.mp4``/``.avi``/``.webm``/``.mov``/``.mkv``/``.m4v``
            file (ffmpeg), a ``.gif`` or a folder of ``.png``/``.jpg`` frames
            (natural sort order: ``frame_2`` before ``frame_10``).
        num_frames (int | None): Return exactly this many frames. Defaults to
            None (all frames).
        fps (float | None): Resample to this frame rate. Defaults to None
            (keep the source rate).
        size (int | tuple[int, int] | None): Resize every frame to
            ``(size, size)`` or ``(H, W)`` (no crop, the aspect ratio may
            change). Defaults to None (source size).
        folder_fps (float): Frame rate of a frame folder. Defaults to 20.

    Returns:
        np.ndarray: (F, H, W, 3) uint8 RGB frames.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: Unknown extension, a corrupt, truncated or empty file, an
            empty folder, or invalid arguments; the message names the file.
    """
    path = os.fspath(path)
    num_frames = _check_positive(num_frames, 'num_frames', integer=True)
    fps = _check_positive(fps, 'fps')
    folder_fps = _check_positive(folder_fps, 'folder_fps')
    size = _check_size(size)
    if not osp.exists(path):
        raise FileNotFoundError(f'Video not found: {path!r}; check the path (rendered clips are '
                                'made by tools/dataset_converters/render_videos.py).')
    if osp.isdir(path):
        frames = _read_folder(path, fps, num_frames, size, folder_fps)
    else:
        ext = osp.splitext(path)[1].lower()
        if ext in FFMPEG_EXTENSIONS:
            frames = _read_ffmpeg(path, fps, num_frames, size)
        elif ext == '.gif':
            frames = _read_gif(path, fps, num_frames, size)
        else:
            raise ValueError(
                f'Unsupported video file extension {ext or "(none)"!r} for {path!r}; use one of '
                f'{", ".join(VIDEO_FILE_EXTENSIONS)} or a folder of '
                f'{"/".join(FRAME_FILE_EXTENSIONS)} frames.')
    return np.stack(frames).astype(np.uint8, copy=False)


def mp4_is_complete(path: str) -> bool:
    """Cheap structural check of an mp4 file, without decoding it.

    Walks the top-level boxes: they must tile the whole file and include
    ``ftyp``, ``moov`` and ``mdat``. A truncated file (ffmpeg writes ``moov``
    last) or random bytes fail; this takes microseconds, unlike a decode.

    Args:
        path (str): File to check.

    Returns:
        bool: True when the file looks like a complete mp4.
    """
    try:
        size = osp.getsize(path)
        seen = set()
        with open(path, 'rb') as f:
            pos = 0
            while pos < size:
                f.seek(pos)
                head = f.read(8)
                if len(head) < 8:
                    return False
                box = int.from_bytes(head[:4], 'big')
                kind = head[4:8]
                if box == 1:  # 64-bit size follows
                    ext = f.read(8)
                    if len(ext) < 8:
                        return False
                    box = int.from_bytes(ext, 'big')
                elif box == 0:  # box runs to the end of the file
                    box = size - pos
                if box < 8 or pos + box > size:
                    return False
                seen.add(kind)
                pos += box
        return {b'ftyp', b'moov', b'mdat'} <= seen
    except OSError:
        return False


# ----------------------------------------------------------------------------
# writer
# ----------------------------------------------------------------------------
def _as_frames(frames) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim == 3:  # (F, H, W) grey
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 4 or arr.shape[-1] not in (3, 4) or arr.shape[0] < 1:
        raise ValueError(f'frames must have shape (F, H, W, 3) (or (F, H, W) grey), got '
                         f'{arr.shape}')
    if arr.dtype != np.uint8:
        raise ValueError(f'frames must be uint8 (0-255), got {arr.dtype}; convert e.g. with '
                         '(frames * 255).round().clip(0, 255).astype(np.uint8)')
    return arr[..., :3]


def _write_gif(path: str, frames: np.ndarray, fps: float, num_palette_frames: int = 8):
    """Looping gif with one global palette built from a few frames (fast, no flicker)."""
    from PIL import Image

    sample = np.unique(np.linspace(0, len(frames) - 1, min(num_palette_frames, len(frames)))
                       .round().astype(np.int64))
    palette = Image.fromarray(np.concatenate([frames[i] for i in sample], axis=0)).quantize(
        colors=255, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE)
              for f in frames]
    images[0].save(path, format='GIF', save_all=True, append_images=images[1:],
                   duration=max(10, round(1000.0 / fps)), loop=0, disposal=1)


def write_video(path: str, frames, fps: float, crf: int = 18, preset: str = 'veryfast',
                threads: int | None = None) -> str:
    """Write RGB frames to an ``.mp4`` (H.264) or ``.gif`` file.

    MP4: libx264, yuv420p (plays everywhere), constant quality ``crf``; odd
    frame sizes are padded to even ones by repeating the last row/column.
    GIF: one global 255-colour palette, loops forever; the frame duration is
    rounded to 10 ms (the gif time unit).

    Args:
        path (str): Output file; the extension picks the format. Parent
            folders are created.
        frames (np.ndarray): (F, H, W, 3) uint8 RGB frames (or (F, H, W)).
        fps (float): Frames per second.
        crf (int): H.264 constant rate factor, 0 (lossless) to 51; 18 is
            visually lossless. Defaults to 18.
        preset (str): x264 speed preset. Defaults to 'veryfast'.
        threads (int | None): Encoder threads; None lets x264 choose. One
            thread is faster for small frames and for several encoders in
            parallel (a worker pool). Defaults to None.

    Returns:
        str: ``path``.

    Raises:
        ValueError: Unsupported extension, bad frames or fps.
    """
    path = os.fspath(path)
    ext = osp.splitext(path)[1].lower()
    if ext not in WRITE_EXTENSIONS:
        raise ValueError(f'Cannot write {path!r}: unsupported extension {ext or "(none)"!r}; '
                         f'use one of {", ".join(WRITE_EXTENSIONS)}.')
    fps = _check_positive(fps, 'fps')
    arr = _as_frames(frames)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if ext == '.gif':
        _write_gif(path, arr, fps)
        return path
    import subprocess

    num, h, w = arr.shape[:3]
    if h % 2 or w % 2:
        arr = np.pad(arr, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode='edge')
        h, w = h + h % 2, w + w % 2
    cmd = [_ffmpeg_exe(), '-y', '-hide_banner', '-nostdin', '-loglevel', 'error',
           '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', f'{w}x{h}', '-framerate', repr(fps),
           '-i', '-', '-an', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-crf', str(int(crf)),
           '-preset', str(preset)]
    if threads:
        cmd += ['-threads', str(int(threads))]
    cmd += ['-f', 'mp4', path]
    data = memoryview(np.ascontiguousarray(arr)).cast('B')
    proc = subprocess.run(cmd, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)
    if proc.returncode != 0:
        log = proc.stderr.decode('utf-8', 'replace').strip()
        raise OSError(f'ffmpeg could not write {path!r}: {log.splitlines()[-1] if log else ""}')
    return path

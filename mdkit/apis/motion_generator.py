"""Python API for text-to-motion generation from a config and a checkpoint."""
from __future__ import annotations

import os
import os.path as osp

import torch
from mmengine.logging import print_log

from mdkit.structures import MotionDataSample

__all__ = ['MotionGenerator', 'parse_length', 'load_checkpoint_strict', 'read_prompt_file']


def parse_length(value, fps: float) -> int:
    """Parse a motion length: ``'4.0s'`` (seconds) or ``'80'`` / 80 (frames).

    Args:
        value (str | int | float): The length.
        fps (float): Frames per second of the representation.

    Returns:
        int: Number of frames.
    """
    if isinstance(value, str):
        v = value.strip().lower()
        try:
            if v.endswith('s'):
                return int(round(float(v[:-1]) * fps))
            return int(v)
        except ValueError:
            raise ValueError(f'cannot parse length {value!r}: use frames (80) or seconds '
                             '(4.0s)') from None
    if isinstance(value, float):
        raise ValueError(f'ambiguous float length {value}: pass frames as int or seconds as '
                         f'"{value}s"')
    return int(value)


def read_prompt_file(path: str, default_length=None) -> tuple[list, list, list]:
    """Read a prompt file: one ``prompt``, ``prompt#length`` or ``prompt#length#video`` per line.

    Blank lines are skipped. An empty or missing length takes ``default_length``;
    an empty video field means text only.

    Args:
        path (str): The prompt file.
        default_length (int | str | None): Length of prompts that give none.

    Returns:
        tuple[list, list, list]: ``(prompts, lengths, videos)``, one entry per prompt.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file holds no prompt, or a line has an empty prompt.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'prompt file not found: {path}')
    prompts, lengths, videos = [], [], []
    with open(path, encoding='utf-8') as f:
        for lineno, ln in enumerate(f, 1):
            ln = ln.strip()
            if not ln:
                continue
            text, _, rest = ln.partition('#')
            if not text.strip():
                raise ValueError(f'{path}:{lineno}: empty prompt before "#": write '
                                 f'"prompt#length"')
            length, _, video = rest.partition('#')
            prompts.append(text.strip())
            lengths.append(length.strip() or default_length)
            videos.append(video.strip() or None)
    if not prompts:
        raise ValueError(f'no prompts in {path}')
    return prompts, lengths, videos


def load_checkpoint_strict(model: torch.nn.Module, checkpoint: str) -> dict:
    """Load a checkpoint's ``state_dict`` and report any mismatch clearly.

    Raises:
        FileNotFoundError: Missing checkpoint file.
        RuntimeError: Missing/unexpected keys or shape mismatches, listed.
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    from mdkit.engine import apply_compat_shims
    apply_compat_shims()
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=True)
    state = ckpt.get('state_dict', ckpt)
    from mdkit.models.text_encoders.base import BaseTextEncoder
    from mdkit.utils import state_dict_mismatch
    # frozen text-encoder weights come from their folder; older files may still hold them
    frozen = [f'{name}.' for name, m in model.named_modules()
              if isinstance(m, BaseTextEncoder) and m.frozen and name]
    missing, unexpected, mismatched = state_dict_mismatch(model.state_dict(), state, frozen)
    shapes = sorted(f'{k}: checkpoint {tuple(getattr(v, "shape", ()))} vs model '
                    f'{tuple(ref.shape)}' for k, v, ref in mismatched)
    if missing or unexpected or shapes:
        lines = [f'checkpoint {checkpoint} does not match the model built from the config '
                 '(was it trained with another config?)']
        for name, items in (('missing in checkpoint', missing),
                            ('not in model', unexpected), ('shape mismatch', shapes)):
            if items:
                more = f' ... (+{len(items) - 8} more)' if len(items) > 8 else ''
                lines.append(f'  {name} ({len(items)}): {", ".join(items[:8])}{more}')
        raise RuntimeError('\n'.join(lines))
    model.load_state_dict(state, strict=True)
    return ckpt.get('meta', {})


class MotionGenerator:
    """Generate motions from text with a trained model.

    Example:
        >>> gen = MotionGenerator.from_config('configs/baselines/x.py', 'work_dirs/x/iter_1000.pth')
        >>> results = gen.generate(['a person walks forward'], lengths=['4s'])
        >>> results[0].pred_joints.shape   # (80, 22, 3)
    """

    def __init__(self, model, device: str | torch.device = 'cpu'):
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        #: Path of the checkpoint whose weights the model holds (None: as built).
        self.checkpoint = None

    @classmethod
    def from_config(cls, config, checkpoint: str | None, device: str = 'cpu',
                    cfg_options: dict | None = None) -> MotionGenerator:
        """Build the model of ``config`` and load ``checkpoint`` (EMA weights when saved)."""
        from mdkit.registry import MODELS
        from mdkit.utils import build_from_cfg_checked, load_config, register_all_modules
        register_all_modules()
        cfg = load_config(config, cfg_options)
        gen = cls(build_from_cfg_checked(cfg.model, MODELS), device)
        if checkpoint is not None:
            gen.load_checkpoint(checkpoint)
        else:
            print_log('MotionGenerator: no checkpoint given, using untrained weights',
                      logger='current', level=30)
        return gen

    def load_checkpoint(self, checkpoint: str) -> None:
        """Load ``checkpoint`` into the model (strictly, EMA weights when saved).

        Comparing checkpoints of one config this way builds the model once; the
        checkpoint the model already holds is not read again.
        """
        if checkpoint == self.checkpoint:
            return
        load_checkpoint_strict(self.model, checkpoint)
        self.checkpoint = checkpoint

    @property
    def fps(self) -> float:
        """float: Frame rate of generated motions."""
        return self.model.codec.fps

    def generate(self, texts: list, lengths=None, num_repetitions: int = 1,
                 seed: int | None = None, steps: int | None = None, batch_size: int = 32,
                 progress: bool = False, videos: list | None = None,
                 video_encoder_weights: str | None = None) -> list:
        """Generate ``num_repetitions`` motions per text (and video, for MotionDuet models).

        Args:
            texts (list[str]): Prompts (non-empty).
            lengths (list | int | str | None): Per-text length in frames or
                ``'4.0s'``; one value for all; None uses the video's duration
                for a text with a video, else ``model.max_length``.
            videos (list | None): Per text: None (text only), a video file or
                frame folder, or ``(F, H, W, 3)`` frames at the video
                encoder's frame rate. The video spans the whole motion.
                Needs a model with a video encoder. Defaults to None.
            video_encoder_weights (str | None): Weights folder of the video
                encoder, when the one recorded in the feature cache moved.
            num_repetitions (int): Samples per text. Defaults to 1.
            seed (int | None): Seed for reproducible sampling.
            steps (int | None): Sampler steps (default: the config's).
            batch_size (int): Motions per forward batch. Defaults to 32.
            progress (bool): Show a progress bar over batches.

        Returns:
            list[MotionDataSample]: ``len(texts) * num_repetitions`` results in
            text-major order, with ``text``, ``length``, ``pred_motion``,
            ``pred_joints`` and ``metainfo`` (``text_index``, ``repetition``).
        """
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise ValueError('no texts given')
        for i, t in enumerate(texts):
            if not isinstance(t, str) or not t.strip():
                raise ValueError(f'text {i} is empty: give a non-empty prompt')
        clips = self._read_videos(videos, len(texts))
        if lengths is None:
            lengths = [None] * len(texts)
        elif not isinstance(lengths, (list, tuple)):
            lengths = [lengths] * len(texts)
        if len(lengths) != len(texts):
            raise ValueError(f'{len(lengths)} lengths for {len(texts)} texts')
        frames = []
        for v, clip in zip(lengths, clips):
            if v is not None:
                frames.append(parse_length(v, self.fps))
            elif clip is not None:  # the video's duration
                video_fps = float(self.model.video_encoder.video_fps)
                frames.append(max(1, int(round(len(clip) * self.fps / video_fps))))
            else:
                frames.append(int(self.model.max_length))
        self.model.check_lengths(frames)
        feats = [None] * len(texts)
        with_video = [i for i, c in enumerate(clips) if c is not None]
        if with_video:
            got = self.model.video_features([clips[i] for i in with_video],
                                            [frames[i] for i in with_video],
                                            video_encoder_weights)
            for i, f in zip(with_video, got):
                feats[i] = f
        if num_repetitions < 1:
            raise ValueError(f'num_repetitions must be >= 1, got {num_repetitions}')
        jobs = [(i, r) for i in range(len(texts)) for r in range(num_repetitions)]
        gen = torch.Generator(device=self.device)
        gen.manual_seed(0 if seed is None else int(seed))
        results = []
        chunks = [jobs[k:k + batch_size] for k in range(0, len(jobs), batch_size)]
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(jobs), desc='generating', unit='motion')
        for chunk in chunks:
            samples = []
            for i, r in chunk:
                s = MotionDataSample(metainfo=dict(text_index=i, repetition=r))
                s.text = texts[i].strip()
                s.length = frames[i]
                if feats[i] is not None:
                    s.video_feat = feats[i]
                samples.append(s)
            data = self.model.data_preprocessor(dict(inputs=None, data_samples=samples))
            results += self.model.predict(data['inputs'], data['data_samples'], num_steps=steps,
                                          generator=gen)
            if bar:
                bar.update(len(chunk))
        if bar:
            bar.close()
        return results

    def _read_videos(self, videos, num_texts: int) -> list:
        """Frames per text (None where a text has no video), read at the encoder's rate."""
        if videos is None:
            return [None] * num_texts
        if isinstance(videos, str) or not isinstance(videos, (list, tuple)):
            videos = [videos]
        if len(videos) != num_texts:
            raise ValueError(f'{len(videos)} videos for {num_texts} texts: give one per text '
                             '(None for text only)')
        if all(v is None for v in videos):
            return list(videos)
        if not hasattr(self.model, 'video_features'):
            raise ValueError(f'{type(self.model).__name__} takes no video condition: drop the '
                             'videos or use a MotionDuet config')
        from mdkit.datasets.video_io import read_video
        video_fps = float(self.model.video_encoder.video_fps)
        clips = []
        for v in videos:
            if v is None or not isinstance(v, (str, os.PathLike)):
                clips.append(v)
            else:
                clips.append(read_video(os.fspath(v), fps=video_fps))
        return clips

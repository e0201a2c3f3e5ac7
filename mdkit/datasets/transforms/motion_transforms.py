"""Per-sample pipeline transforms for motion-text data (mmcv-style callables on dicts)."""
from __future__ import annotations

import numpy as np
import torch

from mdkit.registry import TRANSFORMS
from mdkit.structures import MotionDataSample

__all__ = ['RandomCaption', 'CropMotion', 'PackMotionInputs']


class _BaseTransform:
    """A callable on a results dict; ``rng`` is seeded per worker by torch."""

    def __call__(self, results: dict) -> dict:
        return self.transform(results)

    def transform(self, results: dict) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items())
        return f'{type(self).__name__}({args})'


@TRANSFORMS.register_module()
class RandomCaption(_BaseTransform):
    """Choose one caption of the clip: random in training, the first (or a fixed index) in test.

    Args:
        test_index (int | None): Caption index used when ``random`` is False.
            Defaults to 0.
        random (bool): Draw a random caption. Defaults to True.

    Example:
        >>> RandomCaption(random=False)(dict(texts=['a', 'b']))['text']
        'a'
    """

    def __init__(self, random: bool = True, test_index: int = 0):
        self.random = random
        self.test_index = test_index

    def transform(self, results: dict) -> dict:
        texts = results['texts']
        if not texts:
            raise ValueError(f'sample {results.get("sample_id")!r} has no caption')
        idx = int(np.random.randint(len(texts))) if self.random else \
            min(self.test_index, len(texts) - 1)
        results['text'] = texts[idx]
        if results.get('tokens'):
            results['text_tokens'] = results['tokens'][idx]
        return results


@TRANSFORMS.register_module()
class CropMotion(_BaseTransform):
    """Crop a motion to at most ``max_length`` frames, rounded to ``unit_length``.

    Training uses a random window (and, like the reference loader, sometimes
    drops one more unit so lengths vary); test mode takes the start.

    Args:
        max_length (int): Longest crop in frames. Defaults to 196.
        unit_length (int): Crop lengths are multiples of this. Defaults to 4.
        random (bool): Random window and length jitter. Defaults to True.

    Example:
        >>> out = CropMotion(max_length=8, random=False)(dict(motion=np.zeros((10, 263))))
        >>> out['motion'].shape, out['length']
        ((8, 263), 8)
    """

    def __init__(self, max_length: int = 196, unit_length: int = 4, random: bool = True):
        if max_length < 1 or unit_length < 1:
            raise ValueError(f'max_length and unit_length must be >= 1, got '
                             f'{max_length}, {unit_length}')
        self.max_length = int(max_length)
        self.unit_length = int(unit_length)
        self.random = random

    def transform(self, results: dict) -> dict:
        motion = results['motion']
        n = min(len(motion), self.max_length)
        if n >= self.unit_length:
            n = (n // self.unit_length) * self.unit_length
            if self.random and n > self.unit_length and np.random.rand() < 1 / 3:
                n -= self.unit_length
        start = int(np.random.randint(0, len(motion) - n + 1)) if self.random else 0
        results['motion'] = motion[start:start + n]
        if 'joints' in results:
            results['joints'] = results['joints'][start:start + n]
        results['crop_start'] = start
        results['length'] = n
        return results


@TRANSFORMS.register_module()
class PackMotionInputs(_BaseTransform):
    """Pack a results dict into ``dict(inputs=Tensor (T, D), data_samples=MotionDataSample)``.

    Args:
        meta_keys (tuple[str, ...]): Keys copied into ``metainfo`` when present.
            Defaults to ('sample_id', 'source_id', 'fps', 'crop_start', 'start_frame').
    """

    def __init__(self, meta_keys=('sample_id', 'source_id', 'fps', 'crop_start',
                                  'start_frame')):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        motion = torch.from_numpy(np.ascontiguousarray(results['motion'], dtype=np.float32))
        sample = MotionDataSample(
            metainfo={k: results[k] for k in self.meta_keys if k in results})
        sample.gt_motion = motion
        sample.length = int(results.get('length', len(motion)))
        if 'text' in results:
            sample.text = results['text']
        if 'texts' in results:
            sample.texts = list(results['texts'])
        if results.get('text_tokens'):
            sample.set_metainfo(dict(text_tokens=list(results['text_tokens'])))
        if 'joints' in results:
            sample.gt_joints = torch.from_numpy(np.ascontiguousarray(results['joints']))
        if results.get('video_feat') is not None:
            sample.video_feat = results['video_feat']
        return dict(inputs=motion, data_samples=sample)

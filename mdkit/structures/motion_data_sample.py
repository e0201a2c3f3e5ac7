"""The data element that carries one motion sample and its conditions through mdkit."""
from __future__ import annotations

import numpy as np
import torch
from mmengine.structures import BaseDataElement

__all__ = ['MotionDataSample']


def _to_tensor(value, name: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise TypeError(f'{name} must be a torch.Tensor or np.ndarray, got {type(value).__name__}')
    return value


class MotionDataSample(BaseDataElement):
    """One motion sample: conditions, ground truth and predictions.

    Data fields (per-sample values; set as attributes):

    - ``text`` (str): the caption used for this sample.
    - ``texts`` (list[str]): all captions of the clip.
    - ``length`` (int): number of valid motion frames T.
    - ``gt_motion`` (Tensor): (T, D) ground-truth features (raw or normalised,
      see ``metainfo['normalized']``).
    - ``gt_joints`` (Tensor, optional): (T, J, 3) ground-truth joints.
    - ``video_feat`` (Tensor, optional): (F, C) video features aligned to the motion.
    - ``pred_motion`` / ``pred_joints`` (Tensor, optional): model outputs.

    Meta fields (``metainfo``): ``sample_id``, ``fps``, ``skeleton``,
    ``source`` and anything else descriptive.

    Example:
        >>> s = MotionDataSample(metainfo=dict(sample_id='01_01'))
        >>> s.text = 'a person walks'
        >>> s.gt_motion = torch.zeros(40, 263)
        >>> s.length
        40
    """

    @property
    def text(self) -> str:
        """str: The caption of this sample."""
        return self._text

    @text.setter
    def text(self, value: str):
        if not isinstance(value, str):
            raise TypeError(f'text must be a str, got {type(value).__name__}')
        self.set_field(value, '_text', dtype=str)

    @text.deleter
    def text(self):
        del self._text

    @property
    def texts(self) -> list:
        """list[str]: All captions of the clip."""
        return self._texts

    @texts.setter
    def texts(self, value: list):
        value = list(value)
        if not all(isinstance(t, str) for t in value):
            raise TypeError('texts must be a list of str')
        self.set_field(value, '_texts', dtype=list)

    @texts.deleter
    def texts(self):
        del self._texts

    @property
    def length(self) -> int:
        """int: Number of valid frames; falls back to ``gt_motion.shape[0]``."""
        if '_length' in self._data_fields:
            return self._length
        if 'gt_motion' in self:
            return int(self.gt_motion.shape[0])
        raise AttributeError('MotionDataSample has neither length nor gt_motion')

    @length.setter
    def length(self, value: int):
        value = int(value)
        if value < 1:
            raise ValueError(f'length must be >= 1 frame, got {value}')
        self.set_field(value, '_length', dtype=int)

    @length.deleter
    def length(self):
        del self._length

    @property
    def gt_motion(self) -> torch.Tensor:
        """Tensor: (T, D) ground-truth motion features."""
        return self._gt_motion

    @gt_motion.setter
    def gt_motion(self, value):
        value = _to_tensor(value, 'gt_motion')
        if value.dim() != 2:
            raise ValueError(f'gt_motion must be (T, D), got shape {tuple(value.shape)}')
        self.set_field(value, '_gt_motion', dtype=torch.Tensor)

    @gt_motion.deleter
    def gt_motion(self):
        del self._gt_motion

    @property
    def video_feat(self) -> torch.Tensor:
        """Tensor: (F, C) video features aligned to motion time."""
        return self._video_feat

    @video_feat.setter
    def video_feat(self, value):
        value = _to_tensor(value, 'video_feat')
        if value.dim() != 2:
            raise ValueError(f'video_feat must be (F, C), got shape {tuple(value.shape)}')
        self.set_field(value, '_video_feat', dtype=torch.Tensor)

    @video_feat.deleter
    def video_feat(self):
        del self._video_feat

    @property
    def has_video(self) -> bool:
        """bool: Whether video features are attached."""
        return '_video_feat' in self._data_fields

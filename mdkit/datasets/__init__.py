"""Datasets, pipeline transforms and collation for motion-text data."""
from .collate import motion_collate
from .humanml3d import DatasetLoadError, HumanML3DDataset, KITMLDataset, parse_text_file
from .transforms import CropMotion, PackMotionInputs, RandomCaption
from .video_io import read_video, write_video

__all__ = ['motion_collate', 'DatasetLoadError', 'HumanML3DDataset', 'KITMLDataset',
           'parse_text_file', 'CropMotion', 'PackMotionInputs', 'RandomCaption', 'read_video',
           'write_video']

"""Data structures passed between datasets, models and metrics."""
from .motion_data_sample import MotionDataSample

__all__ = ['MotionDataSample']

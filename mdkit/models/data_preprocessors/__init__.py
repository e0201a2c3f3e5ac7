"""Data preprocessors: normalisation, padding and masks (never inside a network)."""
from .motion_preprocessor import MotionDataPreprocessor

__all__ = ['MotionDataPreprocessor']

"""Dataset pipeline transforms."""
from .motion_transforms import CropMotion, PackMotionInputs, RandomCaption

__all__ = ['CropMotion', 'PackMotionInputs', 'RandomCaption']

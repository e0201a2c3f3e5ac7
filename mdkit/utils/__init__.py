"""Helpers with no registration side effects."""
from .data_root import find_motion_data_root

__all__ = ['find_motion_data_root']

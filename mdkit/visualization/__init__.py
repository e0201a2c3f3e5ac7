"""Visualisation of joint motions: stick-figure videos (MP4/GIF) and PNG filmstrips.

Importing this package is cheap: matplotlib and imageio are imported only when
something is rendered.
"""
from .stick_figure import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    StickFigureRenderer,
    check_joints,
    frames_to_array,
    render_frames_png,
    render_stick_figure,
)

__all__ = [
    'IMAGE_EXTENSIONS', 'VIDEO_EXTENSIONS', 'StickFigureRenderer', 'check_joints',
    'frames_to_array', 'render_frames_png', 'render_stick_figure'
]

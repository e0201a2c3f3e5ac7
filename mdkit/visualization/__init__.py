"""Visualisation of joint motions: stick-figure videos (MP4/GIF), PNG filmstrips, body clips.

Importing this package is cheap: matplotlib, imageio and OpenCV are imported only
when something is rendered.
"""
from .body_render import BODY_COLORS, BodyClipRenderer
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
    'BODY_COLORS', 'BodyClipRenderer', 'IMAGE_EXTENSIONS', 'VIDEO_EXTENSIONS',
    'StickFigureRenderer', 'check_joints',
    'frames_to_array', 'render_frames_png', 'render_stick_figure'
]

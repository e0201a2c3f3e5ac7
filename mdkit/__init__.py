"""mdkit: registry-based toolkit for text- and video-conditioned 3D human motion generation."""
from .version import __version__

__all__ = ['__version__']

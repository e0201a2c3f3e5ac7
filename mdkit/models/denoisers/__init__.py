"""Motion denoisers (``MODELS``, names end in ``Denoiser``).

Importing this package also registers the fusion blocks the denoisers build.
"""
from mdkit.models import fusion as _fusion  # noqa: F401  (registers the fusion blocks)

from .embeddings import sinusoidal_positions, timestep_embedding
from .transformer_denoiser import DenoiserLayer, FrameWindowProjection, MotionTransformerDenoiser

__all__ = ['MotionTransformerDenoiser', 'DenoiserLayer', 'FrameWindowProjection',
           'timestep_embedding', 'sinusoidal_positions']

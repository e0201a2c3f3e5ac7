"""Top-level generators: thin BaseModel composers of encoders, denoisers, schedulers, losses."""
from .text_motion_diffusion import TextMotionDiffusion

__all__ = ['TextMotionDiffusion']

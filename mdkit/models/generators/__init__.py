"""Top-level generators: thin BaseModel composers of encoders, denoisers, schedulers, losses."""
from .motion_duet import MODALITY_MODES, MotionDuet
from .text_motion_diffusion import TextMotionDiffusion

__all__ = ['TextMotionDiffusion', 'MotionDuet', 'MODALITY_MODES']

"""Diffusion noise schedules and samplers (plain objects in ``DIFFUSION_SCHEDULERS``)."""
from .ddpm_scheduler import BETA_SCHEDULES, PREDICTION_TYPES, DDPMScheduler, make_betas
from .dpm_solver import DPMSolverMultistepSampler
from .samplers import TIMESTEP_SPACINGS, BaseDiffusionSampler, DDIMSampler, DDPMSampler, ModelFn

__all__ = [
    'DDPMScheduler', 'make_betas', 'BETA_SCHEDULES', 'PREDICTION_TYPES', 'BaseDiffusionSampler',
    'DDIMSampler', 'DDPMSampler', 'TIMESTEP_SPACINGS', 'ModelFn', 'DPMSolverMultistepSampler'
]

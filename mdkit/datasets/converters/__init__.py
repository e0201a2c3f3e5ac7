"""Converters from raw motion capture to the HumanML3D dataset format."""
from .mocap_to_humanml3d import (
    ConversionConfig,
    assign_split,
    compute_mean_std,
    convert_dataset,
    convert_trial,
    make_clips,
    mirror_joints,
    mirror_text,
    simple_tokens,
    trial_captions,
)

__all__ = ['ConversionConfig', 'assign_split', 'compute_mean_std', 'convert_dataset',
           'convert_trial', 'make_clips', 'mirror_joints', 'mirror_text', 'simple_tokens',
           'trial_captions']

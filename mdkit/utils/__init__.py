"""Helpers with no registration side effects."""
from .cli import load_config, parse_named_files
from .data_root import find_motion_data_root
from .registry_utils import UnexpectedConfigKeyError, UnregisteredTypeError, build_from_cfg_checked
from .setup_env import register_all_modules
from .state_dict_utils import state_dict_mismatch
from .training_logs import load_training_scalars, mean_training_scalars

__all__ = [
    'find_motion_data_root', 'register_all_modules', 'build_from_cfg_checked',
    'UnregisteredTypeError', 'UnexpectedConfigKeyError', 'state_dict_mismatch',
    'load_training_scalars', 'mean_training_scalars', 'load_config', 'parse_named_files'
]

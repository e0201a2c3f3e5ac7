"""High-level APIs: generation from a config and a checkpoint."""
from .motion_generator import (
    MotionGenerator,
    load_checkpoint_strict,
    parse_length,
    read_prompt_file,
)

__all__ = ['MotionGenerator', 'load_checkpoint_strict', 'parse_length', 'read_prompt_file']

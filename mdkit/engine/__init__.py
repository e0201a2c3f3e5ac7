"""Engine components: mmengine compatibility shims, optimizer/model wrappers, dist set-up.

Importing this package registers :class:`BF16OptimWrapper` and
:class:`MDKitDistributedDataParallel` and applies the process-wide shims
(:func:`apply_compat_shims`, idempotent), so configs that reach these classes
through registry ``locations`` also get ``weights_only`` checkpoint loading.
"""
from .compat import (
    allow_mmengine_checkpoint_globals,
    apply_compat_shims,
    mmengine_checkpoint_safe_globals,
)
from .dist import default_dist_backend, init_dist_if_needed
from .model_wrappers import MDKitDistributedDataParallel
from .optim_wrappers import BF16OptimWrapper, MotionOptimWrapperConstructor

apply_compat_shims()

__all__ = [
    'apply_compat_shims', 'allow_mmengine_checkpoint_globals',
    'mmengine_checkpoint_safe_globals', 'default_dist_backend', 'init_dist_if_needed',
    'BF16OptimWrapper', 'MotionOptimWrapperConstructor', 'MDKitDistributedDataParallel'
]

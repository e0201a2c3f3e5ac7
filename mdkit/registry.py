"""All mdkit registries.

Every mmengine root registry gets a child here under the ``mdkit`` scope, so
that ``default_scope='mdkit'`` finds both mdkit and mmengine classes and the
"Failed to search registry with scope" warnings disappear. ``locations`` is
kept narrow: building from a registry imports only the sub-packages that can
register into it.

Plain-object families (no ``nn.Module``) get registries without a parent:
:data:`DIFFUSION_SCHEDULERS`, :data:`GUIDANCE` and :data:`MOTION_CODECS`.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import STRATEGIES as MMENGINE_STRATEGIES
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'TASK_UTILS', 'METRICS',
    'EVALUATOR', 'VISUALIZERS', 'VISBACKENDS', 'INFERENCERS', 'FUNCTIONS',
    'STRATEGIES', 'DIFFUSION_SCHEDULERS', 'GUIDANCE', 'MOTION_CODECS',
    'ALL_REGISTRIES'
]

#######################################################################
#                            mdkit.engine                              #
#######################################################################
RUNNERS = Registry(
    'runner', parent=MMENGINE_RUNNERS, scope='mdkit',
    locations=['mdkit.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMENGINE_RUNNER_CONSTRUCTORS, scope='mdkit',
    locations=['mdkit.engine'])
LOOPS = Registry(
    'loop', parent=MMENGINE_LOOPS, scope='mdkit', locations=['mdkit.engine'])
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope='mdkit', locations=['mdkit.engine'])
LOG_PROCESSORS = Registry(
    'log processor', parent=MMENGINE_LOG_PROCESSORS, scope='mdkit',
    locations=['mdkit.engine'])
OPTIMIZERS = Registry(
    'optimizer', parent=MMENGINE_OPTIMIZERS, scope='mdkit',
    locations=['mdkit.engine'])
OPTIM_WRAPPERS = Registry(
    'optim wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='mdkit',
    locations=['mdkit.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope='mdkit',
    locations=['mdkit.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, scope='mdkit',
    locations=['mdkit.engine'])
STRATEGIES = Registry(
    'strategy', parent=MMENGINE_STRATEGIES, scope='mdkit',
    locations=['mdkit.engine'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, scope='mdkit',
    locations=['mdkit.engine'])

#######################################################################
#                           mdkit.datasets                             #
#######################################################################
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, scope='mdkit',
    locations=['mdkit.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, scope='mdkit',
    locations=['mdkit.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope='mdkit',
    locations=['mdkit.datasets.transforms'])
FUNCTIONS = Registry(
    'function', parent=MMENGINE_FUNCTIONS, scope='mdkit',
    locations=['mdkit.datasets'])

#######################################################################
#                            mdkit.models                              #
#######################################################################
MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='mdkit',
    locations=['mdkit.models', 'mdkit.evaluation.evaluators'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, scope='mdkit',
    locations=['mdkit.models'])
TASK_UTILS = Registry(
    'task util', parent=MMENGINE_TASK_UTILS, scope='mdkit',
    locations=['mdkit.models'])
DIFFUSION_SCHEDULERS = Registry(
    'diffusion scheduler', scope='mdkit',
    locations=['mdkit.models.diffusion_schedulers'])
GUIDANCE = Registry(
    'guidance', scope='mdkit', locations=['mdkit.models.guidance'])

#######################################################################
#                            mdkit.motion                              #
#######################################################################
MOTION_CODECS = Registry(
    'motion codec', scope='mdkit', locations=['mdkit.motion'])

#######################################################################
#                          mdkit.evaluation                            #
#######################################################################
METRICS = Registry(
    'metric', parent=MMENGINE_METRICS, scope='mdkit',
    locations=['mdkit.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMENGINE_EVALUATOR, scope='mdkit',
    locations=['mdkit.evaluation'])

#######################################################################
#                         mdkit.visualization                          #
#######################################################################
VISUALIZERS = Registry(
    'visualizer', parent=MMENGINE_VISUALIZERS, scope='mdkit',
    locations=['mdkit.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMENGINE_VISBACKENDS, scope='mdkit',
    locations=['mdkit.visualization'])

#######################################################################
#                             mdkit.apis                               #
#######################################################################
INFERENCERS = Registry(
    'inferencer', parent=MMENGINE_INFERENCERS, scope='mdkit',
    locations=['mdkit.apis'])

#: name -> registry, for tools that walk every registry.
ALL_REGISTRIES = {
    name: obj
    for name, obj in dict(globals()).items()
    if isinstance(obj, Registry) and not name.startswith('MMENGINE_')
}

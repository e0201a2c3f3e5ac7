"""Optimizer wrappers: bf16 autocast that also works on CPU."""
from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mdkit.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS

__all__ = ['BF16OptimWrapper', 'MotionOptimWrapperConstructor', 'WEAK_MODULE_NAMES']


def _infer_device_type(model: nn.Module) -> str:
    """Device type ('cpu', 'cuda', ...) of the first parameter or buffer of ``model``."""
    for tensor in model.parameters():
        return tensor.device.type
    for tensor in model.buffers():
        return tensor.device.type
    return 'cuda' if torch.cuda.is_available() else 'cpu'


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """Optimizer wrapper running the forward pass under bf16 autocast, on CPU or GPU.

    mmengine's ``AmpOptimWrapper`` asserts a GPU. bfloat16 has the exponent
    range of float32, so no gradient scaler is needed: this wrapper only
    enters ``torch.autocast(device_type, dtype=torch.bfloat16)`` inside
    :meth:`optim_context`; parameters, gradients and optimizer state stay fp32.

    Example:
        >>> optim_wrapper = dict(type='BF16OptimWrapper',
        ...                      optimizer=dict(type='AdamW', lr=1e-4))

    Args:
        device_type (str, optional): Autocast device type ('cpu', 'cuda').
            None infers it from the model's parameters. Defaults to None.
        enabled (bool): Switch autocast off without changing the config
            structure. Defaults to True.
        cache_enabled (bool, optional): Autocast weight-cast cache; None keeps
            torch's default. Defaults to None.
        **kwargs: Passed to :class:`mmengine.optim.OptimWrapper`
            (``optimizer``, ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self,
                 device_type: str | None = None,
                 enabled: bool = True,
                 cache_enabled: bool | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.device_type = device_type
        self.enabled = enabled
        self.cache_enabled = cache_enabled
        self.cast_dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Gradient-accumulation context of the parent plus bf16 autocast.

        Args:
            model (nn.Module): The model being trained (possibly wrapped).

        Raises:
            RuntimeError: On a CUDA device without bf16 support.
        """
        device_type = self.device_type or _infer_device_type(model)
        if (self.enabled and device_type == 'cuda' and torch.cuda.is_available()
                and not torch.cuda.is_bf16_supported()):
            raise RuntimeError('BF16OptimWrapper: this CUDA device does not support bfloat16; '
                               "use type='AmpOptimWrapper' with dtype='float16' instead.")
        autocast_kwargs = dict(device_type=device_type, dtype=torch.bfloat16,
                               enabled=self.enabled)
        if self.cache_enabled is not None:
            autocast_kwargs['cache_enabled'] = self.cache_enabled
        with super().optim_context(model), torch.autocast(**autocast_kwargs):
            yield


class _ParamView(nn.Module):
    """A module holding some children of a model under their own names (for optimizer building)."""

    def __init__(self, children: dict):
        super().__init__()
        for name, module in children.items():
            self.add_module(name, module)


#: Submodules of a generator that belong to the weak guidance model, not the main optimizer.
WEAK_MODULE_NAMES = ('weak_denoiser', 'weak_ema')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MotionOptimWrapperConstructor:
    """Builds the generator's optimizer; a separate one for a weak guidance model it trains.

    Without a trainable ``weak_denoiser`` this is mmengine's
    ``DefaultOptimWrapperConstructor``. With one, it returns an
    ``OptimWrapperDict(main=..., weak=...)``: ``main`` over every parameter
    except the weak model's, ``weak`` over the weak denoiser only (same wrapper
    and optimizer settings, learning rate times ``weak.lr_mult``, any other
    ``weak.optimizer`` keys overriding). The weak model's EMA copy is in
    neither. Parameter schedulers apply to both.

    Example:
        >>> optim_wrapper = dict(
        ...     constructor='MotionOptimWrapperConstructor',
        ...     optimizer=dict(type='AdamW', lr=2e-4),
        ...     weak=dict(lr_mult=0.5))

    Args:
        optim_wrapper_cfg (dict): The ``optim_wrapper`` config; its optional
            ``weak`` key (``lr_mult`` float, ``optimizer`` dict of overrides)
            configures the weak optimizer.
        paramwise_cfg (dict | None): As for the default constructor.
    """

    WEAK_KEYS = ('lr_mult', 'optimizer')

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None):
        cfg = copy.deepcopy(dict(optim_wrapper_cfg))
        weak = dict(cfg.pop('weak', None) or {})
        unknown = sorted(set(weak) - set(self.WEAK_KEYS))
        if unknown:
            raise ValueError(f'unknown optim_wrapper.weak key(s) {unknown}; valid: '
                             f'{", ".join(self.WEAK_KEYS)}')
        self.optim_wrapper_cfg = cfg
        self.paramwise_cfg = paramwise_cfg
        self.weak_cfg = weak

    def __call__(self, model: nn.Module):
        from mmengine.model import is_model_wrapper
        from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
        module = model.module if is_model_wrapper(model) else model
        weak = getattr(module, 'weak_denoiser', None)
        if weak is None or not getattr(module, 'weak_trainable', False):
            return DefaultOptimWrapperConstructor(self.optim_wrapper_cfg, self.paramwise_cfg)(model)
        main_view = _ParamView({n: m for n, m in module.named_children()
                                if n not in WEAK_MODULE_NAMES})
        main = DefaultOptimWrapperConstructor(self.optim_wrapper_cfg, self.paramwise_cfg)(main_view)
        weak_cfg = copy.deepcopy(self.optim_wrapper_cfg)
        weak_cfg['optimizer'] = {**weak_cfg['optimizer'], **self.weak_cfg.get('optimizer', {})}
        weak_cfg['optimizer']['lr'] = weak_cfg['optimizer']['lr'] * float(
            self.weak_cfg.get('lr_mult', 1.0))
        weak_wrapper = DefaultOptimWrapperConstructor(weak_cfg, self.paramwise_cfg)(
            _ParamView({'weak_denoiser': weak}))
        return OptimWrapperDict(main=main, weak=weak_wrapper)

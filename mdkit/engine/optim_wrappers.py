"""Optimizer wrappers: bf16 autocast that also works on CPU."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mdkit.registry import OPTIM_WRAPPERS

__all__ = ['BF16OptimWrapper']


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

"""Model wrappers: DDP that also accepts CPU modules."""
from __future__ import annotations

import logging

from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapperDict
from torch import nn

from mdkit.registry import MODEL_WRAPPERS

__all__ = ['MDKitDistributedDataParallel']


def _module_on_cpu(module: nn.Module) -> bool:
    """True when every parameter and buffer of ``module`` lives on the CPU (or it has none)."""
    devices = {t.device.type for t in module.parameters()}
    devices |= {t.device.type for t in module.buffers()}
    return not devices or devices == {'cpu'}


@MODEL_WRAPPERS.register_module()
class MDKitDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that works for CPU modules too (gloo backend).

    mmengine's Runner always passes ``device_ids=[LOCAL_RANK]`` to DDP
    subclasses, which torch rejects for CPU modules. This wrapper drops
    ``device_ids`` and ``output_device`` when the module lives on the CPU and
    behaves exactly like its parent on GPU. Select it in a config with::

        model_wrapper_cfg = dict(type='mdkit.MDKitDistributedDataParallel')

    The ``mdkit.`` prefix is required there: ``Runner.wrap_model`` looks the
    type up in mmengine's root ``MODEL_WRAPPERS``, which finds child-registry
    classes only through an explicit scope (``configs/_base_/default_runtime.py``
    already sets it).

    Args:
        module (nn.Module): The model to wrap.
        detect_anomalous_params (bool): See ``MMDistributedDataParallel``.
            Defaults to False.
        **kwargs: Passed to ``torch.nn.parallel.DistributedDataParallel``.
    """

    def __init__(self,
                 module: nn.Module,
                 detect_anomalous_params: bool = False,
                 **kwargs) -> None:
        if _module_on_cpu(module):
            dropped = {k: kwargs.pop(k) for k in ('device_ids', 'output_device') if k in kwargs}
            if any(v is not None for v in dropped.values()):
                print_log(f'MDKitDistributedDataParallel: CPU module, ignoring {dropped}',
                          logger='current', level=logging.DEBUG)
        super().__init__(module=module, detect_anomalous_params=detect_anomalous_params,
                         **kwargs)

    def train_step(self, data, optim_wrapper) -> dict:
        """As the parent; with several optimizers, the module's own step with DDP's forward.

        A generator that trains a weak guidance model gets an
        ``OptimWrapperDict``; its ``train_step(data, optim_wrapper,
        run_forward)`` runs the loss through this wrapper's forward so
        gradients are synchronised, then steps each optimizer.
        """
        if isinstance(optim_wrapper, OptimWrapperDict):
            return self.module.train_step(data, optim_wrapper, run_forward=self._run_forward)
        return super().train_step(data, optim_wrapper)

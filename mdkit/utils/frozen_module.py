"""Frozen pretrained sub-modules (text and video encoders) and local ``transformers`` loading.

A frozen encoder's weights come from a pretrained folder, not from
checkpoints: :class:`FrozenModuleMixin` keeps them out of ``state_dict()``
(a 1.6M-parameter generator's checkpoint would otherwise carry tens of
millions of frozen parameters, twice with EMA) and fills them back in when a
state dict without them is loaded.
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp

import torch
from torch import nn

__all__ = ['FrozenModuleMixin', 'NO_DOWNLOAD_HINT', 'hf_progress_bar_disabled',
           'resolve_local_folder']

#: Appended to "folder not found" errors of the ``transformers`` adapters.
NO_DOWNLOAD_HINT = ('Model weights cannot be downloaded here: pass the path of a local folder '
                    'written with `model.save_pretrained(folder)` and '
                    '`tokenizer.save_pretrained(folder)`.')


@contextlib.contextmanager
def hf_progress_bar_disabled():
    """Hide ``transformers``' "Loading weights" progress bar for one load."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def resolve_local_folder(path: str | os.PathLike, subfolder: str | None, what: str) -> str:
    """Absolute path of a local model folder (plus ``subfolder``), which must exist.

    Args:
        path (str | os.PathLike): The folder (``~`` is expanded).
        subfolder (str | None): Sub-folder to append, or None.
        what (str): Word used in the error, e.g. ``'model'``.

    Returns:
        str: The absolute folder path.

    Raises:
        FileNotFoundError: The folder does not exist (nothing is downloaded).
    """
    folder = osp.abspath(osp.expanduser(os.fspath(path)))
    if subfolder:
        folder = osp.join(folder, subfolder)
    if not osp.isdir(folder):
        raise FileNotFoundError(f'{what} folder {folder!r} does not exist. {NO_DOWNLOAD_HINT}')
    return folder


class FrozenModuleMixin:
    """Mixin for an ``nn.Module`` whose pretrained weights may be frozen.

    Put it before ``nn.Module`` in the bases and call
    :meth:`_init_frozen_weights` in ``__init__`` (after ``nn.Module.__init__``),
    then :meth:`_freeze` once the weights exist. While ``self.frozen``:

    * every parameter has ``requires_grad=False`` and the module stays in eval
      mode even when a parent calls ``.train()``;
    * ``state_dict()`` leaves the module's entries out, and loading a state
      dict without them keeps the current weights (strict loading passes); a
      state dict that does hold them (an older checkpoint) still loads;
    * :meth:`full_state_dict` returns everything.

    With ``frozen=False`` it behaves like a plain module.
    """

    frozen: bool

    def _init_frozen_weights(self, frozen: bool) -> None:
        """Set ``frozen`` and install the state-dict hooks."""
        self.frozen = bool(frozen)
        self._in_state_dict = False
        self.register_state_dict_post_hook(FrozenModuleMixin._drop_frozen_weights)
        self.register_load_state_dict_pre_hook(FrozenModuleMixin._fill_frozen_weights)

    @staticmethod
    def _drop_frozen_weights(module: FrozenModuleMixin, state_dict, prefix, local_metadata):
        if module.frozen and not module._in_state_dict:
            for key in [k for k in state_dict if k.startswith(prefix)]:
                del state_dict[key]

    @staticmethod
    def _fill_frozen_weights(module: FrozenModuleMixin, state_dict, prefix, local_metadata,
                             strict, missing_keys, unexpected_keys, error_msgs) -> None:
        if not module.frozen or any(k.startswith(prefix) for k in state_dict):
            return  # trainable, or an older checkpoint that stored the frozen weights
        state_dict.update(module.full_state_dict(prefix=prefix, keep_vars=True))

    def full_state_dict(self, prefix: str = '', keep_vars: bool = False) -> dict:
        """The state dict including frozen weights (which ``state_dict()`` leaves out)."""
        self._in_state_dict = True
        try:
            return self.state_dict(prefix=prefix, keep_vars=keep_vars)
        finally:
            self._in_state_dict = False

    def _freeze(self) -> None:
        """Turn gradients off and switch to eval mode when ``frozen``."""
        if self.frozen:
            self.requires_grad_(False)
            nn.Module.train(self, False)

    def train(self, mode: bool = True):
        """Set train mode; a frozen module always stays in eval mode."""
        return nn.Module.train(self, False if self.frozen else mode)

    @property
    def device(self) -> torch.device:
        """torch.device: Device of the weights (outputs are put there)."""
        for p in self.parameters():
            return p.device
        return torch.device('cpu')

    @property
    def dtype(self) -> torch.dtype:
        """torch.dtype: Floating dtype of the weights (the outputs' dtype)."""
        for p in self.parameters():
            if p.is_floating_point():
                return p.dtype
        return torch.get_default_dtype()

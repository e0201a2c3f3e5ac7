"""Shim 1: mmengine checkpoints load under torch's ``weights_only=True`` default; resume works."""
import os.path as osp
import pickle
from contextlib import contextmanager

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from mdkit.engine import apply_compat_shims, mmengine_checkpoint_safe_globals
from mdkit.utils import register_all_modules


class _Pairs(Dataset):
    """8 deterministic (x, target) pairs."""

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        x = torch.linspace(-1, 1, 4) * (idx + 1) / 8
        return dict(inputs=x, targets=2 * x.sum() - 0.5)


def _tiny_model():
    from mmengine.model import BaseModel

    class TinyRegressor(BaseModel):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 1)

        def forward(self, inputs, targets=None, mode='tensor'):
            out = self.lin(inputs).squeeze(-1)
            if mode == 'loss':
                return dict(loss=((out - targets) ** 2).mean())
            return out

    torch.manual_seed(0)
    return TinyRegressor()


def _runner(work_dir, name, max_iters, ckpt_interval=None, resume=False):
    from mmengine.runner import Runner

    checkpoint = (dict(type='CheckpointHook', interval=ckpt_interval, by_epoch=False)
                  if ckpt_interval else None)
    return Runner(
        model=_tiny_model(),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(dataset=_Pairs(), batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        # momentum: the optimizer state must be resumed too for an exact match
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=checkpoint, logger=dict(type='LoggerHook', interval=1)),
        default_scope='mdkit',
        log_level='WARNING',
        resume=resume,
    )


@contextmanager
def _no_user_safe_globals():
    """Temporarily clear torch's user allow-list (as if no shim had run), then restore it."""
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        yield
    finally:
        torch.serialization.add_safe_globals(saved)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Train 2 iterations and checkpoint; return (work_dir, checkpoint path)."""
    register_all_modules()
    work_dir = tmp_path_factory.mktemp('resume')
    runner = _runner(work_dir, 'ckpt_part1', max_iters=2, ckpt_interval=2)
    runner.train()
    ckpt = osp.join(work_dir, 'iter_2.pth')
    assert osp.isfile(ckpt)
    return work_dir, ckpt


def test_checkpoint_needs_more_than_tensors(trained):
    """The checkpoint holds mmengine/numpy objects that the shim allow-lists."""
    _, ckpt = trained
    with _no_user_safe_globals():
        unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(ckpt))
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in unsafe
    allowed = {f'{g.__module__}.{g.__qualname__}' for g in mmengine_checkpoint_safe_globals()}
    assert unsafe <= allowed, unsafe - allowed


def test_weights_only_load_fails_without_shim_and_works_with_it(trained):
    _, ckpt = trained
    with _no_user_safe_globals():
        with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
            torch.load(ckpt, map_location='cpu')
        apply_compat_shims()
        state = torch.load(ckpt, map_location='cpu')  # weights_only stays True
    assert state['meta']['iter'] == 2
    assert 'message_hub' in state and 'optimizer' in state


def test_weights_only_stays_on(tmp_path):
    """The shim allow-lists; it does not switch ``weights_only`` off."""
    apply_compat_shims()
    path = tmp_path / 'evil.pth'
    torch.save({'obj': _Pairs()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_resume_matches_uninterrupted_training(trained, tmp_path):
    work_dir, _ = trained
    with _no_user_safe_globals():  # without shim 1 the Runner cannot resume
        broken = _runner(work_dir, 'ckpt_noshim', max_iters=4, resume=True)
        with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
            broken.train()

    straight = _runner(tmp_path, 'ckpt_straight', max_iters=4)
    straight.train()

    resumed = _runner(work_dir, 'ckpt_part2', max_iters=4, resume=True)
    resumed.train()
    assert resumed.iter == 4
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value)

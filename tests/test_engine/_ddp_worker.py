"""Worker for ``test_cpu_ddp.py``: run under torchrun (2 CPU processes, gloo).

Usage: ``torchrun --nproc_per_node 2 _ddp_worker.py OUT_DIR``. Each rank writes
``OUT_DIR/rank{R}.pt`` with what the test checks.
"""
import os
import sys

import torch
from torch import nn


def build_model():
    """A tiny mmengine ``BaseModel``: y = w.x + b with an MSE loss."""
    from mmengine.model import BaseModel

    class Tiny(BaseModel):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 1)

        def forward(self, inputs, targets=None, mode='tensor'):
            out = self.lin(inputs).squeeze(-1)
            if mode == 'loss':
                return dict(loss=((out - targets) ** 2).mean())
            return out

    torch.manual_seed(0)
    return Tiny()


class PairDataset(torch.utils.data.Dataset):
    """8 deterministic (x, sum(x)) pairs."""

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        x = torch.arange(4, dtype=torch.float32) * 0.1 * (idx + 1) - 0.2
        return dict(inputs=x, targets=x.sum() + 1.0)


def rank_batch(rank):
    """The batch each rank uses for the bare-DDP gradient check."""
    x = torch.arange(8, dtype=torch.float32).reshape(2, 4) * (rank + 1) * 0.1
    return x, x.sum(-1) * (1 - rank)


def main(out_dir):
    from mmengine.model import MMDistributedDataParallel
    from mmengine.runner import Runner

    from mdkit.engine import MDKitDistributedDataParallel, init_dist_if_needed
    from mdkit.utils import register_all_modules

    register_all_modules()
    # Without the shim, mmengine's own set-up fails on CPU (torch.cuda.set_device).
    from mmengine.dist import init_dist

    try:
        init_dist('pytorch', backend='gloo')
        mmengine_init_failed = False
    except Exception:  # AttributeError (no _cuda_setDevice) on CPU builds of torch
        mmengine_init_failed = True
    assert init_dist_if_needed('pytorch') is True
    import torch.distributed as dist

    rank, local_rank = dist.get_rank(), int(os.environ['LOCAL_RANK'])
    result = dict(backend=dist.get_backend(), world_size=dist.get_world_size(),
                  mmengine_init_failed=mmengine_init_failed)

    # Without the shim, DDP rejects device_ids for a CPU module.
    try:
        MMDistributedDataParallel(module=build_model(), device_ids=[local_rank])
        result['plain_ddp_failed'] = False
    except ValueError:
        result['plain_ddp_failed'] = True

    # Bare wrapper: gradients are averaged over the ranks.
    ddp = MDKitDistributedDataParallel(module=build_model(), device_ids=[local_rank])
    x, y = rank_batch(rank)
    ddp(x, y, mode='loss')['loss'].backward()
    result['grads'] = {k: p.grad.detach().clone() for k, p in ddp.module.named_parameters()}

    # Full Runner under --launcher pytorch with the CPU DDP wrapper.
    runner = Runner(
        model=build_model(),
        work_dir=os.path.join(out_dir, 'work_dir'),
        experiment_name='ddp_cpu_test',
        train_dataloader=dict(dataset=PairDataset(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=2),
        cfg=dict(model_wrapper_cfg=dict(type='mdkit.MDKitDistributedDataParallel')),
        launcher='pytorch',
        default_scope='mdkit',
        log_level='WARNING',
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=1)),
    )
    runner.train()
    result['wrapper'] = type(runner.model).__name__
    result['params'] = {k: v.detach().clone()
                        for k, v in runner.model.module.state_dict().items()}
    torch.save(result, os.path.join(out_dir, f'rank{rank}.pt'))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1])

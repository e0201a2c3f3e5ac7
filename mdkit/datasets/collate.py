"""Batch collation for variable-length motions: pad and mask."""
from __future__ import annotations

import torch

from mdkit.registry import FUNCTIONS

__all__ = ['motion_collate']


@FUNCTIONS.register_module()
def motion_collate(batch: list, pad_value: float = 0.0) -> dict:
    """Collate packed samples into a padded batch.

    Args:
        batch (list[dict]): Items ``dict(inputs=Tensor (T_i, D), data_samples=...)``
            as produced by ``PackMotionInputs``.
        pad_value (float): Value written into padded frames. Defaults to 0.

    Returns:
        dict: ``inputs=dict(motion=(B, T, D), mask=(B, T) bool, lengths=(B,))``
        with ``T = max T_i``, and ``data_samples`` as a list.
    """
    if not batch:
        raise ValueError('motion_collate got an empty batch')
    motions = [item['inputs'] for item in batch]
    dims = {m.shape[-1] for m in motions}
    if len(dims) != 1:
        raise ValueError(f'cannot batch motions with different feature widths {sorted(dims)}')
    lengths = torch.tensor([len(m) for m in motions], dtype=torch.long)
    t_max = int(lengths.max())
    padded = motions[0].new_full((len(motions), t_max, motions[0].shape[-1]), pad_value)
    for i, m in enumerate(motions):
        padded[i, :len(m)] = m
    mask = torch.arange(t_max)[None, :] < lengths[:, None]
    return dict(inputs=dict(motion=padded, mask=mask, lengths=lengths),
                data_samples=[item['data_samples'] for item in batch])

"""Comparing a state dict with the one a model expects (for clear mismatch reports)."""
from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ['state_dict_mismatch']


def state_dict_mismatch(expected: Mapping, given: Mapping, ignore_unexpected=()) -> tuple:
    """Keys and entries of ``given`` that do not fit ``expected``.

    Args:
        expected (Mapping[str, Tensor]): The model's state dict.
        given (Mapping[str, Any]): The state dict read from a file.
        ignore_unexpected (Sequence[str]): Key prefixes not reported as
            unexpected (e.g. frozen weights an older file still holds).

    Returns:
        tuple[list, list, list]: ``missing`` keys, ``unexpected`` keys (both
        sorted), and ``mismatched`` ``(key, given_value, expected_tensor)``
        for entries that are not tensors or have another shape.

    Example:
        >>> state_dict_mismatch({'w': torch.zeros(2)}, {'w': torch.zeros(3), 'b': 1})
        ([], ['b'], [('w', tensor([0., 0., 0.]), tensor([0., 0.]))])
    """
    prefixes = tuple(ignore_unexpected)
    missing = sorted(k for k in expected if k not in given)
    unexpected = sorted(k for k in given
                        if k not in expected and not (prefixes and k.startswith(prefixes)))
    mismatched = [(k, given[k], v) for k, v in expected.items() if k in given and (
        not torch.is_tensor(given[k]) or tuple(given[k].shape) != tuple(v.shape))]
    return missing, unexpected, mismatched

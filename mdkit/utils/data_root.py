"""Locate the shared real motion data folder."""
from __future__ import annotations

import os
import os.path as osp

__all__ = ['find_motion_data_root']


def find_motion_data_root(required: bool = True) -> str | None:
    """Return the folder holding the real motion data.

    Looks at ``$MDKIT_DATA`` first, then at ``../shared/motion_data`` relative
    to the current directory and to the mdkit checkout.

    Args:
        required (bool): Raise ``FileNotFoundError`` when nothing is found.
            Defaults to True.

    Returns:
        str | None: Absolute path, or None when not found and not required.
    """
    candidates = []
    env = os.environ.get('MDKIT_DATA')
    if env:
        candidates.append(env)
    repo_root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    candidates += [osp.join('..', 'shared', 'motion_data'),
                   osp.join(repo_root, '..', 'shared', 'motion_data')]
    for cand in candidates:
        if osp.isdir(cand):
            return osp.abspath(cand)
    if required:
        raise FileNotFoundError(
            'Real motion data not found. Set MDKIT_DATA to the motion_data folder '
            f'(looked in: {", ".join(candidates)}).')
    return None

"""Read the training scalars mmengine logs in a work dir (``<time>/vis_data/scalars.json``)."""
import glob
import json
import os.path as osp

__all__ = ['load_training_scalars', 'mean_training_scalars']


def load_training_scalars(work_dir: str) -> dict:
    """Logged training records of every run in ``work_dir``, one per iteration.

    A resumed run logs some iterations again; the newest record of an
    iteration wins. Validation records (no ``step`` or no loss) are left out.

    Args:
        work_dir (str): An mmengine work dir.

    Returns:
        dict: ``{iteration: record}``, sorted by iteration.

    Raises:
        FileNotFoundError: No ``*/vis_data/scalars.json`` under ``work_dir``,
            or none with a training loss.
    """
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir}: is it the work '
                                f'dir of a training run (tools/train.py --work-dir)?')
    by_step = {}
    for path in files:  # folder names are timestamps, so later runs come later
        with open(path) as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    if 'step' in record and 'loss' in record:
                        by_step[int(record['step'])] = record
    if not by_step:
        raise FileNotFoundError(f'no training loss records in {", ".join(files)}')
    return dict(sorted(by_step.items()))


def mean_training_scalars(work_dir: str, last: int, until: int | None = None) -> dict:
    """Mean of every logged ``loss*`` scalar over iterations ``(until - last, until]``.

    Args:
        work_dir (str): An mmengine work dir.
        last (int): Width of the window in iterations.
        until (int | None): Last iteration of the window (e.g. a checkpoint's);
            None means the last logged one. Defaults to None.

    Returns:
        dict: ``{key: mean}`` over the records in the window.

    Raises:
        ValueError: No logged record in the window.
    """
    records = load_training_scalars(work_dir)
    until = max(records) if until is None else until
    window = [r for step, r in records.items() if until - last < step <= until]
    if not window:
        raise ValueError(f'{work_dir}: no logged training record in iterations '
                         f'({until - last}, {until}]; logged: {min(records)}..{max(records)}')
    keys = sorted({k for r in window for k in r if k.startswith('loss')})
    return {k: sum(r[k] for r in window if k in r) / sum(k in r for r in window) for k in keys}

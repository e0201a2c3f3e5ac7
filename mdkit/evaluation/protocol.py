"""The text-to-motion test protocol: repeated test loops, mean and 95% CI, multimodality.

Each repetition re-generates every test motion with its own seed (sampling
noise, R-precision batches and diversity pairs all change), runs the config's
``test_evaluator`` and, when one of its metrics carries an evaluator network,
a multimodality pass: ``num_texts`` test captions, each generated
``num_repeats`` times at the ground-truth length. Every metric is then
reported as mean and ``1.96 * std / sqrt(N)`` over the N repetitions, the
convention of Guo et al. (CVPR 2022) that text-to-motion papers report.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from mmengine.logging import print_log

__all__ = ['mean_confidence_interval', 'run_test_protocol', 'protocol_markdown',
           'compare_markdown']

#: Columns of the standard table: (metric key without the gt_ prefix, header, lower is better).
T2M_COLUMNS = (
    ('r_precision_top1', 'R-Prec. top1 ↑'), ('r_precision_top2', 'top2 ↑'),
    ('r_precision_top3', 'top3 ↑'), ('fid', 'FID ↓'), ('matching_score', 'MM-Dist ↓'),
    ('diversity', 'Diversity →'), ('multimodality', 'MModality ↑'))
PLAUSIBILITY_COLUMNS = (
    ('foot_skate', 'Skate ↓'), ('penetration', 'Penetr. (m) ↓'), ('floating', 'Float (m) ↓'),
    ('jitter', 'Jitter (m/s³) ↓'), ('limb_speed', 'Limb speed (m/s) →'))


def mean_confidence_interval(values) -> tuple[float, float]:
    """Mean and 95% confidence half-width ``1.96 * std / sqrt(n)`` (population std).

    Args:
        values (Sequence[float]): One value per repetition.

    Returns:
        tuple[float, float]: ``(mean, ci95)``; ci95 is 0 for a single value.

    Example:
        >>> mean_confidence_interval([1.0, 3.0])
        (2.0, 1.96)
    """
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        raise ValueError('no values to summarise')
    return float(v.mean()), float(1.96 * v.std() / math.sqrt(v.size))


def _metric_objects(runner) -> list:
    return list(runner.test_loop.evaluator.metrics)  # builds the test loop if needed


def _find_embedding_metric(runner):
    """The first test metric that embeds motions with an evaluator (e.g. TextMotionMetric)."""
    for metric in _metric_objects(runner):
        if hasattr(metric, 'embed_motions') and hasattr(metric, 'evaluator'):
            return metric
    return None


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))


def _mm_prompts(dataset, num_texts: int) -> tuple[list, list]:
    """The first ``num_texts`` test samples' caption and ground-truth length."""
    samples = [dataset[i]['data_samples'] for i in range(min(num_texts, len(dataset)))]
    return [s.text for s in samples], [int(s.length) for s in samples]


def multimodality_pass(generator, metric, texts: list, lengths: list, num_repeats: int,
                       num_pairs: int, seed: int, batch_size: int = 64) -> float:
    """Generate ``num_repeats`` motions per text and measure their spread in evaluator space.

    Args:
        generator (MotionGenerator): The model under test (EMA weights loaded).
        metric (TextMotionMetric): Embeds the motions (``embed_motions``).
        texts (list[str]): Captions.
        lengths (list[int]): Ground-truth lengths in frames.
        num_repeats (int): Generations per text.
        num_pairs (int): Random pairs per text (at most ``num_repeats``).
        seed (int): Seed of the sampling and of the pair draws.
        batch_size (int): Motions per forward. Defaults to 64.

    Returns:
        float: Mean pairwise distance of repeats, averaged over texts.
    """
    from mdkit.evaluation.functional import multimodality
    results = generator.generate(texts, lengths, num_repetitions=num_repeats, seed=seed,
                           batch_size=batch_size)
    embs = [metric.embed_motions([r.pred_motion.float().cpu() for r in chunk],
                                 [int(r.length) for r in chunk])
            for chunk in (results[i:i + batch_size] for i in range(0, len(results), batch_size))]
    emb = np.concatenate(embs).reshape(len(texts), num_repeats, -1)
    return float(multimodality(emb, num_pairs=num_pairs, seed=seed))


def run_test_protocol(runner, repetitions: int = 20, seed: int = 0,
                      mm_num_texts: int = 100, mm_num_repeats: int = 30, mm_num_pairs: int = 10,
                      multimodality: bool = True, progress: bool = True,
                      generator=None) -> dict:
    """Run the test loop ``repetitions`` times and summarise every metric.

    Args:
        runner (mmengine.runner.Runner): Built from a config whose ``load_from``
            is the checkpoint under test.
        repetitions (int): Independent repetitions. Defaults to 20 (the protocol).
        seed (int): Base seed; repetition r uses ``seed + r``. Defaults to 0.
        mm_num_texts (int): Captions of the multimodality pass (capped at the
            test set size). Defaults to 100.
        mm_num_repeats (int): Generations per caption. Defaults to 30.
        mm_num_pairs (int): Pairs per caption. Defaults to 10.
        multimodality (bool): Run the multimodality pass when an evaluator is
            available. Defaults to True.
        progress (bool): Progress bar over repetitions. Defaults to True.
        generator (MotionGenerator | None): Samples the multimodality pass;
            None builds one from ``runner.cfg`` and its ``load_from``
            checkpoint (EMA weights when saved, like the test loop uses).

    Returns:
        dict: ``metrics`` (name -> ``dict(mean, ci95, values)``), ``settings``
        (repetitions, seeds, multimodality sizes, ``use_gt_length``, the
        evaluator's identity, test set size) and ``seconds``.
    """
    if repetitions < 1:
        raise ValueError(f'repetitions must be >= 1, got {repetitions}')
    from tqdm import tqdm
    metric = _find_embedding_metric(runner)
    evaluator = metric.evaluator if metric is not None else None
    dataset = runner.test_dataloader.dataset
    do_mm = bool(multimodality and metric is not None)
    if multimodality and metric is None:
        print_log('multimodality skipped: no metric of test_evaluator carries an evaluator '
                  'network (add TextMotionMetric)', logger='current', level=30)
    if do_mm:
        if mm_num_pairs > mm_num_repeats:
            raise ValueError(f'mm_num_pairs ({mm_num_pairs}) must not exceed mm_num_repeats '
                             f'({mm_num_repeats})')
        mm_texts, mm_lengths = _mm_prompts(dataset, mm_num_texts)
        if generator is None:
            from mdkit.apis import MotionGenerator
            generator = MotionGenerator.from_config(runner.cfg, runner.cfg.get('load_from'))
    per_rep, start = [], time.time()
    bar = tqdm(range(repetitions), desc='test repetitions', disable=not progress)
    for r in bar:
        _seed_everything(seed + r)
        for m in _metric_objects(runner):
            if hasattr(m, 'seed'):
                m.seed = seed + r
        values = {k: float(v) for k, v in (runner.test() or {}).items()}
        if do_mm:
            values['t2m/multimodality'] = multimodality_pass(
                generator, metric, mm_texts, mm_lengths, mm_num_repeats, mm_num_pairs,
                seed=seed + r)
        per_rep.append(values)
    keys = sorted({k for v in per_rep for k in v})
    metrics = {}
    for k in keys:
        vals = [v[k] for v in per_rep if k in v]
        mean, ci = mean_confidence_interval(vals)
        metrics[k] = dict(mean=mean, ci95=ci, values=vals)
    settings = dict(
        repetitions=repetitions, seeds=[seed + r for r in range(repetitions)],
        use_gt_length=True, test_samples=len(dataset),
        multimodality=dict(num_texts=len(mm_texts), num_repeats=mm_num_repeats,
                           num_pairs=mm_num_pairs) if do_mm else None,
        evaluator=evaluator.identity() if evaluator is not None else None)
    return dict(metrics=metrics, settings=settings, seconds=time.time() - start)


def _cell(metrics: dict, key: str) -> str:
    if key not in metrics:
        return '–'
    m = metrics[key]
    return f"{m['mean']:.3f} ± {m['ci95']:.3f}"


def protocol_markdown(result: dict, name: str = 'generated') -> str:
    """The result of :func:`run_test_protocol` as a Markdown table (real row first).

    Args:
        result (dict): Output of :func:`run_test_protocol`.
        name (str): Label of the generated row. Defaults to 'generated'.

    Returns:
        str: A table whose cells read ``mean ± ci95``.
    """
    return compare_markdown([(name, result)])


def compare_markdown(rows: list, extra_columns: list | None = None) -> str:
    """Several protocol results in one Markdown table: the real row, then one row each.

    The real row comes from the first result that has each metric (every
    result of one test split and evaluator has the same real values). A
    column appears when any result has it.
    The footnote lists each result's repetitions and evaluator, and says so
    when the results disagree on the test split size or the evaluator.

    Args:
        rows (list): ``(name, result)`` pairs; ``result`` is the output of
            :func:`run_test_protocol` (or the JSON ``tools/test.py`` writes).
        extra_columns (list | None): ``(header, cells)`` pairs appended on the
            right, ``cells`` holding one string per row of ``rows``.
            Defaults to None.

    Returns:
        str: A table whose cells read ``mean ± ci95``.
    """
    if not rows:
        raise ValueError('compare_markdown: no results to tabulate')
    extra_columns = list(extra_columns or [])
    for header, cells in extra_columns:
        if len(cells) != len(rows):
            raise ValueError(f'compare_markdown: column {header!r} has {len(cells)} cells for '
                             f'{len(rows)} rows')

    def keys(col: str) -> tuple[str, str]:
        """(real key, generated key) of a column."""
        group, leaf = col.split('/', 1)
        return f'{group}/gt_{leaf}', (f'{group}/pred_{leaf}' if group == 'plausibility'
                                      else col)

    cols = [(f't2m/{k}', h) for k, h in T2M_COLUMNS] + \
        [(f'plausibility/{k}', h) for k, h in PLAUSIBILITY_COLUMNS]
    cols = [(k, h) for k, h in cols
            if any(x in r['metrics'] for _, r in rows for x in keys(k))]
    headers = [h for _, h in cols] + [h for h, _ in extra_columns]
    lines = ['| | ' + ' | '.join(headers) + ' |', '|---|' + '---|' * len(headers)]
    # each real cell from the first result that has it: older results may lack newer metrics
    real = [next((_cell(r['metrics'], keys(k)[0]) for _, r in rows
                  if keys(k)[0] in r['metrics']), '–') for k, _ in cols]
    lines.append('| real | ' + ' | '.join(real + [''] * len(extra_columns)) + ' |')
    for i, (name, result) in enumerate(rows):
        gen = [_cell(result['metrics'], keys(k)[1]) for k, _ in cols]
        gen += [cells[i] for _, cells in extra_columns]
        lines.append(f'| {name} | ' + ' | '.join(gen) + ' |')
    settings = [r['settings'] for _, r in rows]
    reps = sorted({s['repetitions'] for s in settings})
    evaluators = {(s['evaluator'] or {}).get('checkpoint_sha256') for s in settings}
    samples = sorted({s['test_samples'] for s in settings})
    s = settings[0]
    lines.append('')
    note = (f"{'/'.join(map(str, reps))} repetitions, mean ± 95% CI; ground-truth lengths: "
            f"{s['use_gt_length']}; {'/'.join(map(str, samples))} test samples; evaluator: "
            f"{(s['evaluator'] or {}).get('type', 'none')}.")
    if len(evaluators) > 1 or len(samples) > 1:
        note += ' Warning: the results differ in evaluator or test split, so rows do not compare.'
    lines.append(note)
    return '\n'.join(lines)

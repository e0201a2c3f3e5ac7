"""tools/analysis/compare_results.py and the training-log readers it uses."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from mdkit.evaluation.protocol import compare_markdown
from mdkit.utils import load_training_scalars, mean_training_scalars

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis', 'compare_results.py')


def _work_dir(root, name, runs):
    """A work dir with one ``<time>/vis_data/scalars.json`` per run of (step, loss_a) records."""
    wd = osp.join(root, name)
    for i, records in enumerate(runs):
        os.makedirs(osp.join(wd, f'2026010{i}_000000', 'vis_data'))
        with open(osp.join(wd, f'2026010{i}_000000', 'vis_data', 'scalars.json'), 'w') as f:
            for step, a in records:
                f.write(json.dumps(dict(step=step, loss=2 * a, loss_a=a)) + '\n')
            f.write(json.dumps(dict(step=records[-1][0], **{'t2m/fid': 1.0})) + '\n')  # val
    return wd


def _result(wd, ckpt_iter, fid, reps=2, sha='abc'):
    metrics = {'t2m/fid': dict(mean=fid, ci95=0.01, values=[fid] * reps),
               't2m/gt_r_precision_top1': dict(mean=0.5, ci95=0.0, values=[0.5] * reps),
               't2m/r_precision_top1': dict(mean=0.25, ci95=0.02, values=[0.25] * reps)}
    settings = dict(repetitions=reps, use_gt_length=True, test_samples=10,
                    evaluator=dict(type='ContrastiveEvaluator', checkpoint_sha256=sha))
    return dict(checkpoint=osp.join(wd, f'iter_{ckpt_iter}.pth'), metrics=metrics,
                settings=settings)


def test_training_scalars_resume_and_window(tmp_path):
    # the second run resumed at 20 and re-logged step 30 with another value
    wd = _work_dir(str(tmp_path), 'run', [[(10, 4.0), (20, 3.0), (30, 9.0)],
                                          [(30, 2.0), (40, 1.0)]])
    records = load_training_scalars(wd)
    assert list(records) == [10, 20, 30, 40] and records[30]['loss_a'] == 2.0
    assert mean_training_scalars(wd, 20) == pytest.approx(dict(loss=3.0, loss_a=1.5))
    assert mean_training_scalars(wd, 20, until=20) == pytest.approx(dict(loss=7.0, loss_a=3.5))
    with pytest.raises(ValueError, match='no logged training record'):
        mean_training_scalars(wd, 5, until=45)
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        load_training_scalars(str(tmp_path / 'missing'))


def test_compare_markdown_rows_and_mismatch_warning(tmp_path):
    a, b = _result('x', 10, 0.3), _result('y', 10, 0.2)
    table = compare_markdown([('A', a), ('B', b)], [('train a', ['1.0', '2.0'])])
    lines = table.splitlines()
    assert lines[0] == '| | R-Prec. top1 ↑ | FID ↓ | train a |'
    assert lines[2] == '| real | 0.500 ± 0.000 | – |  |'
    assert lines[3] == '| A | 0.250 ± 0.020 | 0.300 ± 0.010 | 1.0 |'
    assert lines[4] == '| B | 0.250 ± 0.020 | 0.200 ± 0.010 | 2.0 |'
    assert 'Warning' not in table
    # a real value only the second (newer) result has still fills the real row
    b['metrics']['plausibility/gt_limb_speed'] = dict(mean=0.45, ci95=0.0, values=[0.45] * 2)
    b['metrics']['plausibility/pred_limb_speed'] = dict(mean=0.25, ci95=0.01, values=[0.25] * 2)
    lines = compare_markdown([('A', a), ('B', b)]).splitlines()
    assert lines[0].endswith('| Limb speed (m/s) → |')
    assert lines[2] == '| real | 0.500 ± 0.000 | – | 0.450 ± 0.000 |'
    assert lines[3].endswith('| – |') and lines[4].endswith('| 0.250 ± 0.010 |')
    other = compare_markdown([('A', a), ('C', _result('z', 10, 0.2, reps=3, sha='def'))])
    assert '2/3 repetitions' in other and 'do not compare' in other
    with pytest.raises(ValueError, match='cells'):
        compare_markdown([('A', a)], [('train a', ['1', '2'])])


def test_compare_results_tool(tmp_path):
    paths = []
    for name, fid, runs in (('one', 0.4, [[(10, 4.0), (20, 3.0)]]),
                            ('two', 0.2, [[(10, 2.0), (20, 1.0)]])):
        wd = _work_dir(str(tmp_path), name, runs)
        path = osp.join(wd, 'test.json')
        with open(path, 'w') as f:
            json.dump(_result(wd, 20, fid), f)
        paths.append(f'{name}={path}')
    out = str(tmp_path / 'table.md')
    proc = subprocess.run([sys.executable, TOOL, *paths, '--losses', '10', '--out', out],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '| one | 0.250 ± 0.020 | 0.400 ± 0.010 | 3.000 |' in proc.stdout
    assert '| two | 0.250 ± 0.020 | 0.200 ± 0.010 | 1.000 |' in proc.stdout
    with open(out) as f:
        assert f.read().strip() == proc.stdout.strip()
    bad = subprocess.run([sys.executable, TOOL, 'one'], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode != 0 and 'not NAME=RESULTS.json' in bad.stderr
    missing = subprocess.run([sys.executable, TOOL, f'x={tmp_path}/nope.json'], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and 'results file not found' in missing.stderr

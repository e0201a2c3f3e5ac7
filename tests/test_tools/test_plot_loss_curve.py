import json
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis', 'plot_loss_curve.py')


def test_plots_logged_losses(tmp_path):
    run = tmp_path / 'work' / '20260101_000000' / 'vis_data'
    run.mkdir(parents=True)
    with open(run / 'scalars.json', 'w') as f:
        for step in range(10, 110, 10):
            f.write(json.dumps(dict(step=step, loss=1.0 / step, loss_diffusion=0.5 / step)) + '\n')
        f.write(json.dumps(dict(step=100, **{'plausibility/pred_jitter': 3.0})) + '\n')
    out = tmp_path / 'curve.png'
    proc = subprocess.run([sys.executable, TOOL, str(tmp_path / 'work'), '--out', str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert 'loss: first 0.1000 -> last 0.0100' in proc.stdout
    assert out.stat().st_size > 5000


def test_missing_logs_error(tmp_path):
    proc = subprocess.run([sys.executable, TOOL, str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode != 0 and 'scalars.json' in proc.stderr

"""benchmarks/bench_train.py runs a config's real train steps (a smoke run, nothing timed)."""
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.parametrize('config', ['tmd_minilm-xattn-small_2k_cmu.py',
                                    'tmd_minilm-xattn-small-ag_2k_cmu.py'])
def test_bench_train_runs_a_config(config, mini_cmu_dataset):
    # the second config trains a weak guidance model: the optimizer must come from the
    # config's constructor (one wrapper per model), as in the Runner
    root = mini_cmu_dataset
    opts = [f'model.data_preprocessor.codec.mean={root}/Mean.npy',
            f'model.data_preprocessor.codec.std={root}/Std.npy',
            f'train_dataloader.dataset.data_root={root}',
            'model.denoiser.width=32', 'model.denoiser.num_layers=2', 'model.denoiser.ff_dim=64']
    proc = subprocess.run(
        [sys.executable, 'benchmarks/bench_train.py', osp.join('configs', 'baselines', config),
         '--iters', '1', '--warmup', '1', '--windows', '1', '--batch-size', '4',
         '--cfg-options', *opts],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'iterations/s:' in proc.stdout and 'batch 4' in proc.stdout

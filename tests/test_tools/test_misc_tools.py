"""tools/misc/list_modules.py and tools/misc/print_config.py run as subprocesses."""
import json
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _run(*args):
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_list_modules_all():
    proc = _run('tools/misc/list_modules.py')
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert 'REGISTRY' in out and 'DESCRIPTION' in out
    assert 'MDKitDistributedDataParallel' in out and 'mdkit.engine.model_wrappers' in out
    assert 'AmpOptimWrapper' not in out  # mmengine classes only with --include-parents


def test_list_modules_registry_filter_shows_bf16_wrapper():
    proc = _run('tools/misc/list_modules.py', '--registry', 'optim_wrapper')
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if 'BF16OptimWrapper' in ln]
    assert len(lines) == 1
    assert 'mdkit.engine.optim_wrappers' in lines[0] and 'bf16 autocast' in lines[0]
    assert 'MDKitDistributedDataParallel' not in proc.stdout


def test_list_modules_parents_grep_json():
    proc = _run('tools/misc/list_modules.py', '--registry', 'optim_wrapper',
                '--include-parents', '--grep', 'AMP|bf16', '--json')
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    by_name = {r['name']: r for r in rows}
    assert {'BF16OptimWrapper', 'AmpOptimWrapper'} <= set(by_name)
    assert 'OptimWrapper' not in by_name  # filtered out by --grep
    assert by_name['AmpOptimWrapper']['scope'] == 'mmengine'
    assert by_name['BF16OptimWrapper']['scope'] == 'mdkit'
    assert all(r['registry'] == 'optim_wrapper' for r in rows)


def test_list_modules_unknown_registry():
    proc = _run('tools/misc/list_modules.py', '--registry', 'optim_wraper')
    assert proc.returncode != 0
    assert "Did you mean 'optim_wrapper'" in proc.stderr
    assert 'Valid registries:' in proc.stderr and 'dataset' in proc.stderr


def test_print_config_default_runtime_with_override():
    proc = _run('tools/misc/print_config.py', 'configs/_base_/default_runtime.py',
                '--cfg-options', 'log_level=DEBUG', 'default_hooks.logger.interval=7')
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "default_scope = 'mdkit'" in out
    assert "log_level = 'DEBUG'" in out and 'interval=7' in out
    assert 'DistSamplerSeedHook' in out and 'model_wrapper_cfg' in out


def test_print_config_missing_file():
    proc = _run('tools/misc/print_config.py', 'configs/does_not_exist.py')
    assert proc.returncode != 0
    assert 'config file not found: configs/does_not_exist.py' in proc.stderr


def test_print_config_rejects_misspelt_option():
    proc = _run('tools/misc/print_config.py', 'configs/_base_/default_runtime.py',
                '--cfg-options', 'defualt_hooks.logger.interval=7')
    assert proc.returncode == 2
    assert "no top-level 'defualt_hooks'" in proc.stderr
    assert "Did you mean 'default_hooks'" in proc.stderr

import os.path as osp

import pytest
from mmengine.config import Config

from mdkit.utils import load_config, parse_named_files

CONFIG = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'baselines',
                  'tmd_minilm-xattn-small_2k_cmu.py')


def test_parse_named_files(tmp_path):
    a = tmp_path / 'a.pth'
    a.write_bytes(b'')
    pairs = parse_named_files([f'2k={a}', f'5k run={a}'], 'CHECKPOINT', 'checkpoint', 'k=c.pth')
    assert pairs == [('2k', str(a)), ('5k run', str(a))]
    for bad in (str(a), f'={a}', 'name='):
        with pytest.raises(ValueError, match=r'is not NAME=CHECKPOINT \(e.g. k=c.pth\)'):
            parse_named_files([bad], 'CHECKPOINT', 'checkpoint', 'k=c.pth')
    with pytest.raises(FileNotFoundError, match=r'results file not found: .*none.json \(run X\)'):
        parse_named_files([f'a={tmp_path / "none.json"}'], 'RESULTS.json', 'results file',
                          'a=r.json', hint='run X')
    with pytest.raises(ValueError, match="name '2k' is given twice"):
        parse_named_files([f'2k={a}', f'2k={a}'], 'CHECKPOINT', 'checkpoint', 'k=c.pth')


def test_load_config_applies_options():
    cfg = load_config(CONFIG, {'train_cfg.max_iters': 7, 'model.denoiser.width': 64,
                               'model.losses.acceleration.type': 'JointAccelerationLoss',
                               'randomness.seed': 3})
    assert cfg.train_cfg.max_iters == 7 and cfg.model.denoiser.width == 64
    assert cfg.model.losses.acceleration.type == 'JointAccelerationLoss'
    assert 'velocity' in cfg.model.losses  # a new nested key adds, it does not replace
    assert cfg.randomness.seed == 3  # a Runner argument the config does not set
    assert load_config(CONFIG).train_cfg.max_iters != 7


def test_load_config_updates_a_loaded_config_in_place():
    cfg = Config.fromfile(CONFIG)
    assert load_config(cfg, {'log_level': 'DEBUG'}) is cfg and cfg.log_level == 'DEBUG'


def test_load_config_rejects_unknown_top_level_option():
    with pytest.raises(ValueError, match=r"--cfg-options trian_cfg.max_iters: .* has no top-level "
                                         r"'trian_cfg' .* Did you mean 'train_cfg'"):
        load_config(CONFIG, {'trian_cfg.max_iters': 3})
    cfg = Config.fromfile(CONFIG)
    with pytest.raises(ValueError, match="no top-level 'modle'"):
        load_config(cfg, {'modle.denoiser.width': 8})
    assert 'modle' not in cfg  # nothing merged


def test_load_config_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'config file not found: .*nope.py'):
        load_config(str(tmp_path / 'nope.py'))

"""train -> resume -> test -> generate through the real tools, as subprocesses, on real data."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'baselines', 'tmd_minilm-xattn-small_2k_cmu.py')


def _options(data_root, max_iters):
    opts = {
        'model.denoiser.width': 32, 'model.denoiser.num_layers': 1, 'model.denoiser.num_heads': 2,
        'model.denoiser.ff_dim': 64, 'model.num_inference_steps': 2,
        'model.data_preprocessor.codec.mean': osp.join(data_root, 'Mean.npy'),
        'model.data_preprocessor.codec.std': osp.join(data_root, 'Std.npy'),
        'train_cfg.max_iters': max_iters, 'train_cfg.val_interval': 4,
        'default_hooks.checkpoint.interval': 2, 'default_hooks.logger.interval': 1,
        'param_scheduler': '[]',
    }
    for loader, bs in (('train_dataloader', 4), ('val_dataloader', 4), ('test_dataloader', 4)):
        opts[f'{loader}.dataset.data_root'] = data_root
        opts[f'{loader}.batch_size'] = bs
        opts[f'{loader}.num_workers'] = 0
        opts[f'{loader}.persistent_workers'] = False
    return [f'{k}={v}' for k, v in opts.items()]


def _run(args, cwd):
    proc = subprocess.run([sys.executable] + args, cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_round_trip(mini_cmu_dataset, tiny_evaluator_checkpoint, tmp_path):
    work = str(tmp_path / 'work')
    _run([osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir', work, '--cfg-options']
         + _options(mini_cmu_dataset, 4), REPO)
    assert osp.isfile(osp.join(work, 'iter_4.pth'))
    # resume from the latest checkpoint and train two more iterations
    proc = _run([osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir', work, '--resume',
                 '--cfg-options'] + _options(mini_cmu_dataset, 6), REPO)
    assert 'resumed' in (proc.stdout + proc.stderr).lower()
    assert osp.isfile(osp.join(work, 'iter_6.pth'))
    logs = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    assert logs
    # test loop -> JSON
    out_json = str(tmp_path / 'test.json')
    _run([osp.join(REPO, 'tools', 'test.py'), CONFIG, osp.join(work, 'iter_6.pth'),
          '--work-dir', work, '--out', out_json, '--repetitions', '2', '--mm-num-texts', '3',
          '--mm-num-repeats', '3', '--mm-num-pairs', '2', '--cfg-options']
         + _options(mini_cmu_dataset, 6)
         + [f'test_evaluator.0.evaluator.checkpoint={tiny_evaluator_checkpoint}'], REPO)
    with open(out_json) as f:
        record = json.load(f)
    metrics = record['metrics']
    assert 'plausibility/pred_foot_skate' in metrics and 'plausibility/gt_jitter' in metrics
    skate = metrics['plausibility/pred_foot_skate']
    assert len(skate['values']) == 2 and skate['ci95'] >= 0
    assert record['settings']['use_gt_length'] and record['settings']['repetitions'] == 2
    with open(out_json[:-5] + '.md') as f:
        assert '| real |' in f.read()
    for key in ('t2m/fid', 't2m/r_precision_top3', 't2m/gt_r_precision_top1', 't2m/diversity',
                't2m/matching_score', 't2m/multimodality'):
        assert len(metrics[key]['values']) == 2, key
    assert metrics['t2m/fid']['mean'] > 0
    ident = record['settings']['evaluator']
    assert ident['type'] == 'ContrastiveEvaluator' and len(ident['checkpoint_sha256']) == 64
    assert record['settings']['multimodality'] == dict(num_texts=3, num_repeats=3, num_pairs=2)
    # guidance sweep: CFG and auto-guidance against the earlier checkpoint
    sweep = str(tmp_path / 'sweep')
    proc = _run([osp.join(REPO, 'tools', 'analysis', 'guidance_sweep.py'), CONFIG,
                 osp.join(work, 'iter_6.pth'), '--weak-checkpoint', osp.join(work, 'iter_2.pth'),
                 '--scales', '1', '3', '--repetitions', '1', '--out-dir', sweep, '--cfg-options']
                + _options(mini_cmu_dataset, 6)
                + [f'test_evaluator.0.evaluator.checkpoint={tiny_evaluator_checkpoint}'], REPO)
    with open(osp.join(sweep, 'sweep.json')) as f:
        swept = json.load(f)
    assert [(r['guidance'], r['scale']) for r in swept['rows']] == [
        ('cfg', 1.0), ('cfg', 3.0), ('autoguidance', 1.0), ('autoguidance', 3.0)]
    fids = {(r['guidance'], r['scale']): r['metrics']['t2m/fid']['mean'] for r in swept['rows']}
    # scale 1 is the unguided model whichever reference, so those rows agree exactly
    assert fids[('cfg', 1.0)] == fids[('autoguidance', 1.0)]
    assert fids[('cfg', 3.0)] != fids[('cfg', 1.0)]
    assert 't2m/gt_diversity' in swept['real'] and osp.getsize(osp.join(sweep, 'sweep.png')) > 0
    # generate from a prompt file
    prompts = tmp_path / 'prompts.txt'
    prompts.write_text('a person walks forward#2.0s\nsomeone jumps#30\n')
    out_dir = str(tmp_path / 'gen')
    opts = _options(mini_cmu_dataset, 6)
    _run([osp.join(REPO, 'tools', 'generate.py'), CONFIG, osp.join(work, 'iter_6.pth'),
                 '--text-file', str(prompts), '--num-repetitions', '2', '--steps', '2',
                 '--out-dir', out_dir, '--cfg-options'] + opts, REPO)
    with open(osp.join(out_dir, 'results.json')) as f:
        results = json.load(f)
    assert len(results) == 4
    lengths = sorted({r['frames'] for r in results})
    assert lengths == [30, 40]
    for r in results:
        joints = np.load(r['joints'])
        assert joints.shape == (r['frames'], 22, 3) and np.isfinite(joints).all()
        assert np.load(r['features']).shape == (r['frames'], 263)
        assert osp.getsize(r['video']) > 1000
    # plausibility of the prompt file's motions for two checkpoints against the real test clips
    pngs, stats_json = str(tmp_path / 'pngs'), str(tmp_path / 'plaus.json')
    proc = _run([osp.join(REPO, 'tools', 'analysis', 'prompt_plausibility.py'), CONFIG,
                 f'early={osp.join(work, "iter_2.pth")}', f'late={osp.join(work, "iter_6.pth")}',
                 '--prompts', str(prompts), '--seeds', '2', '--steps', '2', '--png-dir', pngs,
                 '--frames', '3', '--json', stats_json, '--cfg-options'] + opts, REPO)
    with open(stats_json) as f:
        report = json.load(f)
    assert set(report['rows']) == {'early', 'late'} and report['real']['split'] == 'test'
    assert report['real']['clips'] > 0 and report['real']['mean']['limb_speed'] > 0.1
    late = report['rows']['late']
    assert len(late['per_prompt']) == 2 and late['mean'] != report['rows']['early']['mean']
    assert abs(np.mean([p['jitter'] for p in late['per_prompt']]) - late['mean']['jitter']) < 1e-6
    assert sorted(os.listdir(pngs)) == ['early_0.png', 'early_1.png', 'late_0.png', 'late_1.png']
    assert '| real (test, ' in proc.stdout and '| late |' in proc.stdout
    # one-call reconstructions of noised real clips for two checkpoints
    probe_json = str(tmp_path / 'probe.json')
    proc = _run([osp.join(REPO, 'tools', 'analysis', 'denoiser_probe.py'), CONFIG,
                 f'early={osp.join(work, "iter_2.pth")}', f'late={osp.join(work, "iter_6.pth")}',
                 '--timesteps', '0', '500', '--clips', '3', '--split', 'train',
                 '--json', probe_json, '--cfg-options'] + opts, REPO)
    with open(probe_json) as f:
        probe = json.load(f)
    assert probe['real']['clips'] == 3 and probe['real']['limb_speed'] > 0.1
    assert set(probe['rows']) == {'early', 'late'}
    for rows in probe['rows'].values():
        assert set(rows) == {'0', '500'}
        assert all(np.isfinite(list(r.values())).all() and r['mse'] > 0 for r in rows.values())
    assert probe['rows']['early']['0'] != probe['rows']['late']['0']
    assert '| late | 500 |' in proc.stdout and '| real (3 clips) |' in proc.stdout


def test_generate_rejects_bad_input(mini_cmu_dataset, tmp_path):
    work = str(tmp_path / 'w')
    _run([osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir', work, '--cfg-options']
         + _options(mini_cmu_dataset, 2), REPO)
    ckpt = osp.join(work, 'iter_2.pth')
    opts = _options(mini_cmu_dataset, 2)
    walk = ['--text', 'walk']
    for extra, more_opts, msg in (
            (['--text', '   '], [], 'empty'),
            (walk + ['--length', '500'], [], 'outside [1, 196]'),
            (walk + ['--length', 'abc'], [], 'cannot parse length'),
            (walk, ['model.num_inference_step=3'], "Did you mean 'num_inference_steps'"),
            (walk, ['modle.max_length=3'], "no top-level 'modle'")):
        proc = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'generate.py'), CONFIG,
                               ckpt, '--no-video', '--out-dir', str(tmp_path / 'g')] + extra
                              + ['--cfg-options'] + opts + more_opts, cwd=REPO,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode != 0 and msg in proc.stderr, proc.stderr[-2000:]
        assert 'Traceback' not in proc.stderr, proc.stderr[-2000:]


def test_denoiser_probe_rejects_bad_input(tmp_path):
    tool = osp.join(REPO, 'tools', 'analysis', 'denoiser_probe.py')
    ckpt = tmp_path / 'fake.pth'
    ckpt.write_bytes(b'')
    for args, msg in (([str(ckpt)], 'is not NAME=CHECKPOINT'),
                      ([f'a={tmp_path / "none.pth"}'], 'checkpoint not found'),
                      ([f'a={ckpt}', '--clips', '0'], '--clips must be >= 1'),
                      ([f'a={ckpt}', f'a={ckpt}'], 'twice')):
        proc = subprocess.run([sys.executable, tool, CONFIG] + args, cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0 and msg in proc.stderr, (args, proc.stderr[-2000:])


def test_prompt_plausibility_rejects_bad_input(tmp_path):
    tool = osp.join(REPO, 'tools', 'analysis', 'prompt_plausibility.py')
    ckpt = tmp_path / 'fake.pth'
    ckpt.write_bytes(b'')
    prompts = tmp_path / 'p.txt'
    prompts.write_text('walk#2s\n')
    with_video = tmp_path / 'v.txt'
    with_video.write_text('walk#2s#clip.mp4\n')
    for args, msg in (([str(ckpt)], 'is not NAME=CHECKPOINT'),
                      ([f'a={tmp_path / "none.pth"}'], 'checkpoint not found'),
                      ([f'a={ckpt}', '--seeds', '0'], '--seeds must be >= 1'),
                      ([f'a={ckpt}', '--prompts', str(tmp_path / 'none.txt')],
                       'prompt file not found'),
                      ([f'a={ckpt}', '--prompts', str(with_video)], 'text-only generation')):
        if '--prompts' not in args:
            args = args + ['--prompts', str(prompts)]
        proc = subprocess.run([sys.executable, tool, CONFIG] + args, cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0 and msg in proc.stderr, (args, proc.stderr[-2000:])

"""tools/dataset_converters/render_videos.py on real clips: outputs, resume, failures, seeds.

The first render, the resume run and the 2-worker runs are subprocesses (as users run the tool);
the other checks call the tool's ``main`` in this process with one worker (no start-up cost).
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mdkit.datasets import read_video

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join('tools', 'dataset_converters', 'render_videos.py')
sys.path.insert(0, osp.join(REPO, 'tools', 'dataset_converters'))
import render_videos  # noqa: E402


def _run(*args):
    return subprocess.run([sys.executable, TOOL, *args, '--no-progress'], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def _main(capsys, *args):
    """Run the tool in this process; returns (exit status, stdout)."""
    capsys.readouterr()
    status = render_videos.main([*args, '--no-progress'])
    return status, capsys.readouterr().out


@pytest.fixture(scope='module')
def tiny_root(mini_cmu_dataset, tmp_path_factory):
    """A HumanML3D-format folder with three real clips (short ones) in ``mini.txt``."""
    root = str(tmp_path_factory.mktemp('tiny_h3d'))
    os.makedirs(osp.join(root, 'new_joints'))
    src = osp.join(mini_cmu_dataset, 'new_joints')
    ids = sorted(f[:-4] for f in os.listdir(src) if not f.startswith('M'))
    ids = sorted(ids, key=lambda i: len(np.load(osp.join(src, i + '.npy'))))[:3]
    for cid in ids:
        shutil.copy(osp.join(src, cid + '.npy'), osp.join(root, 'new_joints'))
    with open(osp.join(root, 'mini.txt'), 'w') as f:
        f.write(''.join(i + '\n' for i in ids))
    return root


def _ids(root, split='mini'):
    with open(osp.join(root, f'{split}.txt')) as f:
        return [ln.strip() for ln in f if ln.strip()]


def _cameras(out):
    with open(osp.join(out, 'cameras.jsonl')) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def test_render_resume_and_rerender(tiny_root, tmp_path, capsys):
    out = str(tmp_path / 'videos')
    ids = _ids(tiny_root)
    proc = _run(tiny_root, '--split', 'mini', '--out-dir', out, '--size', '64', '--workers', '2')
    assert proc.returncode == 0, proc.stderr
    assert 'mini: 3 clips done, 0 skipped, 0 failed' in proc.stdout
    assert 'frames/s' in proc.stdout
    records = {r['id']: r for r in _cameras(out)}
    assert set(records) == set(ids)
    for cid in ids:
        joints = np.load(osp.join(tiny_root, 'new_joints', cid + '.npy'))
        clip = read_video(osp.join(out, cid + '.mp4'))
        assert clip.shape == (len(joints), 64, 64, 3)  # 20 fps in, 20 fps out
        rec = records[cid]
        assert rec['seed'] == render_videos.clip_seed(0, cid)
        assert rec['num_frames'] == len(joints) and rec['fps'] == 20.0
        assert -180 <= rec['azimuth'] <= 180 and 5 <= rec['elevation'] <= 30
        assert 3.0 <= rec['distance'] <= 4.5
        # VideoMAE input
        assert read_video(osp.join(out, cid + '.mp4'), num_frames=16, size=224).shape == (
            16, 224, 224, 3)
    assert len({records[c]['azimuth'] for c in ids}) == 3
    assert not [f for f in os.listdir(out) if f.endswith('.tmp.mp4')]
    with open(osp.join(out, 'render_config.json')) as f:
        assert json.load(f)['renderer']['size'] == 64
    mtimes = {c: os.stat(osp.join(out, c + '.mp4')).st_mtime_ns for c in ids}

    # a second run skips everything
    proc = _run(tiny_root, '--split', 'mini', '--out-dir', out, '--size', '64', '--workers', '2')
    assert proc.returncode == 0, proc.stderr
    assert '0 clips done, 3 skipped, 0 failed' in proc.stdout
    assert {c: os.stat(osp.join(out, c + '.mp4')).st_mtime_ns for c in ids} == mtimes
    assert len(_cameras(out)) == 3

    # a missing and a truncated clip are rendered again, the same way
    os.remove(osp.join(out, ids[0] + '.mp4'))
    with open(osp.join(out, ids[1] + '.mp4'), 'r+b') as f:
        f.truncate(1000)
    with open(osp.join(out, f'.{ids[2]}.999999999.tmp.mp4'), 'wb') as f:  # left by a killed run
        f.write(b'partial')
    status, stdout = _main(capsys, tiny_root, '--split', 'mini', '--out-dir', out, '--size',
                           '64', '--workers', '1')
    assert status == 0
    assert '2 clips done, 1 skipped, 0 failed' in stdout
    assert not [f for f in os.listdir(out) if f.endswith('.tmp.mp4')]
    again = {}
    for r in _cameras(out):
        again[r['id']] = r  # the last record of an id wins
    assert again == records == render_videos.load_cameras(osp.join(out, 'cameras.jsonl'))
    assert read_video(osp.join(out, ids[1] + '.mp4')).shape[0] == records[ids[1]]['num_frames']

    # other settings in the same folder: refused unless --overwrite
    with pytest.raises(SystemExit, match='--overwrite'):
        _main(capsys, tiny_root, '--split', 'mini', '--out-dir', out, '--size', '32',
              '--workers', '1')
    status, stdout = _main(capsys, tiny_root, '--split', 'mini', '--out-dir', out, '--size',
                           '32', '--workers', '1', '--overwrite', '--num-frames', '8')
    assert status == 0
    assert '3 clips done, 0 skipped' in stdout
    assert read_video(osp.join(out, ids[0] + '.mp4')).shape == (8, 32, 32, 3)


def test_results_do_not_depend_on_workers_or_order(tiny_root, tmp_path, capsys):
    outs = [str(tmp_path / 'w1'), str(tmp_path / 'w2')]
    status, _ = _main(capsys, tiny_root, '--split', 'mini', '--out-dir', outs[0], '--size', '48',
                      '--workers', '1', '--num-frames', '6')
    assert status == 0
    proc = _run(tiny_root, '--split', 'mini', '--out-dir', outs[1], '--size', '48', '--workers',
                '2', '--num-frames', '6')
    assert proc.returncode == 0, proc.stderr
    a = render_videos.load_cameras(osp.join(outs[0], 'cameras.jsonl'))
    b = render_videos.load_cameras(osp.join(outs[1], 'cameras.jsonl'))
    assert a == b
    for cid in a:
        np.testing.assert_array_equal(read_video(osp.join(outs[0], cid + '.mp4')),
                                      read_video(osp.join(outs[1], cid + '.mp4')))
    # --limit renders the first ids of the split; another --seed changes the cameras
    out = str(tmp_path / 'seed1')
    status, _ = _main(capsys, tiny_root, '--split', 'mini', '--out-dir', out, '--size', '48',
                      '--limit', '1', '--seed', '1', '--num-frames', '6', '--workers', '1')
    assert status == 0
    c = render_videos.load_cameras(osp.join(out, 'cameras.jsonl'))
    first = _ids(tiny_root)[0]
    assert list(c) == [first] and c[first]['azimuth'] != a[first]['azimuth']


def test_failed_clip_is_reported_and_the_run_goes_on(tiny_root, tmp_path, capsys):
    root = str(tmp_path / 'data')
    shutil.copytree(tiny_root, root)
    ids = _ids(root)
    bad = np.load(osp.join(root, 'new_joints', ids[0] + '.npy'))
    bad[3, 4, 1] = np.nan
    np.save(osp.join(root, 'new_joints', 'nan_clip.npy'), bad)
    with open(osp.join(root, 'new_joints', 'junk_clip.npy'), 'wb') as f:
        f.write(b'not numpy')
    with open(osp.join(root, 'mini.txt'), 'a') as f:
        f.write('nan_clip\njunk_clip\nmissing_clip\n')
    out = str(tmp_path / 'videos')
    status, stdout = _main(capsys, root, '--split', 'mini', '--out-dir', out, '--size', '32',
                           '--workers', '1', '--num-frames', '4')
    assert status == 1
    assert '3 clips done, 0 skipped, 3 failed' in stdout
    assert 'failed: nan_clip: ValueError' in stdout and 'non-finite' in stdout
    assert 'failed: junk_clip:' in stdout
    assert 'failed: missing_clip: FileNotFoundError' in stdout
    assert set(render_videos.load_cameras(osp.join(out, 'cameras.jsonl'))) == set(ids)
    assert sorted(f for f in os.listdir(out) if f.endswith('.mp4')) == sorted(
        i + '.mp4' for i in ids)


def test_joints_recovered_from_features(tiny_root, mini_cmu_dataset, tmp_path, capsys):
    cid = _ids(tiny_root)[0]
    root = str(tmp_path / 'vecs_only')
    os.makedirs(osp.join(root, 'new_joint_vecs'))
    shutil.copy(osp.join(mini_cmu_dataset, 'new_joint_vecs', cid + '.npy'),
                osp.join(root, 'new_joint_vecs'))
    with open(osp.join(root, 'one.txt'), 'w') as f:
        f.write(cid + '\n')
    joints = render_videos.load_joints(root, cid)
    ref = np.load(osp.join(tiny_root, 'new_joints', cid + '.npy'))
    assert joints.shape == ref.shape
    assert np.abs(joints - ref).max() < 1e-3
    status, _ = _main(capsys, root, '--split', 'one', '--size', '32', '--num-frames', '4',
                      '--workers', '1')
    assert status == 0
    assert read_video(osp.join(root, 'videos', cid + '.mp4')).shape == (4, 32, 32, 3)


def test_bad_arguments(tiny_root, tmp_path, capsys):
    with pytest.raises(SystemExit, match='not a folder'):
        _main(capsys, str(tmp_path / 'nowhere'), '--split', 'mini')
    with pytest.raises(SystemExit, match="nosuch.txt.*'mini'"):
        _main(capsys, tiny_root, '--split', 'nosuch', '--out-dir', str(tmp_path / 'v'))
    with pytest.raises(SystemExit, match='at least 16x16'):
        _main(capsys, tiny_root, '--split', 'mini', '--out-dir', str(tmp_path / 'v'), '--size',
              '4')

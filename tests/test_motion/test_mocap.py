"""Real mocap readers (BVH, ASF/AMC), joint maps to the 22-joint skeleton, resampling."""
import dataclasses
import json
import os
import os.path as osp
import tempfile
import time
import warnings
import zipfile

import numpy as np
import pytest

from mdkit.motion.asf_amc import read_asf, read_asf_amc
from mdkit.motion.bvh import read_bvh
from mdkit.motion.joint_maps import (
    BUILTIN_JOINT_MAPS,
    EndSite,
    JointMap,
    Lerp,
    MocapWarning,
    get_joint_map,
    naive_joint_map,
    validate_joints,
)
from mdkit.motion.mocap import load_mocap, load_trial, resample
from mdkit.motion.skeletons import HUMANML3D_SKELETON

NAMES = HUMANML3D_SKELETON.joint_names


@pytest.fixture(scope='module')
def trials(cmu_root):
    with open(osp.join(cmu_root, 'available_trials.json')) as f:
        return {e['trial']: e for e in json.load(f)}


def _member(cmu_root, rel):
    """Bytes of ``cmu/<folder>/<file>`` read from ``<cmu_root>/<folder>.zip``."""
    rel = rel[len('cmu/'):]
    with zipfile.ZipFile(osp.join(cmu_root, rel.split('/')[0] + '.zip')) as zf:
        return zf.read(rel)


def _check_clip(clip, min_height=1.2):
    j = clip.joints
    assert j.ndim == 3 and j.shape[1:] == (22, 3) and j.dtype == np.float64
    assert np.isfinite(j).all()
    rep = validate_joints(j, on_varying='raise', source=clip.source)
    assert rep.first_frame_lengths.min() >= 0.01
    assert rep.length_cv.max() < 0.05
    # Head joint (skull base) above the lowest foot joint when standing. The
    # cgspeed conversions drop the ASF thorax length, so their head is ~0.12 m low.
    assert min_height <= rep.height <= 2.0, rep.height
    # Y up: the pelvis->neck vector points up in most frames, head above pelvis.
    assert rep.upright_fraction > 0.5
    assert np.median(j[:, NAMES.index('head'), 1] - j[:, 0, 1]) > 0.3
    # Metres: plausible thigh length.
    thigh = rep.lengths[list(rep.bone_names).index('left_hip->left_knee')]
    assert 0.3 < thigh < 0.55


# One (short) trial per convention: (trial, alternate index or None).
CASES = {
    'cgspeed31': ('07_12', None),
    'cgspeed_max31': ('131_01', None),
    'cmu_asfnames31': ('16_01', None),
    'daz43': ('10_04', None),
    'cmu_asf': ('16_15', None),        # a trimmed AMC (starts at frame 10)
    'iclone_cc': ('07_12', 0),
}


@pytest.mark.parametrize('skeleton', sorted(CASES))
def test_each_convention_loads_from_zip(cmu_root, trials, skeleton):
    trial, alt = CASES[skeleton]
    entry = trials[trial]
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        clip = load_trial(entry, cmu_root, alternate=alt)
    assert clip.skeleton == skeleton and clip.trial == trial
    if alt is None:
        assert entry['skeleton'] == skeleton
        assert clip.fps == entry['cmu_fps']
        assert clip.num_frames == entry['frames_in_file'] - entry['skip_leading_frames']
    else:
        assert entry['alternates'][alt]['skeleton'] == skeleton
        assert clip.fps == pytest.approx(60.0, rel=1e-3)  # iClone copies are at 60 fps
        assert clip.duration_s == pytest.approx(entry['duration_s'], abs=0.1)
    _check_clip(clip)


def test_header_fps_is_overridden_by_cmu_fps(cmu_root, trials):
    entry = trials['16_01']  # header says 30 fps, data is 120 fps
    clip = load_trial(entry, cmu_root)
    assert clip.header_fps == pytest.approx(30.0, rel=1e-3)
    assert clip.fps == 120.0


def test_load_mocap_detects_convention_and_reads_zip(cmu_root):
    clip = load_mocap('cgspeed_motionviewer/07_12.bvh',
                      zip_path=osp.join(cmu_root, 'cgspeed_motionviewer.zip'),
                      skip_leading_frames=1)
    assert clip.skeleton == 'cgspeed31'
    assert clip.fps == pytest.approx(120.0, rel=1e-3)
    assert '07_12.bvh' in clip.source
    # spine1 / collars are interpolated (the source has no distinct points for them).
    assert BUILTIN_JOINT_MAPS['cgspeed31'].describe('spine1') == "lerp('Hips', 'Spine', 0.5)"
    _check_clip(clip)


def test_naive_cgspeed_map_is_refused(cmu_root):
    with pytest.raises(ValueError, match=r'pelvis->spine1 has length 0\.000 m') as info:
        load_mocap('cgspeed_motionviewer/07_12.bvh', joint_map=naive_joint_map('cgspeed31'),
                   zip_path=osp.join(cmu_root, 'cgspeed_motionviewer.zip'))
    msg = str(info.value)
    assert 'spine3->left_collar' in msg and 'spine3->right_collar' in msg
    assert 'lerp' in msg and '07_12.bvh' in msg and "'LowerBack'" in msg


@pytest.mark.parametrize('skeleton,member,bone', [
    ('cgspeed_max31', 'cgspeed_bvh/131_01.bvh', 'pelvis->spine1'),
    ('cmu_asfnames31', 'daz_przestr/16_01.bvh', 'spine3->left_collar'),
    ('cmu_asf', 'asfamc_cheloshkina/16_15.amc', 'pelvis->spine1'),
])
def test_other_naive_cmu_maps_are_refused(cmu_root, skeleton, member, bone):
    zip_path = osp.join(cmu_root, member.split('/')[0] + '.zip')
    with pytest.raises(ValueError, match=bone):
        load_mocap(member, joint_map=naive_joint_map(skeleton), zip_path=zip_path)
    _check_clip(load_mocap(member, skeleton=skeleton, zip_path=zip_path))


def test_up_axis_conversion(cmu_root):
    motion = read_bvh(_member(cmu_root, 'cmu/cgspeed_motionviewer/07_12.bvh'))
    ref = BUILTIN_JOINT_MAPS['cgspeed31'].apply(motion)

    class ZUp:  # the same motion with Z up: (x, y, z) -> (x, -z, y)
        def point(self, name):
            p = motion.point(name)
            return np.stack([p[:, 0], -p[:, 2], p[:, 1]], axis=-1)

    zmap = dataclasses.replace(BUILTIN_JOINT_MAPS['cgspeed31'], up_axis='z')
    np.testing.assert_allclose(zmap.apply(ZUp()), ref, atol=1e-12)


def test_bvh_fk_matches_bvhio(cmu_root):
    data = _member(cmu_root, 'cmu/cgspeed_motionviewer/07_12.bvh')
    motion = read_bvh(data, name='07_12.bvh')
    import bvhio  # already imported (and its PyGLM warning silenced) by read_bvh

    with tempfile.NamedTemporaryFile('wb', suffix='.bvh', delete=False) as f:
        f.write(data)
    try:
        root = bvhio.readAsHierarchy(f.name)
    finally:
        os.remove(f.name)
    for frame in (0, 100, motion.num_frames - 1):
        root.loadPose(frame)
        for joint, _, _ in root.layout():
            np.testing.assert_allclose(motion.point(joint.Name)[frame],
                                       np.array(joint.PositionWorld), atol=5e-5)


def test_daz_toe_is_foot_end_site(cmu_root):
    data = _member(cmu_root, 'cmu/daz_przestr/10_04.bvh')
    m = read_bvh(data, name='10_04.bvh', with_rotations=True)
    j = m.joint_names.index('lFoot')
    expect = m.positions[:, j] + m.rotations[:, j] @ m.end_site_offsets['lFoot']
    np.testing.assert_allclose(m.end_site('lFoot'), expect)
    assert BUILTIN_JOINT_MAPS['daz43'].joints[NAMES.index('left_foot')] == EndSite('lFoot')


def test_bvh_load_speed(cmu_root):
    data = _member(cmu_root, 'cmu/cgspeed_motionviewer/01_06.bvh')  # 5134 frames, 31 joints
    t0 = time.perf_counter()
    m = read_bvh(data, name='01_06.bvh')
    assert m.positions.shape == (5134, 31, 3)
    assert time.perf_counter() - t0 < 3.0


def test_asf_amc_matches_cgspeed_bvh_02_01(cmu_root):
    asf = read_asf(_member(cmu_root, 'cmu/asfamc_cheloshkina/02.asf'), name='02.asf')
    amc = read_asf_amc(asf, _member(cmu_root, 'cmu/asfamc_cheloshkina/02_01.amc'),
                       amc_name='02_01.amc')
    bvh = read_bvh(_member(cmu_root, 'cmu/cgspeed_motionviewer/02_01.bvh'), name='02_01.bvh')
    assert amc.num_frames == bvh.num_frames - 1  # the BVH has a leading T-pose
    scale = BUILTIN_JOINT_MAPS['cmu_asf'].scale
    same = {'root': 'Hips', 'lhipjoint': 'LeftUpLeg', 'lfemur': 'LeftLeg', 'ltibia': 'LeftFoot',
            'lfoot': 'LeftToeBase', 'rhipjoint': 'RightUpLeg', 'rfemur': 'RightLeg',
            'rtibia': 'RightFoot', 'rfoot': 'RightToeBase', 'lowerback': 'Spine',
            'upperback': 'Spine1'}
    for bone, joint in same.items():
        # BVH angles carry 4 decimals, hence 1e-5 m rather than 1e-6 m.
        np.testing.assert_allclose(amc.point(bone) * scale, bvh.point(joint)[1:] * scale,
                                   atol=1e-5, err_msg=bone)
    assert np.allclose(amc.point('ltoes'), bvh.end_site('LeftToeBase')[1:], atol=2e-4)
    # Known quirk: cgspeed drops the thorax length, so its neck sits ~0.117 m lower.
    gap = np.linalg.norm(amc.point('thorax') - bvh.point('Neck')[1:], axis=-1) * scale
    assert np.allclose(gap, 0.117, atol=0.002)
    # Through the joint maps: lower body and spine (pelvis..right_foot) agree.
    lower = [NAMES.index(n) for n in NAMES[:12]]
    a = BUILTIN_JOINT_MAPS['cmu_asf'].apply(amc)
    b = BUILTIN_JOINT_MAPS['cgspeed31'].apply(bvh)[1:]
    np.testing.assert_allclose(a[:, lower], b[:, lower], atol=1e-5)


def test_trimmed_amc_frame_numbers(cmu_root, trials):
    entry = trials['16_15']
    asf = read_asf(_member(cmu_root, entry['asf']))
    m = read_asf_amc(asf, _member(cmu_root, entry['file']), amc_name='16_15.amc')
    assert m.frame_numbers[0] == 10
    np.testing.assert_array_equal(np.diff(m.frame_numbers), 1)
    assert m.num_frames == entry['frames_in_file']


def test_corrupt_bvh_errors_name_the_file(cmu_root, tmp_path):
    data = _member(cmu_root, 'cmu/cgspeed_motionviewer/07_12.bvh')
    text = data.decode()
    cut_motion = text[:len(text) - 3000]
    with pytest.raises(ValueError, match=r'bad\.bvh.*(truncated|values)'):
        read_bvh(cut_motion.encode(), name='bad.bvh')
    cut_header = text[:text.index('MOTION') // 2]
    with pytest.raises(ValueError, match=r'hdr\.bvh.*MOTION'):
        read_bvh(cut_header.encode(), name='hdr.bvh')
    # A broken hierarchy with a MOTION block still fails cleanly (no hang in bvhio).
    broken = text.replace('OFFSET 0.15935 -0.43781 1.94506', 'OFFSET 0.15935 -0.43781', 1)
    with pytest.raises(ValueError, match=r'broken\.bvh.*hierarchy at line \d+'):
        read_bvh(broken.encode(), name='broken.bvh')
    lines = text.splitlines()
    lines[-5] = lines[-5].replace('0', 'x', 1)
    with pytest.raises(ValueError, match=r'nan\.bvh.*non-numeric'):
        read_bvh('\n'.join(lines).encode(), name='nan.bvh')
    with pytest.raises(ValueError, match=r'amc\.bvh: not a BVH file'):
        read_bvh(_member(cmu_root, 'cmu/asfamc_cheloshkina/02_01.amc'), name='amc.bvh')
    path = tmp_path / 'trunc.bvh'
    path.write_text(cut_motion)
    with pytest.raises(ValueError, match='trunc.bvh'):
        load_mocap(str(path), skeleton='cgspeed31')


def test_corrupt_asf_amc_errors_name_the_file(cmu_root):
    asf_bytes = _member(cmu_root, 'cmu/asfamc_cheloshkina/02.asf')
    amc_text = _member(cmu_root, 'cmu/asfamc_cheloshkina/02_01.amc').decode()
    asf = read_asf(asf_bytes, name='02.asf')
    cut = amc_text[:len(amc_text) // 2]
    cut = cut[:cut.rindex('\n')]
    cut = cut[:cut.rindex('\n')]  # drop whole lines, so the last frame lacks bones
    with pytest.raises(ValueError, match=r'cut\.amc: frame \d+ is missing bones.*truncated'):
        read_asf_amc(asf, cut.encode(), amc_name='cut.amc')
    bad = amc_text.replace('lowerback 7.86573', 'lowerback 7.8xx', 1)
    with pytest.raises(ValueError, match=r'bad\.amc: line \d+: non-numeric'):
        read_asf_amc(asf, bad.encode(), amc_name='bad.amc')
    bad = amc_text.replace('rtibia 11.5302', 'rtibia 11.5302 3.0', 1)
    with pytest.raises(ValueError, match=r"count\.amc: line \d+: bone 'rtibia' has 2 values"):
        read_asf_amc(asf, bad.encode(), amc_name='count.amc')
    with pytest.raises(ValueError, match=r'bvh\.amc.*not an AMC file'):
        read_asf_amc(asf, _member(cmu_root, 'cmu/cgspeed_motionviewer/07_12.bvh'),
                     amc_name='bvh.amc')
    asf_text = asf_bytes.decode()
    with pytest.raises(ValueError, match=r'cut\.asf.*(hierarchy|no .end.)'):
        read_asf(asf_text[:asf_text.index(':hierarchy') - 40].encode(), name='cut.asf')
    with pytest.raises(ValueError, match=r'dir\.asf: line \d+: non-numeric direction'):
        read_asf(asf_text.replace('direction 0.34202', 'direction abc', 1).encode(),
                 name='dir.asf')


def test_user_json_map_round_trip(cmu_root, tmp_path):
    for name, jm in BUILTIN_JOINT_MAPS.items():
        path = tmp_path / f'{name}.json'
        jm.to_json(path)
        back = JointMap.from_json(path)
        assert back == jm and back.description == jm.description
    # A hand-written map: collars half-way, spine1 a third up.
    user = json.loads((tmp_path / 'cgspeed31.json').read_text())
    user['name'] = 'my_cgspeed'
    user['joints']['spine1'] = {'lerp': ['Hips', 'Spine', 1 / 3]}
    user['joints']['left_collar'] = {'lerp': ['Spine1', {'lerp': ['LeftArm', 'Neck1', 0.0]},
                                              0.5]}
    path = tmp_path / 'user.json'
    path.write_text(json.dumps(user))
    jm = get_joint_map(str(path))
    assert jm.joints[NAMES.index('spine1')] == Lerp('Hips', 'Spine', 1 / 3)
    zip_path = osp.join(cmu_root, 'cgspeed_motionviewer.zip')
    mine = load_mocap('cgspeed_motionviewer/07_12.bvh', joint_map=path, zip_path=zip_path)
    ref = load_mocap('cgspeed_motionviewer/07_12.bvh', skeleton='cgspeed31', zip_path=zip_path)
    assert mine.skeleton == 'my_cgspeed'
    changed = np.abs(mine.joints - ref.joints).max(axis=(0, 2)) > 1e-9
    assert [NAMES[i] for i in np.flatnonzero(changed)] == ['spine1', 'left_collar']
    # Schema errors are reported with the file name.
    del user['joints']['head']
    path.write_text(json.dumps(user))
    with pytest.raises(ValueError, match=r"user\.json.*missing \['head'\]"):
        JointMap.from_json(path)


def test_validate_joints_flags_nan_and_stretching():
    rng = np.random.default_rng(0)
    base = HUMANML3D_SKELETON.offsets()
    pos = np.zeros((22, 3))
    for j, p in enumerate(HUMANML3D_SKELETON.parents):
        if p >= 0:
            pos[j] = pos[p] + base[j]
    joints = np.repeat(pos[None], 10, axis=0) + rng.normal(0, 1e-4, (10, 22, 3))
    assert validate_joints(joints).ok
    bad = joints.copy()
    bad[3, NAMES.index('left_wrist'), 1] = np.nan
    with pytest.raises(ValueError, match='joint left_wrist .*frame 3'):
        validate_joints(bad)
    stretched = joints.copy()
    stretched[::2, NAMES.index('head')] += [0, 0.05, 0]
    with pytest.warns(MocapWarning, match='neck->head'):
        rep = validate_joints(stretched)
    assert rep.varying_bones == ('neck->head',)
    with pytest.raises(ValueError, match='neck->head'):
        validate_joints(stretched, on_varying='raise')


def test_resample_counts_and_linear_exactness():
    t = np.arange(2752) / 120.0
    lin = np.stack([1.0 + 2.0 * t, -0.5 * t, 3.0 + 0 * t], axis=-1)[:, None, :]  # (T, 1, 3)
    out = resample(lin, 120, 20)
    assert out.shape == (459, 1, 3)  # floor(2751 / 6) + 1
    tk = np.arange(459) / 20.0
    expect = np.stack([1.0 + 2.0 * tk, -0.5 * tk, 3.0 + 0 * tk], axis=-1)[:, None, :]
    np.testing.assert_allclose(out, expect, atol=1e-12)
    # Non-integer ratios and upsampling stay exact on linear motion.
    for src, dst in ((60, 20), (120, 30), (20, 30), (50, 20), (29.97, 20)):
        t = np.arange(301) / src
        x = (0.3 + 1.7 * t)[:, None]
        y = resample(x, src, dst)
        assert y.shape[0] == int(np.floor(300 * dst / src + 1e-9)) + 1
        np.testing.assert_allclose(y[:, 0], 0.3 + 1.7 * np.arange(len(y)) / dst, atol=1e-12)
    np.testing.assert_array_equal(resample(np.ones((1, 22, 3)), 120, 20), np.ones((1, 22, 3)))
    with pytest.raises(ValueError):
        resample(np.zeros((0, 22, 3)), 120, 20)

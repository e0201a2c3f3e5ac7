"""Load real mocap files (BVH, ASF/AMC) as 22-joint HumanML3D positions.

:func:`load_mocap` reads one BVH or ASF+AMC file (from disk or straight from a
zip archive, without extracting), maps it to the 22 HumanML3D joints with a
:class:`~mdkit.motion.joint_maps.JointMap`, converts to metres with Y up and
checks the bones (:func:`~mdkit.motion.joint_maps.validate_joints`).
:func:`load_trial` does the same for one entry of the CMU
``available_trials.json`` index, using its ``cmu_fps`` and
``skip_leading_frames``. :func:`resample` changes the frame rate by linear
interpolation.
"""
from __future__ import annotations

import dataclasses
import os
import os.path as osp
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .asf_amc import AsfAmcMotion, AsfSkeleton, asf_amc_fk, read_amc, read_asf
from .bvh import read_bvh
from .joint_maps import (
    BUILTIN_JOINT_MAPS,
    BoneReport,
    JointMap,
    detect_joint_map,
    get_joint_map,
    validate_joints,
)

__all__ = ['MocapClip', 'load_mocap', 'load_trial', 'resample', 'CMU_AMC_FPS']

CMU_AMC_FPS = 120.0  # AMC files carry no frame rate; CMU captured at 120 fps (a few at 60)


@dataclass
class MocapClip:
    """A mocap clip on the 22-joint HumanML3D skeleton.

    Args:
        joints (np.ndarray): (T, 22, 3) float64 positions in metres, Y up, at
            the source frame rate (leading frames already skipped).
        fps (float): Frame rate of ``joints``.
        source (str): File (and archive) it came from.
        skeleton (str): Name of the joint map / skeleton convention used.
        header_fps (float | None): Frame rate stated by the file header (BVH),
            which can be wrong; None for AMC.
        skip_leading_frames (int): Frames dropped from the start of the file.
        report (BoneReport | None): Bone check results.
        trial (str | None): CMU trial id when loaded with :func:`load_trial`.
    """

    joints: np.ndarray = field(repr=False)
    fps: float
    source: str
    skeleton: str
    header_fps: float | None = None
    skip_leading_frames: int = 0
    report: BoneReport | None = field(default=None, repr=False)
    trial: str | None = None

    @property
    def num_frames(self) -> int:
        """int: Number of frames T."""
        return int(self.joints.shape[0])

    @property
    def duration_s(self) -> float:
        """float: ``num_frames / fps`` in seconds."""
        return self.num_frames / self.fps

    def resampled(self, dst_fps: float = 20.0) -> MocapClip:
        """A copy at another frame rate (see :func:`resample`).

        Args:
            dst_fps (float): Target frame rate. Defaults to 20.

        Returns:
            MocapClip: The resampled clip.
        """
        return dataclasses.replace(self, joints=resample(self.joints, self.fps, dst_fps),
                                   fps=float(dst_fps))


def resample(joints: np.ndarray, src_fps: float, dst_fps: float = 20.0) -> np.ndarray:
    """Resample along time (axis 0) by linear interpolation.

    Output frame ``k`` is at time ``k / dst_fps``; frames run while that time is
    within the input (``0 .. (T - 1) / src_fps``), so there are
    ``floor((T - 1) * dst_fps / src_fps) + 1`` of them. The first output frame is
    the first input frame.

    Args:
        joints (np.ndarray): (T, ...) array, e.g. (T, J, 3) positions.
        src_fps (float): Input frame rate.
        dst_fps (float): Output frame rate. Defaults to 20.

    Returns:
        np.ndarray: (T', ...) float64 array.
    """
    x = np.asarray(joints, dtype=np.float64)
    if not (np.isfinite(src_fps) and np.isfinite(dst_fps) and src_fps > 0 and dst_fps > 0):
        raise ValueError(f'frame rates must be positive, got src_fps={src_fps}, '
                         f'dst_fps={dst_fps}')
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f'need at least one frame to resample, got shape {x.shape}')
    n = x.shape[0]
    n_out = int(np.floor((n - 1) * dst_fps / src_fps + 1e-9)) + 1
    pos = np.arange(n_out) * (src_fps / dst_fps)  # fractional input frame index
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (pos - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return (1.0 - w) * x[i0] + w * x[i1]


def _read_member(path_or_member: str, zip_path: str | os.PathLike | None,
                 zf: zipfile.ZipFile | None = None) -> tuple:
    """(bytes, label) of a file on disk or a member of a zip archive."""
    if zip_path is None and zf is None:
        if not osp.isfile(path_or_member):
            raise FileNotFoundError(f'mocap file not found: {path_or_member}')
        with open(path_or_member, 'rb') as f:
            return f.read(), os.fspath(path_or_member)
    label = f'{path_or_member} (in {os.fspath(zip_path) if zip_path else zf.filename})'
    try:
        if zf is not None:
            return zf.read(path_or_member), label
        with zipfile.ZipFile(zip_path) as z:
            return z.read(path_or_member), label
    except KeyError:
        raise FileNotFoundError(f'{label}: no such member in the archive') from None
    except zipfile.BadZipFile as exc:
        raise ValueError(f'{zip_path}: not a valid zip archive ({exc})') from None


def _default_asf(amc: str) -> str:
    """``.../02_01.amc`` -> ``.../02.asf`` (CMU naming: one ASF per subject)."""
    head, base = osp.split(amc)
    subject = base.split('_')[0].split('.')[0]
    return (head + '/' if head else '') + f'{subject}.asf'


def _resolve_map(joint_map, skeleton, bvh_names=None) -> JointMap:
    if joint_map is not None:
        return get_joint_map(joint_map)
    if skeleton is not None:
        return get_joint_map(skeleton)
    if bvh_names is None:
        return BUILTIN_JOINT_MAPS['cmu_asf']
    return detect_joint_map(bvh_names)


def load_mocap(path_or_member: str | os.PathLike, skeleton: str | None = None,
               joint_map: JointMap | str | os.PathLike | None = None,
               fps: float | None = None, skip_leading_frames: int = 0,
               zip_path: str | os.PathLike | None = None,
               asf: str | os.PathLike | AsfSkeleton | None = None, validate: bool = True,
               min_bone_length: float = 0.01, on_varying: str = 'warn') -> MocapClip:
    """Load a BVH or ASF/AMC file as (T, 22, 3) HumanML3D joints in metres, Y up.

    Args:
        path_or_member (str | os.PathLike): ``.bvh`` or ``.amc`` file path, or
            the member name inside ``zip_path`` (e.g.
            ``'cgspeed_motionviewer/01_01.bvh'``).
        skeleton (str | None): Built-in convention (``'cgspeed31'``,
            ``'cgspeed_max31'``, ``'cmu_asfnames31'``, ``'daz43'``, ``'cmu_asf'``,
            ``'iclone_cc'``). None: detected from the BVH joint names; AMC
            files use ``'cmu_asf'``.
        joint_map (JointMap | str | os.PathLike | None): A map, a built-in
            name or a JSON file; overrides ``skeleton``.
        fps (float | None): Frame rate of the file. Overrides the BVH header
            (some headers are wrong). None: the header for BVH, 120 for AMC.
        skip_leading_frames (int): Frames to drop at the start (e.g. a T-pose).
        zip_path (str | os.PathLike | None): Read ``path_or_member`` (and the
            ASF) from this zip archive, in memory.
        asf (str | os.PathLike | AsfSkeleton | None): For AMC: the ASF path (a
            member of ``zip_path`` when that is given) or a parsed skeleton
            (:func:`~mdkit.motion.asf_amc.read_asf`). None: ``<subject>.asf``
            next to the AMC (CMU naming, ``02_01.amc`` -> ``02.asf``).
        validate (bool): Run :func:`~mdkit.motion.joint_maps.validate_joints`.
        min_bone_length (float): Shortest allowed bone in metres.
        on_varying (str): ``'warn'``, ``'raise'`` or ``'ignore'`` for bone
            lengths that vary over time.

    Returns:
        MocapClip: ``joints`` (T, 22, 3) float64 metres, Y up, at ``fps``.

    Raises:
        FileNotFoundError: Missing file or archive member.
        ValueError: Corrupt file (message names it), unknown format, bad
            ``skip_leading_frames``, or failed bone checks.
    """
    path = os.fspath(path_or_member)
    ext = osp.splitext(path)[1].lower()
    zf = zipfile.ZipFile(zip_path) if zip_path is not None else None
    try:
        if ext == '.bvh':
            data, label = _read_member(path, None, zf)
            motion = read_bvh(data, name=label)
            jm = _resolve_map(joint_map, skeleton, motion.joint_names)
            header_fps = motion.fps
            src_fps = float(fps) if fps is not None else header_fps
        elif ext == '.amc':
            if isinstance(asf, AsfSkeleton):
                skel = asf
            else:
                asf_path = os.fspath(asf) if asf is not None else _default_asf(path)
                asf_data, asf_label = _read_member(asf_path, None, zf)
                skel = read_asf(asf_data, name=asf_label)
            data, label = _read_member(path, None, zf)
            amc = read_amc(data, skel, name=label)
            names, positions = asf_amc_fk(skel, amc)
            motion = AsfAmcMotion(source=label, bone_names=names, positions=positions,
                                  frame_numbers=amc.frame_numbers, skeleton=skel)
            jm = _resolve_map(joint_map, skeleton)
            if jm is BUILTIN_JOINT_MAPS['cmu_asf'] and not np.isclose(
                    jm.scale, skel.metres_per_unit, rtol=1e-4):
                jm = dataclasses.replace(jm, scale=skel.metres_per_unit)  # honour :units
            header_fps = None
            src_fps = float(fps) if fps is not None else CMU_AMC_FPS
        else:
            raise ValueError(f'{path}: unknown mocap format {ext!r} (expected .bvh or .amc; '
                             'for ASF/AMC pass the .amc and its asf=)')
    finally:
        if zf is not None:
            zf.close()

    if not (np.isfinite(src_fps) and src_fps > 0):
        raise ValueError(f'{label}: invalid frame rate {src_fps}; pass fps=')
    try:
        joints = jm.apply(motion)
    except KeyError as exc:
        raise ValueError(f'{label}: joint map {jm.name!r} does not fit this skeleton: '
                         f'{exc.args[0]}') from None
    n = joints.shape[0]
    skip = int(skip_leading_frames)
    if skip < 0 or skip >= n:
        raise ValueError(f'{label}: skip_leading_frames={skip_leading_frames} leaves no frames '
                         f'(file has {n})')
    joints = np.ascontiguousarray(joints[skip:])
    report = None
    if validate:
        report = validate_joints(joints, min_bone_length=min_bone_length, on_varying=on_varying,
                                 source=label, joint_map=jm)
    return MocapClip(joints=joints, fps=src_fps, source=label, skeleton=jm.name,
                     header_fps=header_fps, skip_leading_frames=skip, report=report)


def _locate(rel: str, cmu_root: str) -> tuple:
    """Map an index path ``cmu/<folder>/<file>`` to (member, zip_path or None, disk path)."""
    rel = rel.replace('\\', '/')
    if rel.startswith('cmu/'):
        rel = rel[len('cmu/'):]
    folder = rel.split('/')[0]
    zip_path = osp.join(cmu_root, folder + '.zip')
    if osp.isfile(zip_path):
        return rel, zip_path
    disk = osp.join(cmu_root, rel)
    if osp.isfile(disk):  # an extracted copy
        return disk, None
    raise FileNotFoundError(f'{rel}: neither {zip_path} nor {disk} exists')


def load_trial(entry: dict, cmu_root: str | os.PathLike, alternate: int | None = None,
               skip_leading_frames: int | None = None, **kwargs) -> MocapClip:
    """Load one trial of the CMU ``available_trials.json`` index from its zip archive.

    Args:
        entry (dict): One index entry (keys ``trial``, ``file``, ``format``,
            ``skeleton``, ``asf`` for AMC, ``cmu_fps``, ``skip_leading_frames``,
            ``alternates``).
        cmu_root (str | os.PathLike): The ``cmu`` folder holding the zips (or
            the extracted folders).
        alternate (int | None): Load ``entry['alternates'][alternate]`` instead
            of the preferred file. Alternates use their header frame rate for
            BVH (iClone copies are at 60 fps) and ``cmu_fps`` for AMC.
        skip_leading_frames (int | None): Override; None uses the entry's value
            (0 for alternates, which have no T-pose frame).
        **kwargs: Passed to :func:`load_mocap` (``validate``, ``on_varying``, ...).

    Returns:
        MocapClip: With ``trial`` set and ``fps`` = the CMU frame rate.
    """
    cmu_root = os.fspath(cmu_root)
    if alternate is None:
        rel, fmt, skel = entry['file'], entry['format'], entry['skeleton']
        asf_rel = entry.get('asf')
        fps = float(entry['cmu_fps'])
        skip = entry.get('skip_leading_frames', 0) if skip_leading_frames is None \
            else skip_leading_frames
    else:
        alt = entry['alternates'][alternate]
        rel, fmt, skel = alt['file'], alt['format'], alt['skeleton']
        asf_rel = alt.get('asf')
        fps = float(entry['cmu_fps']) if fmt != 'bvh' else None
        skip = 0 if skip_leading_frames is None else skip_leading_frames
    member, zip_path = _locate(rel, cmu_root)
    asf = None
    if fmt != 'bvh':
        asf_member = asf_rel if asf_rel else _default_asf(rel)
        asf, asf_zip = _locate(asf_member, cmu_root)
        if asf_zip != zip_path:
            asf_data, asf_label = _read_member(asf, asf_zip)
            asf = read_asf(asf_data, name=asf_label)
    clip = load_mocap(member, skeleton=kwargs.pop('skeleton', skel), fps=fps,
                      skip_leading_frames=skip, zip_path=zip_path, asf=asf, **kwargs)
    clip.trial = entry.get('trial')
    return clip

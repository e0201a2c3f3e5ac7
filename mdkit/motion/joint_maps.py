"""Joint maps from mocap skeletons to the 22-joint HumanML3D (SMPL) skeleton.

A :class:`JointMap` says, for each of the 22 target joints (in
``HUMANML3D_SKELETON.joint_names`` order), which point of the source skeleton
to use, how to scale source units to metres, and which source axis is up.
Each target joint is one of:

* ``'Name'`` (a :class:`str`): the position of source joint ``Name`` (for
  ASF/AMC sources: the *end* of bone ``Name``; ``'root'`` is the root position);
* :class:`EndSite` ``('Name')``: the End Site of BVH joint ``Name`` (e.g. the
  toe of a Daz foot);
* :class:`Lerp` ``(a, b, t)``: ``(1 - t) * a + t * b`` for two such points, for
  joints the source has no distinct point for.

Built-in maps (:data:`BUILTIN_JOINT_MAPS`, see :func:`get_joint_map`) cover the
CMU conventions ``'cgspeed31'``, ``'cgspeed_max31'``, ``'cmu_asfnames31'``,
``'daz43'``, ``'cmu_asf'`` and ``'iclone_cc'``. In the CMU-derived skeletons
some joints coincide (cgspeed: ``Hips``/``LowerBack``, and
``Spine1``/``Neck``/``LeftShoulder``/``RightShoulder``), which would give
zero-length bones; those target joints are interpolated instead:

* ``spine1`` = halfway up the lower-back bone (pelvis -> spine1 and spine1 ->
  spine2 are about equally long in the target skeleton: 0.132 m, 0.143 m);
* ``left/right_collar`` = 40 % of the way from the clavicle root (on the spine)
  to the shoulder, which puts them about 0.07-0.08 m from the midline as in
  SMPL (collar 0.07 m, shoulder 0.19 m from the midline). The same rule is
  used for ``cmu_asf`` so that BVH and ASF/AMC copies of a trial agree.

JSON schema (:meth:`JointMap.to_json` / :meth:`JointMap.from_json`)::

    {
      "name": "my_rig",                 # str, required
      "scale": 0.01,                    # float > 0, source units -> metres (default 1.0)
      "up_axis": "y",                   # "y" (default), "z" or "x": the source up axis
      "description": "optional text",
      "joints": {                       # all 22 HumanML3D joint names, nothing else
        "pelvis": "Hips",                               # a source joint
        "spine1": {"lerp": ["Hips", "Spine", 0.5]},     # (1-t)*a + t*b; a, b nest
        "left_foot": {"end_site": "lFoot"},             # End Site of a BVH joint
        ...
      }
    }

Up-axis conversion (right-handed rotations): ``'y'`` keeps ``(x, y, z)``;
``'z'`` maps ``(x, y, z) -> (x, z, -y)``; ``'x'`` maps ``(x, y, z) -> (-y, x, z)``.
All CMU data here is already Y-up.

:func:`validate_joints` checks mapped (T, 22, 3) positions: non-finite values
and bones shorter than ``min_bone_length`` in the first frame raise
``ValueError`` naming the joint or bone; bone lengths that vary over time
(std/mean above ``max_length_cv``) are flagged in the returned report and
warned about (:class:`MocapWarning`) or raised.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from .skeletons import HUMANML3D_SKELETON, SkeletonDef

__all__ = ['EndSite', 'Lerp', 'JointMap', 'BoneReport', 'MocapWarning', 'BUILTIN_JOINT_MAPS',
           'get_joint_map', 'naive_joint_map', 'validate_joints', 'detect_joint_map']

CMU_UNIT_TO_M = 0.0254 / 0.45  # (1/0.45) inch = 0.056444 m
_TARGET = HUMANML3D_SKELETON
_UP_ROTATIONS = {
    'y': np.eye(3),
    'z': np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]]),
    'x': np.array([[0, -1.0, 0], [1.0, 0, 0], [0, 0, 1.0]]),
}


class MocapWarning(UserWarning):
    """Warning about suspicious mocap data (e.g. bone lengths that vary over time)."""


@dataclass(frozen=True)
class EndSite:
    """The End Site of a BVH joint.

    Args:
        joint (str): Name of the joint that owns the End Site.
    """

    joint: str


@dataclass(frozen=True)
class Lerp:
    """Linear interpolation ``(1 - t) * a + t * b`` of two source points.

    Args:
        a (str | EndSite | Lerp): First point.
        b (str | EndSite | Lerp): Second point.
        t (float): Weight of ``b``.
    """

    a: Spec
    b: Spec
    t: float


Spec = str | EndSite | Lerp


def _spec_to_json(spec: Spec):
    if isinstance(spec, str):
        return spec
    if isinstance(spec, EndSite):
        return {'end_site': spec.joint}
    if isinstance(spec, Lerp):
        return {'lerp': [_spec_to_json(spec.a), _spec_to_json(spec.b), float(spec.t)]}
    raise TypeError(f'Not a joint spec: {spec!r}')


def _spec_from_json(obj, where: str) -> Spec:
    if isinstance(obj, str):
        if not obj:
            raise ValueError(f'{where}: empty joint name')
        return obj
    if isinstance(obj, dict) and len(obj) == 1:
        (key, val), = obj.items()
        if key == 'end_site' and isinstance(val, str) and val:
            return EndSite(val)
        if key == 'lerp' and isinstance(val, (list, tuple)) and len(val) == 3:
            t = val[2]
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not np.isfinite(t):
                raise ValueError(f'{where}: lerp weight must be a finite number, got {t!r}')
            return Lerp(_spec_from_json(val[0], where), _spec_from_json(val[1], where), float(t))
    raise ValueError(f'{where}: expected a joint name, {{"end_site": name}} or '
                     f'{{"lerp": [a, b, t]}}, got {obj!r}')


def _spec_str(spec: Spec) -> str:
    if isinstance(spec, str):
        return repr(spec)
    if isinstance(spec, EndSite):
        return f'end_site({spec.joint!r})'
    return f'lerp({_spec_str(spec.a)}, {_spec_str(spec.b)}, {spec.t:g})'


def _spec_names(spec: Spec) -> set:
    if isinstance(spec, str):
        return {spec}
    if isinstance(spec, EndSite):
        return {spec.joint}
    return _spec_names(spec.a) | _spec_names(spec.b)


@dataclass(frozen=True)
class JointMap:
    """How to get the 22 HumanML3D joints from a source skeleton.

    Args:
        name (str): Map name (a skeleton convention such as ``'cgspeed31'``).
        joints (tuple): 22 specs (``str`` | :class:`EndSite` | :class:`Lerp`),
            one per ``HUMANML3D_SKELETON.joint_names`` entry, in that order.
        scale (float): Source units to metres. Defaults to 1.0.
        up_axis (str): Source up axis, ``'y'``, ``'z'`` or ``'x'``. Defaults to ``'y'``.
        description (str): Free text.
    """

    name: str
    joints: tuple
    scale: float = 1.0
    up_axis: str = 'y'
    description: str = field(default='', compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, 'joints', tuple(self.joints))
        if len(self.joints) != _TARGET.num_joints:
            raise ValueError(f'JointMap {self.name!r}: needs {_TARGET.num_joints} joints, got '
                             f'{len(self.joints)}')
        for tgt, spec in zip(_TARGET.joint_names, self.joints):
            _spec_to_json(spec)  # type check
            if not _spec_names(spec) or '' in _spec_names(spec):
                raise ValueError(f'JointMap {self.name!r}: empty source for {tgt!r}')
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f'JointMap {self.name!r}: scale must be > 0, got {self.scale!r}')
        if self.up_axis not in _UP_ROTATIONS:
            raise ValueError(f'JointMap {self.name!r}: up_axis must be one of '
                             f'{sorted(_UP_ROTATIONS)}, got {self.up_axis!r}')

    @classmethod
    def from_names(cls, name: str, joints: dict, **kwargs) -> JointMap:
        """Build a map from a ``{target_joint_name: spec}`` dict.

        Args:
            name (str): Map name.
            joints (dict): All 22 target names -> spec.
            **kwargs: ``scale``, ``up_axis``, ``description``.

        Returns:
            JointMap: The map.
        """
        missing = [n for n in _TARGET.joint_names if n not in joints]
        extra = sorted(set(joints) - set(_TARGET.joint_names))
        if missing or extra:
            raise ValueError(f'JointMap {name!r}: joints must name exactly the 22 HumanML3D '
                             f'joints; missing {missing}, unknown {extra}')
        return cls(name=name, joints=tuple(joints[n] for n in _TARGET.joint_names), **kwargs)

    @property
    def source_names(self) -> set:
        """set[str]: Every source joint name the map refers to."""
        out: set = set()
        for spec in self.joints:
            out |= _spec_names(spec)
        return out

    def describe(self, target: str) -> str:
        """str: Readable spec of one target joint, e.g. ``"lerp('Hips', 'Spine', 0.5)"``."""
        return _spec_str(self.joints[_TARGET.joint_names.index(target)])

    def _point(self, source, spec: Spec) -> np.ndarray:
        if isinstance(spec, str):
            return np.asarray(source.point(spec), dtype=np.float64)
        if isinstance(spec, EndSite):
            return np.asarray(source.end_site(spec.joint), dtype=np.float64)
        a, b = self._point(source, spec.a), self._point(source, spec.b)
        return (1.0 - spec.t) * a + spec.t * b

    def apply(self, source) -> np.ndarray:
        """Map a source motion to the 22 target joints in metres, Y up.

        Args:
            source: Any object with ``point(name) -> (T, 3)`` and
                ``end_site(name) -> (T, 3)`` in source units, e.g.
                :class:`~mdkit.motion.bvh.BvhMotion` or
                :class:`~mdkit.motion.asf_amc.AsfAmcMotion`.

        Returns:
            np.ndarray: (T, 22, 3) float64 positions in metres, Y up.

        Raises:
            KeyError: The source lacks a joint or End Site the map needs.
        """
        pts = np.stack([self._point(source, spec) for spec in self.joints], axis=1)
        pts = pts * self.scale
        if self.up_axis != 'y':
            pts = pts @ _UP_ROTATIONS[self.up_axis].T
        return pts

    def to_dict(self) -> dict:
        """dict: The JSON-ready form (see the module docstring for the schema)."""
        return {'name': self.name, 'scale': float(self.scale), 'up_axis': self.up_axis,
                'description': self.description,
                'joints': {n: _spec_to_json(s) for n, s in zip(_TARGET.joint_names,
                                                               self.joints)}}

    @classmethod
    def from_dict(cls, obj: dict, where: str = '<dict>') -> JointMap:
        """Build a map from its JSON-ready dict.

        Args:
            obj (dict): See the module docstring for the schema.
            where (str): Label for messages.

        Returns:
            JointMap: The map.

        Raises:
            ValueError: Schema violations (missing/unknown keys or joints, bad specs).
        """
        if not isinstance(obj, dict):
            raise ValueError(f'{where}: a joint map must be a JSON object')
        unknown = sorted(set(obj) - {'name', 'scale', 'up_axis', 'description', 'joints'})
        if unknown:
            raise ValueError(f'{where}: unknown keys {unknown}')
        if not isinstance(obj.get('name'), str) or not isinstance(obj.get('joints'), dict):
            raise ValueError(f"{where}: needs 'name' (string) and 'joints' (object)")
        joints = {k: _spec_from_json(v, f'{where}: joint {k!r}')
                  for k, v in obj['joints'].items()}
        scale = obj.get('scale', 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            raise ValueError(f"{where}: 'scale' must be a number, got {scale!r}")
        try:
            return cls.from_names(obj['name'], joints, scale=float(scale),
                                  up_axis=obj.get('up_axis', 'y'),
                                  description=obj.get('description', ''))
        except ValueError as exc:
            raise ValueError(f'{where}: {exc}') from None

    def to_json(self, path: str | os.PathLike) -> None:
        """Write the map as JSON.

        Args:
            path (str | os.PathLike): Output file.
        """
        with open(path, 'w') as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write('\n')

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> JointMap:
        """Read a map written by :meth:`to_json` (or by hand, see the schema).

        Args:
            path (str | os.PathLike): JSON file.

        Returns:
            JointMap: The map.
        """
        with open(path) as f:
            try:
                obj = json.load(f)
            except json.JSONDecodeError as exc:
                raise ValueError(f'{os.fspath(path)}: not valid JSON ({exc})') from None
        return cls.from_dict(obj, where=os.fspath(path))


_SPINE1_T = 0.5   # halfway up the lower-back bone
_COLLAR_T = 0.4   # 40 % of the way from clavicle root to shoulder


def _cmu_bvh_map(name: str, names: list, lowerback_top: str, collar_root: str,
                 left_shoulder: str, right_shoulder: str, description: str) -> JointMap:
    """A map from a README name list with the degenerate joints interpolated."""
    joints = dict(zip(_TARGET.joint_names, names))
    joints['spine1'] = Lerp(names[0], lowerback_top, _SPINE1_T)
    joints['left_collar'] = Lerp(collar_root, left_shoulder, _COLLAR_T)
    joints['right_collar'] = Lerp(collar_root, right_shoulder, _COLLAR_T)
    return JointMap.from_names(name, joints, scale=CMU_UNIT_TO_M, description=description)


# Name lists in HumanML3D order, as given by the data README (1:1, before fixes).
_NAIVE = {
    'cgspeed31': ['Hips', 'LeftUpLeg', 'RightUpLeg', 'LowerBack', 'LeftLeg', 'RightLeg', 'Spine',
                  'LeftFoot', 'RightFoot', 'Spine1', 'LeftToeBase', 'RightToeBase', 'Neck1',
                  'LeftShoulder', 'RightShoulder', 'Head', 'LeftArm', 'RightArm', 'LeftForeArm',
                  'RightForeArm', 'LeftHand', 'RightHand'],
    'cgspeed_max31': ['Hips', 'LeftHip', 'RightHip', 'lowerback', 'LeftKnee', 'RightKnee',
                      'Chest', 'LeftAnkle', 'RightAnkle', 'Chest2', 'LeftToe', 'RightToe', 'Neck',
                      'LeftCollar', 'RightCollar', 'Head', 'LeftShoulder', 'RightShoulder',
                      'LeftElbow', 'RightElbow', 'LeftWrist', 'RightWrist'],
    'cmu_asfnames31': ['hip', 'lfemur', 'rfemur', 'lowerback', 'ltibia', 'rtibia', 'upperback',
                       'lfoot', 'rfoot', 'thorax', 'ltoes', 'rtoes', 'upperneck', 'lclavicle',
                       'rclavicle', 'head', 'lhumerus', 'rhumerus', 'lradius', 'rradius',
                       'lwrist', 'rwrist'],
    'daz43': ['hip', 'lThigh', 'rThigh', 'abdomen', 'lShin', 'rShin', 'chest', 'lFoot', 'rFoot',
              Lerp('chest', 'neck', 0.5), EndSite('lFoot'), EndSite('rFoot'), 'neck', 'lCollar',
              'rCollar', 'head', 'lShldr', 'rShldr', 'lForeArm', 'rForeArm', 'lHand', 'rHand'],
    'cmu_asf': ['root', 'lhipjoint', 'rhipjoint', 'root', 'lfemur', 'rfemur', 'lowerback',
                'ltibia', 'rtibia', 'upperback', 'lfoot', 'rfoot', 'lowerneck', 'thorax',
                'thorax', 'upperneck', 'lclavicle', 'rclavicle', 'lhumerus', 'rhumerus',
                'lradius', 'rradius'],
    'iclone_cc': ['CC_Base_Hip'] + ['CC_Base_' + n for n in (
        'L_Thigh', 'R_Thigh', 'Waist', 'L_Calf', 'R_Calf', 'Spine01', 'L_Foot', 'R_Foot',
        'Spine02', 'L_ToeBase', 'R_ToeBase', 'NeckTwist01', 'L_Clavicle', 'R_Clavicle', 'Head',
        'L_Upperarm', 'R_Upperarm', 'L_Forearm', 'R_Forearm', 'L_Hand', 'R_Hand')],
}
_NAIVE_SCALE = {'cgspeed31': CMU_UNIT_TO_M, 'cgspeed_max31': CMU_UNIT_TO_M,
                'cmu_asfnames31': CMU_UNIT_TO_M, 'cmu_asf': CMU_UNIT_TO_M, 'daz43': 0.01,
                'iclone_cc': 0.01}


def naive_joint_map(name: str) -> JointMap:
    """The 1:1 name list of a built-in convention, without the degenerate-joint fixes.

    Useful to show why the fixes are needed: for ``'cgspeed31'`` it gives
    zero-length ``pelvis->spine1`` and ``spine3->left/right_collar`` bones,
    which :func:`validate_joints` refuses.

    Args:
        name (str): A key of :data:`BUILTIN_JOINT_MAPS`.

    Returns:
        JointMap: The naive map (named ``'<name>_naive'``).
    """
    if name not in _NAIVE:
        raise KeyError(f'Unknown joint map {name!r}; known: {sorted(_NAIVE)}')
    return JointMap(name=f'{name}_naive', joints=tuple(_NAIVE[name]), scale=_NAIVE_SCALE[name],
                    description='1:1 name list from the data README (degenerate bones)')


BUILTIN_JOINT_MAPS: dict = {
    # cgspeed MotionBuilder release: Hips = LowerBack and Spine1 = Neck = LeftShoulder =
    # RightShoulder coincide (and the ASF thorax length is dropped).
    'cgspeed31': _cmu_bvh_map(
        'cgspeed31', _NAIVE['cgspeed31'], 'Spine', 'Spine1', 'LeftArm', 'RightArm',
        'cgspeed 31-joint BVH (MotionBuilder release), CMU units; spine1 and collars '
        'interpolated because Hips/LowerBack and Spine1/Neck/shoulders coincide'),
    # cgspeed 3dsMax release: Hips = lowerback, Chest2 = lowerneck = collars.
    'cgspeed_max31': _cmu_bvh_map(
        'cgspeed_max31', _NAIVE['cgspeed_max31'], 'Chest', 'Chest2', 'LeftShoulder',
        'RightShoulder',
        'cgspeed 31-joint BVH (3dsMax release, LeftHip/LeftKnee names), CMU units; spine1 '
        'and collars interpolated'),
    # 31-joint BVH with ASF bone names (joint = bone start): hip = lowerback,
    # thorax = lowerneck = clavicles.
    'cmu_asfnames31': _cmu_bvh_map(
        'cmu_asfnames31', _NAIVE['cmu_asfnames31'], 'upperback', 'thorax', 'lhumerus',
        'rhumerus',
        '31-joint BVH with CMU ASF bone names, CMU units; spine1 and collars interpolated'),
    'daz43': JointMap.from_names('daz43', dict(zip(_TARGET.joint_names, _NAIVE['daz43'])),
                                 scale=0.01,
                                 description='Daz-friendly 43-joint BVH, cm; spine3 halfway '
                                             'between chest and neck, toes at the foot End '
                                             'Sites'),
    # ASF/AMC: points are bone ends. spine1 would be the root again: use the middle of
    # the lowerback bone; collars 40 % along the clavicles as for the BVH conventions.
    'cmu_asf': JointMap.from_names('cmu_asf', {
        **dict(zip(_TARGET.joint_names, _NAIVE['cmu_asf'])),
        'spine1': Lerp('root', 'lowerback', _SPINE1_T),
        'left_collar': Lerp('thorax', 'lclavicle', _COLLAR_T),
        'right_collar': Lerp('thorax', 'rclavicle', _COLLAR_T)},
        scale=CMU_UNIT_TO_M,
        description='CMU ASF/AMC bone ends, CMU units (ASF length 0.45); spine1 and collars '
                    'interpolated'),
    'iclone_cc': JointMap.from_names('iclone_cc', dict(zip(_TARGET.joint_names,
                                                          _NAIVE['iclone_cc'])),
                                     scale=0.01,
                                     description='Reallusion iClone CC_Base skeleton, cm'),
}


def get_joint_map(name: str | JointMap | os.PathLike) -> JointMap:
    """Look up a built-in map by name, load a JSON map from a path, or pass a map through.

    Args:
        name (str | JointMap | os.PathLike): Built-in name (e.g. ``'cgspeed31'``),
            a ``.json`` path, or a :class:`JointMap`.

    Returns:
        JointMap: The map.
    """
    if isinstance(name, JointMap):
        return name
    key = os.fspath(name)
    if key in BUILTIN_JOINT_MAPS:
        return BUILTIN_JOINT_MAPS[key]
    if key.endswith('.json') or os.path.isfile(key):
        return JointMap.from_json(key)
    raise KeyError(f'Unknown joint map {key!r}; built-in: {sorted(BUILTIN_JOINT_MAPS)} (or '
                   'pass a JSON file)')


def detect_joint_map(joint_names) -> JointMap:
    """Pick the built-in BVH map whose source joints all exist in a skeleton.

    Args:
        joint_names (Iterable[str]): Source joint names.

    Returns:
        JointMap: The only matching built-in map.

    Raises:
        ValueError: No built-in map (or more than one) fits.
    """
    names = set(joint_names)
    hits = [m for k, m in BUILTIN_JOINT_MAPS.items()
            if k != 'cmu_asf' and m.source_names <= names]
    if len(hits) != 1:
        what = 'no' if not hits else f'several ({[m.name for m in hits]})'
        raise ValueError(f'{what} built-in joint map fits this skeleton (joints: '
                         f'{sorted(names)[:12]}...); pass skeleton= or joint_map=')
    return hits[0]


@dataclass
class BoneReport:
    """Result of :func:`validate_joints`.

    Args:
        bone_names (tuple[str, ...]): ``'parent->child'`` per non-root joint.
        lengths (np.ndarray): (J-1,) mean bone lengths over frames, metres.
        first_frame_lengths (np.ndarray): (J-1,) lengths in the first frame.
        length_cv (np.ndarray): (J-1,) std/mean of each bone's length over time.
        varying_bones (tuple[str, ...]): Bones whose ``length_cv`` exceeds the limit.
        height (float): 95th percentile over frames of the head joint's height
            above the lowest foot joint (metres); about the standing height of
            the head joint (the base of the skull, not the top of the head).
        upright_fraction (float): Fraction of frames whose pelvis->neck vector
            points up (more than 45 degrees above horizontal).
    """

    bone_names: tuple
    lengths: np.ndarray = field(repr=False)
    first_frame_lengths: np.ndarray = field(repr=False)
    length_cv: np.ndarray = field(repr=False)
    varying_bones: tuple = ()
    height: float = float('nan')
    upright_fraction: float = float('nan')

    @property
    def ok(self) -> bool:
        """bool: True when no bone length varies beyond the limit."""
        return not self.varying_bones


def validate_joints(joints: np.ndarray, skeleton: SkeletonDef = HUMANML3D_SKELETON,
                    min_bone_length: float = 0.01, max_length_cv: float = 0.05,
                    on_varying: str = 'warn', source: str = '',
                    joint_map: JointMap | None = None) -> BoneReport:
    """Check mapped joint positions for NaN/inf, degenerate and non-rigid bones.

    Args:
        joints (np.ndarray): (T, J, 3) positions in metres, Y up.
        skeleton (SkeletonDef): Provides joint names and parents.
        min_bone_length (float): Shortest allowed bone (first frame), metres.
        max_length_cv (float): Largest allowed std/mean of a bone's length.
        on_varying (str): ``'warn'`` (a :class:`MocapWarning`), ``'raise'`` or
            ``'ignore'`` for bones whose length varies more than ``max_length_cv``.
        source (str): Label for messages (file name).
        joint_map (JointMap | None): Map used, to quote the joint specs in messages.

    Returns:
        BoneReport: Bone lengths, variation, height and uprightness.

    Raises:
        ValueError: Wrong shape, no frames, non-finite values (names the joint),
            a bone shorter than ``min_bone_length`` in the first frame (names
            the bone), or varying bones with ``on_varying='raise'``.
    """
    joints = np.asarray(joints, dtype=np.float64)
    where = f' in {source}' if source else ''
    names = skeleton.joint_names
    if joints.ndim != 3 or joints.shape[1:] != (len(names), 3):
        raise ValueError(f'expected (T, {len(names)}, 3) joints{where}, got {joints.shape}')
    if joints.shape[0] == 0:
        raise ValueError(f'no frames{where}')
    if on_varying not in ('warn', 'raise', 'ignore'):
        raise ValueError(f"on_varying must be 'warn', 'raise' or 'ignore', got {on_varying!r}")
    finite = np.isfinite(joints).all(axis=-1)  # (T, J)
    if not finite.all():
        t, j = np.argwhere(~finite)[0]
        n_bad = int((~finite).any(axis=1).sum())
        spec = f' (map: {joint_map.describe(names[j])})' if joint_map is not None else ''
        raise ValueError(f'joint {names[j]}{spec} is not finite (NaN/inf) in frame {t}{where}; '
                         f'{n_bad} of {joints.shape[0]} frames affected')
    parents = np.array(skeleton.parents)
    child = np.arange(len(names))[parents >= 0]
    bones = tuple(f'{names[parents[c]]}->{names[c]}' for c in child)
    lengths = np.linalg.norm(joints[:, child] - joints[:, parents[child]], axis=-1)  # (T, B)
    first = lengths[0]
    short = np.flatnonzero(first < min_bone_length)
    if short.size:
        msgs = []
        for b in short:
            c, p = child[b], parents[child[b]]
            spec = ''
            if joint_map is not None:
                spec = (f' (map {joint_map.name!r}: {names[p]} = {joint_map.describe(names[p])}, '
                        f'{names[c]} = {joint_map.describe(names[c])})')
            msgs.append(f'bone {bones[b]} has length {first[b]:.3f} m{spec}')
        raise ValueError(
            f'degenerate skeleton{where}: ' + '; '.join(msgs) +
            f' in the first frame (minimum {min_bone_length:.3f} m): the source has no distinct '
            'point for these joints; place one of them with lerp(a, b, t) in the joint map')
    mean = lengths.mean(axis=0)
    cv = lengths.std(axis=0) / np.maximum(mean, 1e-12)
    varying = tuple(bones[b] for b in np.flatnonzero(cv > max_length_cv))
    if varying and on_varying != 'ignore':
        detail = ', '.join(f'{bones[b]} (std/mean {cv[b]:.1%})'
                           for b in np.flatnonzero(cv > max_length_cv))
        msg = f'bone lengths vary over time{where}: {detail}; limit {max_length_cv:.0%}'
        if on_varying == 'raise':
            raise ValueError(msg)
        warnings.warn(msg, MocapWarning, stacklevel=2)
    feet = list(skeleton.foot_joints)
    head = names.index('head') if 'head' in names else len(names) - 1
    height = float(np.percentile(joints[:, head, 1] - joints[:, feet, 1].min(axis=1), 95))
    up = joints[:, names.index('neck')] - joints[:, 0] if 'neck' in names else None
    upright = float('nan')
    if up is not None:
        norm = np.linalg.norm(up, axis=-1)
        upright = float(np.mean(up[:, 1] > np.sqrt(0.5) * norm))
    return BoneReport(bone_names=bones, lengths=mean, first_frame_lengths=first, length_cv=cv,
                      varying_bones=varying, height=height, upright_fraction=upright)

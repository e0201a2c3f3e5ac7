"""A small reader for Acclaim ASF (skeleton) and AMC (motion) files, as used by CMU mocap.

ASF sections read: ``:units`` (``length``, ``angle`` deg/rad; ``mass`` is
ignored), ``:root`` (``order``, ``axis``, ``position``, ``orientation``),
``:bonedata`` (``begin``/``end`` blocks with ``name``, ``direction``,
``length``, ``axis <ax> <ay> <az> <ORDER>``, ``dof``; ``id`` and ``limits`` are
read past) and ``:hierarchy``. Other sections (``:version``, ``:name``,
``:documentation``, ...) are skipped.

AMC: optional ``:FULLY-SPECIFIED`` and ``:DEGREES``/``:RADIANS`` flags, then
frames, each a line with the frame number followed by one line per bone,
``<bone> <values in dof order>`` (``<root> <values in :root order>``). Frame
numbers must be consecutive but need not start at 1 (trimmed files).

Forward kinematics (vectorised over frames)::

    C       = euler(axis angles, ASF axis order)          # per bone, constant
    M       = euler(AMC values, dof order)                 # per frame
    R_bone  = R_parent @ C @ M @ C^-1
    end     = end_parent + length * R_bone @ direction

where ``euler`` applies its rotations in the order written (``XYZ``: x first,
so the matrix is ``Rz @ Ry @ Rx``). The root rotation is
``C_root @ M_root @ C_root^-1`` with ``C_root`` from the root ``orientation``
and ``axis``; the root position is the root ``position`` plus the AMC
translation. Positions are in ASF length units (CMU: ``length 0.45``, i.e.
(1/0.45) inch, so ``x 0.0254 / 0.45 = 0.056444`` gives metres; see
:attr:`AsfSkeleton.metres_per_unit`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .quaternion import euler_to_matrix

__all__ = ['AsfBone', 'AsfSkeleton', 'AmcMotion', 'AsfAmcMotion', 'parse_asf', 'read_asf',
           'parse_amc', 'read_amc', 'asf_amc_fk', 'read_asf_amc']

_AXES = {'x': 0, 'y': 1, 'z': 2}
_INCH = 0.0254


@dataclass(frozen=True)
class AsfBone:
    """One ASF bone.

    Args:
        name (str): Bone name.
        direction (np.ndarray): (3,) unit direction in the global rest frame.
        length (float): Length, ASF length units.
        axis (np.ndarray): (3,) axis angles in radians.
        axis_order (str): Order of the axis rotations, e.g. ``'XYZ'``.
        dofs (tuple[str, ...]): Degrees of freedom in AMC column order, e.g.
            ``('rx', 'ry', 'rz')``; may include ``tx``/``ty``/``tz``/``l``.
    """

    name: str
    direction: np.ndarray = field(repr=False)
    length: float
    axis: np.ndarray = field(repr=False)
    axis_order: str = 'XYZ'
    dofs: tuple = ()


@dataclass
class AsfSkeleton:
    """A parsed ASF skeleton.

    Args:
        source (str): File label used in messages.
        bones (dict[str, AsfBone]): Bones by name (not including the root).
        parents (dict[str, str]): Parent name of every bone (``'root'`` at the top).
        order (tuple[str, ...]): Bone names in parent-before-child order.
        root_order (tuple[str, ...]): AMC column order of the root, e.g.
            ``('tx', 'ty', 'tz', 'rx', 'ry', 'rz')``.
        root_axis (str): Rotation order of the root, e.g. ``'XYZ'``.
        root_position (np.ndarray): (3,) root position offset.
        root_orientation (np.ndarray): (3,) root orientation angles, radians.
        length_unit (float): ``:units length`` value (CMU: 0.45).
        angle_unit (str): ``'deg'`` or ``'rad'``.
    """

    source: str
    bones: dict = field(repr=False)
    parents: dict = field(repr=False)
    order: tuple = field(repr=False)
    root_order: tuple = ('tx', 'ty', 'tz', 'rx', 'ry', 'rz')
    root_axis: str = 'XYZ'
    root_position: np.ndarray = field(default_factory=lambda: np.zeros(3), repr=False)
    root_orientation: np.ndarray = field(default_factory=lambda: np.zeros(3), repr=False)
    length_unit: float = 1.0
    angle_unit: str = 'deg'

    @property
    def metres_per_unit(self) -> float:
        """float: Metres per ASF length unit (Acclaim lengths are ``inch / length_unit``)."""
        return _INCH / self.length_unit


@dataclass
class AmcMotion:
    """Raw AMC values.

    Args:
        source (str): File label used in messages.
        frame_numbers (np.ndarray): (T,) frame numbers from the file.
        values (dict[str, np.ndarray]): Bone name (and ``'root'``) -> (T, D)
            values in dof order, angles converted to radians.
    """

    source: str
    frame_numbers: np.ndarray = field(repr=False)
    values: dict = field(repr=False)

    @property
    def num_frames(self) -> int:
        """int: Number of frames T."""
        return int(self.frame_numbers.shape[0])


@dataclass
class AsfAmcMotion:
    """Bone end positions of an ASF/AMC pair.

    Args:
        source (str): Label, ``'<asf> + <amc>'``.
        bone_names (tuple[str, ...]): ``'root'`` followed by the ASF bones in
            parent-before-child order.
        positions (np.ndarray): (T, N, 3) position of each bone's end (the root
            position for ``'root'``), ASF length units.
        frame_numbers (np.ndarray): (T,) AMC frame numbers.
        skeleton (AsfSkeleton): The parsed skeleton.
    """

    source: str
    bone_names: tuple
    positions: np.ndarray = field(repr=False)
    frame_numbers: np.ndarray = field(repr=False)
    skeleton: AsfSkeleton = field(repr=False)

    @property
    def num_frames(self) -> int:
        """int: Number of frames T."""
        return int(self.positions.shape[0])

    def point(self, name: str) -> np.ndarray:
        """Position of the end of one bone (or the root position).

        Args:
            name (str): Bone name or ``'root'``.

        Returns:
            np.ndarray: (T, 3) positions, ASF length units.
        """
        try:
            idx = self.bone_names.index(name)
        except ValueError:
            raise KeyError(f'{self.source}: no bone {name!r}; bones: '
                           f'{", ".join(self.bone_names)}') from None
        return self.positions[:, idx]

    def end_site(self, name: str) -> np.ndarray:
        """ASF/AMC has no End Sites; bone ends are the points."""
        raise KeyError(f'{self.source}: ASF/AMC data has no End Sites (asked for {name!r}); '
                       'map to bone names, whose points are the bone ends')


def _read_text(source: str | os.PathLike | bytes, name: str | None) -> tuple:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, label = bytes(source), name or '<bytes>'
    else:
        label = name or os.fspath(source)
        with open(source, 'rb') as f:
            data = f.read()
    return data.decode('latin-1'), label


def _axis_matrices(angles: np.ndarray, order: str) -> np.ndarray:
    """(..., 3, 3) rotation of angles about x, y, z (indexed by axis) applied in ``order``."""
    angles = np.asarray(angles, dtype=np.float64)
    return euler_to_matrix(angles[..., [_AXES[letter] for letter in order.lower()]], order)


def _elementary(theta: np.ndarray, axis: int) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    r = np.zeros(np.shape(theta) + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r[..., axis, axis] = 1.0
    r[..., i, i] = c
    r[..., j, j] = c
    r[..., i, j] = -s
    r[..., j, i] = s
    return r


def _floats(tokens: list, label: str, line_no: int, what: str) -> np.ndarray:
    try:
        return np.array([float(t) for t in tokens], dtype=np.float64)
    except ValueError:
        raise ValueError(f'{label}: line {line_no}: non-numeric {what}: '
                         f'{" ".join(tokens)!r}') from None


def _check_order(order: str, label: str, line_no: int) -> str:
    o = order.upper()
    if len(o) != 3 or sorted(o) != ['X', 'Y', 'Z']:
        raise ValueError(f'{label}: line {line_no}: bad rotation order {order!r}')
    return o


def parse_asf(text: str, name: str = '<string>') -> AsfSkeleton:
    """Parse ASF skeleton text.

    Args:
        text (str): Whole ASF file content.
        name (str): Label for messages.

    Returns:
        AsfSkeleton: The skeleton.

    Raises:
        ValueError: Malformed ASF (missing ``:bonedata``/``:hierarchy``, bad
            numbers, unknown bones in the hierarchy, cycles, ...); the message
            names the file and line.
    """
    lines = text.splitlines()
    section = None
    length_unit, angle_unit = 1.0, 'deg'
    root_order, root_axis = ('tx', 'ty', 'tz', 'rx', 'ry', 'rz'), 'XYZ'
    root_position, root_orientation = np.zeros(3), np.zeros(3)
    raw_bones: list = []
    cur: dict | None = None
    children: dict = {}
    seen = set()
    for i, raw in enumerate(lines, start=1):
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        tok = line.split()
        if tok[0].startswith(':'):
            section = tok[0][1:].lower()
            seen.add(section)
            if section == 'bonedata':
                cur = None
            if len(tok) > 1 and section == 'units':  # tolerate ':units' with inline values
                tok = tok[1:]
            else:
                continue
        key = tok[0].lower()
        if section == 'units':
            if key == 'length' and len(tok) == 2:
                length_unit = float(_floats(tok[1:], name, i, 'length unit')[0])
                if length_unit <= 0:
                    raise ValueError(f'{name}: line {i}: length unit must be > 0')
            elif key == 'angle' and len(tok) == 2:
                angle_unit = tok[1].lower()[:3]
                if angle_unit not in ('deg', 'rad'):
                    raise ValueError(f'{name}: line {i}: unknown angle unit {tok[1]!r}')
        elif section == 'root':
            if key == 'order':
                root_order = tuple(t.lower() for t in tok[1:])
                bad = [t for t in root_order if t not in ('tx', 'ty', 'tz', 'rx', 'ry', 'rz')]
                if bad:
                    raise ValueError(f'{name}: line {i}: unknown root order entries {bad}')
            elif key == 'axis':
                root_axis = _check_order(tok[1] if len(tok) > 1 else '', name, i)
            elif key == 'position':
                root_position = _floats(tok[1:4], name, i, 'root position')
            elif key == 'orientation':
                root_orientation = _floats(tok[1:4], name, i, 'root orientation')
        elif section == 'bonedata':
            if key == 'begin':
                cur = {'line': i}
            elif key == 'end':
                if cur is None:
                    raise ValueError(f"{name}: line {i}: 'end' without 'begin' in :bonedata")
                raw_bones.append(cur)
                cur = None
            elif cur is None:
                raise ValueError(f"{name}: line {i}: bone data outside a begin/end block: "
                                 f'{line!r}')
            elif key == 'name':
                cur['name'] = tok[1] if len(tok) > 1 else ''
            elif key == 'direction':
                cur['direction'] = _floats(tok[1:], name, i, 'direction')
            elif key == 'length':
                cur['length'] = _floats(tok[1:2], name, i, 'length')
            elif key == 'axis':
                if len(tok) != 5:
                    raise ValueError(f"{name}: line {i}: expected 'axis <ax> <ay> <az> "
                                     f"<ORDER>', got {line!r}")
                cur['axis'] = _floats(tok[1:4], name, i, 'axis')
                cur['axis_order'] = _check_order(tok[4], name, i)
            elif key == 'dof':
                cur['dofs'] = tuple(t.lower() for t in tok[1:])
        elif section == 'hierarchy':
            if key in ('begin', 'end'):
                continue
            for child in tok[1:]:
                if child in children:
                    raise ValueError(f'{name}: line {i}: bone {child!r} has two parents')
                children[child] = tok[0]
    if cur is not None:
        raise ValueError(f"{name}: truncated ASF: bone block from line {cur['line']} has no "
                         "'end'")
    for sec in ('bonedata', 'hierarchy'):
        if sec not in seen:
            raise ValueError(f'{name}: not an ASF file or truncated: no :{sec} section')

    scale = np.pi / 180.0 if angle_unit == 'deg' else 1.0
    bones = {}
    for b in raw_bones:
        where = f"{name}: bone block at line {b['line']}"
        for key in ('name', 'direction', 'length'):
            if key not in b or (hasattr(b[key], '__len__') and len(b[key]) == 0):
                raise ValueError(f'{where}: missing {key!r}')
        if b['direction'].shape != (3,):
            raise ValueError(f"{where} ({b['name']}): direction needs 3 values")
        norm = np.linalg.norm(b['direction'])
        if not np.isfinite(norm) or norm == 0:
            raise ValueError(f"{where} ({b['name']}): zero or non-finite direction")
        dofs = b.get('dofs', ())
        bad = [d for d in dofs if d not in ('rx', 'ry', 'rz', 'tx', 'ty', 'tz', 'l')]
        if bad:
            raise ValueError(f"{where} ({b['name']}): unknown dof entries {bad}")
        if b['name'] in bones or b['name'] == 'root':
            raise ValueError(f"{where}: duplicate bone name {b['name']!r}")
        bones[b['name']] = AsfBone(name=b['name'], direction=b['direction'] / norm,
                                   length=float(b['length'][0]),
                                   axis=b.get('axis', np.zeros(3)) * scale,
                                   axis_order=b.get('axis_order', 'XYZ'), dofs=dofs)

    unknown = sorted((set(children) | set(children.values())) - set(bones) - {'root'})
    if unknown:
        raise ValueError(f'{name}: :hierarchy names bones missing from :bonedata: {unknown}')
    orphans = sorted(set(bones) - set(children))
    if orphans:
        raise ValueError(f'{name}: bones not attached in :hierarchy: {orphans}')
    order: list = []
    placed = {'root'}
    pending = list(bones)
    while pending:
        ready = [b for b in pending if children[b] in placed]
        if not ready:
            raise ValueError(f'{name}: :hierarchy has a cycle among {sorted(pending)}')
        for b in ready:
            order.append(b)
            placed.add(b)
        pending = [b for b in pending if b not in placed]
    return AsfSkeleton(source=name, bones=bones, parents=dict(children), order=tuple(order),
                       root_order=root_order, root_axis=root_axis,
                       root_position=root_position,
                       root_orientation=root_orientation * scale, length_unit=length_unit,
                       angle_unit=angle_unit)


def read_asf(source: str | os.PathLike | bytes, name: str | None = None) -> AsfSkeleton:
    """Read an ASF file from a path or from its bytes.

    Args:
        source (str | os.PathLike | bytes): Path or file content.
        name (str | None): Label for messages; defaults to the path.

    Returns:
        AsfSkeleton: The skeleton.
    """
    text, label = _read_text(source, name)
    return parse_asf(text, label)


def parse_amc(text: str, skeleton: AsfSkeleton, name: str = '<string>') -> AmcMotion:
    """Parse AMC motion text for a given skeleton.

    Args:
        text (str): Whole AMC file content.
        skeleton (AsfSkeleton): Skeleton whose dofs define the columns.
        name (str): Label for messages.

    Returns:
        AmcMotion: Values per bone, angles in radians.

    Raises:
        ValueError: No frames, unknown bone, wrong value count, non-numeric
            values, non-consecutive frame numbers or a frame missing bones
            (e.g. a truncated file); the message names the file and line.
    """
    widths = {'root': len(skeleton.root_order)}
    widths.update({b: len(bone.dofs) for b, bone in skeleton.bones.items() if bone.dofs})
    cols, offset = {}, 0
    for b, w in widths.items():
        cols[b] = (offset, offset + w)
        offset += w
    total = offset
    angle_unit = skeleton.angle_unit
    frame_numbers: list = []
    rows: list = []
    filled: list = []
    row = None
    got: set = set()
    for i, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith(':'):
            flag = line[1:].upper()
            if flag.startswith('DEG'):
                angle_unit = 'deg'
            elif flag.startswith('RAD'):
                angle_unit = 'rad'
            continue
        tok = line.split()
        if len(tok) == 1 and tok[0].isdigit():
            if row is not None:
                filled.append(got)
            num = int(tok[0])
            if frame_numbers and num != frame_numbers[-1] + 1:
                raise ValueError(f'{name}: line {i}: frame numbers jump from '
                                 f'{frame_numbers[-1]} to {num}')
            frame_numbers.append(num)
            row = np.full(total, np.nan)
            rows.append(row)
            got = set()
            continue
        if row is None:
            raise ValueError(f'{name}: line {i}: not an AMC file or corrupt: expected a frame '
                             f'number before {line[:60]!r}')
        bone = tok[0]
        if bone not in cols:
            if bone in skeleton.bones:  # a bone without dofs must not carry values
                raise ValueError(f'{name}: line {i}: bone {bone!r} has no dofs in '
                                 f'{skeleton.source}')
            raise ValueError(f'{name}: line {i}: unknown bone {bone!r} (not in '
                             f'{skeleton.source})')
        a, b = cols[bone]
        if len(tok) - 1 != b - a:
            raise ValueError(f'{name}: line {i}: bone {bone!r} has {len(tok) - 1} values, '
                             f'expected {b - a}')
        row[a:b] = _floats(tok[1:], name, i, f'values for {bone!r}')
        got.add(bone)
    if row is None:
        raise ValueError(f'{name}: not an AMC file or empty: no frames found')
    filled.append(got)
    for k, g in enumerate(filled):
        if len(g) != len(cols):
            missing = sorted(set(cols) - g)
            last = ' (truncated file?)' if k == len(filled) - 1 else ''
            raise ValueError(f'{name}: frame {frame_numbers[k]} is missing bones '
                             f'{missing}{last}')
    data = np.stack(rows)  # (T, total)
    to_rad = np.pi / 180.0 if angle_unit == 'deg' else 1.0
    values = {}
    for bone, (a, b) in cols.items():
        dofs = skeleton.root_order if bone == 'root' else skeleton.bones[bone].dofs
        v = data[:, a:b].copy()
        rot = np.array([d.startswith('r') for d in dofs])
        v[:, rot] *= to_rad
        values[bone] = v
    return AmcMotion(source=name, frame_numbers=np.asarray(frame_numbers, dtype=np.int64),
                     values=values)


def read_amc(source: str | os.PathLike | bytes, skeleton: AsfSkeleton,
             name: str | None = None) -> AmcMotion:
    """Read an AMC file from a path or its bytes.

    Args:
        source (str | os.PathLike | bytes): Path or file content.
        skeleton (AsfSkeleton): The matching skeleton.
        name (str | None): Label for messages; defaults to the path.

    Returns:
        AmcMotion: Values per bone, angles in radians.
    """
    text, label = _read_text(source, name)
    return parse_amc(text, skeleton, label)


def _dof_rotation(values: np.ndarray, dofs: tuple) -> np.ndarray:
    """(T, 3, 3) rotation of the rx/ry/rz dofs, applied in dof order."""
    t = values.shape[0]
    out = np.broadcast_to(np.eye(3), (t, 3, 3)).copy()
    for k, d in enumerate(dofs):
        if d in ('rx', 'ry', 'rz'):
            out = _elementary(values[:, k], _AXES[d[1]]) @ out
    return out


def asf_amc_fk(skeleton: AsfSkeleton, motion: AmcMotion) -> tuple:
    """Forward kinematics of AMC motion on an ASF skeleton.

    Args:
        skeleton (AsfSkeleton): The skeleton.
        motion (AmcMotion): Motion values (radians).

    Returns:
        tuple[tuple[str, ...], np.ndarray]: Names (``'root'`` then bones in
        parent-before-child order) and (T, N, 3) bone end positions in ASF
        length units.
    """
    t = motion.num_frames
    names = ('root',) + tuple(skeleton.order)
    root_vals = motion.values['root']
    trans = np.broadcast_to(skeleton.root_position, (t, 3)).copy()
    for k, d in enumerate(skeleton.root_order):
        if d.startswith('t'):
            trans[:, _AXES[d[1]]] += root_vals[:, k]
    c_root = _axis_matrices(skeleton.root_orientation, skeleton.root_axis)
    m_root = _dof_rotation(root_vals, skeleton.root_order)
    world_rot = {'root': c_root @ m_root @ c_root.T}
    ends = {'root': trans}
    for bone_name in skeleton.order:
        bone = skeleton.bones[bone_name]
        parent = skeleton.parents[bone_name]
        c = _axis_matrices(bone.axis, bone.axis_order)
        length = bone.length
        if bone.dofs:
            vals = motion.values[bone_name]
            local = c @ _dof_rotation(vals, bone.dofs) @ c.T
            if 'l' in bone.dofs:  # optional length channel
                length = length + vals[:, bone.dofs.index('l')][:, None]
            rot = world_rot[parent] @ local
        else:
            rot = world_rot[parent]
        world_rot[bone_name] = rot
        ends[bone_name] = ends[parent] + length * np.einsum('tab,b->ta', rot, bone.direction)
    positions = np.stack([ends[n] for n in names], axis=1)
    return names, positions


def read_asf_amc(asf: str | os.PathLike | bytes | AsfSkeleton,
                 amc: str | os.PathLike | bytes, asf_name: str | None = None,
                 amc_name: str | None = None) -> AsfAmcMotion:
    """Read an ASF/AMC pair and compute the bone end positions of every frame.

    Args:
        asf (str | os.PathLike | bytes | AsfSkeleton): ASF path, bytes or an
            already parsed skeleton.
        amc (str | os.PathLike | bytes): AMC path or bytes.
        asf_name (str | None): Label of the ASF for messages.
        amc_name (str | None): Label of the AMC for messages.

    Returns:
        AsfAmcMotion: (T, N, 3) bone end positions in ASF length units.

    Raises:
        ValueError: Malformed ASF or AMC (the message names the file).
    """
    skeleton = asf if isinstance(asf, AsfSkeleton) else read_asf(asf, asf_name)
    motion = read_amc(amc, skeleton, amc_name)
    names, positions = asf_amc_fk(skeleton, motion)
    return AsfAmcMotion(source=f'{skeleton.source} + {motion.source}', bone_names=names,
                        positions=positions, frame_numbers=motion.frame_numbers,
                        skeleton=skeleton)

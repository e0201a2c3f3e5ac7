"""Fast rendering of joint motions to small RGB clips for video encoders (paired video data).

No public dataset pairs HumanML3D/CMU motions with videos, so mdkit renders each
motion's joints to a clip that a video model (e.g. VideoMAE) can encode.
:class:`BodyClipRenderer` draws a thick-limbed body with OpenCV (anti-aliased
capsules and round joints, fixed-point sub-pixel coordinates) seen by a
perspective camera whose azimuth, elevation and distance are drawn per clip from
a seed, over an anti-aliased checkerboard floor with the body's shadow, so that
motion relative to the ground is visible.

Scene conventions (the same as :mod:`mdkit.visualization.stick_figure`): joints
are (T, J, 3) in metres, Y up, at ``source_fps`` (HumanML3D: 20 fps); a
character in rest pose faces +Z, so its left side is +X. Azimuth 0 looks at
such a character from the front, positive azimuths move the camera towards the
character's left. HumanML3D-format joints start facing +Z, so the azimuth is
also the viewing angle relative to the character's initial facing.

Camera: it looks at the clip's mean root position (horizontally) at the mean
mid-body height, from ``distance`` metres. With ``follow='auto'`` (default)
the camera stays fixed unless some frame's body would leave the image; then the
camera translates horizontally with the (centred, moving-average smoothed) root
path (``follow_smoothing`` seconds, default 1 s), keeping its angles and
distance. The checkerboard floor then slides under the body, so motion relative
to the ground stays visible either way. Vertical excursions (jumps) are not
followed.

Speed: the projection and all primitive geometry are computed for the whole
clip with numpy, the per-frame Python loop only issues OpenCV calls; the floor
is a per-pixel table lookup. Well over 1000 frames/s at 224x224 in one process
(about 1.8-2.9k with a fixed camera, 1.1-1.7k with a following one, on a shared
2-core machine); H.264 encoding, not drawing, bounds the render tool. See
``benchmarks/bench_render.py`` and ``docs/video_data.md``.

Example:
    >>> from mdkit.visualization import BodyClipRenderer
    >>> renderer = BodyClipRenderer(size=224, num_frames=16)
    >>> frames = renderer.render(joints, seed=0)  # (16, 224, 224, 3) uint8
    >>> renderer.camera(0)  # {'azimuth': ..., 'elevation': ..., 'distance': ...}
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .stick_figure import (
    CENTER_COLOR,
    LEFT_ARM_COLOR,
    LEFT_LEG_COLOR,
    RIGHT_ARM_COLOR,
    RIGHT_LEG_COLOR,
    _box_smooth,
    _chain_styles,
    _get_skeleton,
    check_joints,
)

if TYPE_CHECKING:  # pragma: no cover
    from mdkit.motion.skeletons import SkeletonDef

__all__ = ['BodyClipRenderer', 'BODY_COLORS']

#: RGB colours of the body parts (the stick-figure palette): left limbs blue,
#: right limbs red/orange, spine dark grey; the head is a light disc.
BODY_COLORS = {
    'left_leg': (31, 79, 180),
    'left_arm': (63, 155, 224),
    'right_leg': (192, 38, 45),
    'right_arm': (240, 138, 36),
    'center': (47, 47, 47),
    'head': (247, 247, 242),
}
_HEX_TO_PART = {LEFT_LEG_COLOR: 'left_leg', LEFT_ARM_COLOR: 'left_arm',
                RIGHT_LEG_COLOR: 'right_leg', RIGHT_ARM_COLOR: 'right_arm',
                CENTER_COLOR: 'center'}

_SHIFT = 4  # fixed-point bits of OpenCV coordinates (1/16 pixel)
_ONE = float(1 << _SHIFT)
_NEAR = 0.05  # metres; points closer to the camera plane are clamped


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _check_range(value, name: str, lo: float | None = None) -> tuple:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a (min, max) pair, got {value!r}') from None
    if not (math.isfinite(a) and math.isfinite(b)) or a > b:
        raise ValueError(f'{name} must be a finite (min, max) pair with min <= max, got {value!r}')
    if lo is not None and a <= lo:
        raise ValueError(f'{name} must be above {lo}, got {value!r}')
    return a, b


def _check_color(value, name: str) -> tuple:
    try:
        rgb = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        rgb = ()
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise ValueError(f'{name} must be an (R, G, B) triple of 0-255 ints, got {value!r}')
    return rgb


def _camera_rotation(azimuth: float, elevation: float) -> tuple:
    """Rows (right, up, forward) of the camera frame and the unit vector to the camera."""
    az, el = math.radians(azimuth), math.radians(elevation)
    back = np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])
    forward = -back
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return np.stack([right, up, forward]), back


class BodyClipRenderer:
    """Render (T, J, 3) joint motions to (F, H, W, 3) uint8 clips with a random camera per clip.

    Args:
        size (int | tuple[int, int]): Frame size in pixels, an int for square
            frames or (H, W). Defaults to 224.
        fps (float): Frame rate of the output clip. The motion is linearly
            interpolated from ``source_fps`` to ``fps`` (ignored when
            ``num_frames`` is set). Defaults to 20.
        num_frames (int | None): None renders the whole clip at ``fps``; an
            int resamples the clip uniformly (first to last frame, linear
            interpolation) to exactly this many frames. Defaults to None.
        skeleton (str | SkeletonDef): Skeleton of the joints. Defaults to
            'humanml3d'.
        source_fps (float): Frame rate of the input joints. Defaults to 20
            (HumanML3D).
        limb_width (float): Limb thickness in metres; its size in pixels
            follows the perspective (closer cameras draw thicker limbs).
            Defaults to 0.06.
        torso_width (float | None): Thickness of the spine chain in metres.
            Defaults to None (1.8 x ``limb_width``).
        head_radius (float): Radius of the head disc in metres. Defaults to
            0.1.
        azimuth_range (tuple[float, float]): Camera azimuth range in degrees
            (0 = in front of a character facing +Z). Defaults to (-180, 180).
        elevation_range (tuple[float, float]): Camera elevation range in
            degrees above the horizon. Defaults to (5, 30).
        distance_range (tuple[float, float]): Camera distance range in metres
            from the look-at point. Defaults to (3.0, 4.5).
        focal (float): Focal length in units of the shorter image side (1.2 is
            a ~45 degree field of view). Defaults to 1.2.
        follow (bool | str): ``'auto'`` keeps the camera fixed unless the body
            would leave the frame, then follows the smoothed root
            horizontally; True always follows; False never does. Defaults to
            'auto'.
        follow_smoothing (float): Seconds of root motion averaged for the
            follow path. Defaults to 1.0.
        sky_color (tuple[int, int, int]): RGB background above the horizon.
            Defaults to (234, 236, 240).
        floor_colors (tuple): Two RGB colours of the checkerboard floor.
            Defaults to ((214, 210, 200), (186, 181, 168)).
        checker_size (float): Floor tile size in metres. Defaults to 0.5.
        shadow_color (tuple[int, int, int]): RGB colour of the body's floor
            shadow. Defaults to (150, 146, 136).
        show_floor (bool): Draw the floor (else a uniform ``sky_color``
            background). Defaults to True.
        show_shadow (bool): Draw the body's shadow on the floor. Defaults to
            True.
        outline (bool): Draw a darker outline around each body part.
            Defaults to True.

    Example:
        >>> renderer = BodyClipRenderer(size=224)
        >>> frames, info = renderer.render_with_info(joints, seed=3)
        >>> frames.shape, info['azimuth']
    """

    def __init__(self, size: int | tuple = 224, fps: float = 20.0, num_frames: int | None = None,
                 skeleton: str | SkeletonDef = 'humanml3d', source_fps: float = 20.0,
                 limb_width: float = 0.06, torso_width: float | None = None,
                 head_radius: float = 0.1, azimuth_range: tuple = (-180.0, 180.0),
                 elevation_range: tuple = (5.0, 30.0), distance_range: tuple = (3.0, 4.5),
                 focal: float = 1.2, follow: bool | str = 'auto', follow_smoothing: float = 1.0,
                 sky_color: tuple = (234, 236, 240),
                 floor_colors: tuple = ((214, 210, 200), (186, 181, 168)),
                 checker_size: float = 0.5, shadow_color: tuple = (150, 146, 136),
                 show_floor: bool = True, show_shadow: bool = True, outline: bool = True):
        if isinstance(size, (int, np.integer)):
            self.height = self.width = int(size)
        else:
            try:
                self.height, self.width = (int(v) for v in size)
            except (TypeError, ValueError):
                raise ValueError(f'size must be an int or (H, W), got {size!r}') from None
        if min(self.height, self.width) < 16:
            raise ValueError(f'size must be at least 16x16 pixels, got {size!r}')
        self.fps = float(fps)
        self.source_fps = float(source_fps)
        for name, v in (('fps', self.fps), ('source_fps', self.source_fps)):
            if not math.isfinite(v) or v <= 0:
                raise ValueError(f'{name} must be a positive number, got {v}')
        if num_frames is not None and int(num_frames) < 1:
            raise ValueError(f'num_frames must be None or >= 1, got {num_frames}')
        self.num_frames = None if num_frames is None else int(num_frames)
        self.skeleton = _get_skeleton(skeleton)
        self.limb_width = float(limb_width)
        self.torso_width = 1.8 * self.limb_width if torso_width is None else float(torso_width)
        self.head_radius = float(head_radius)
        if min(self.limb_width, self.torso_width, self.head_radius) <= 0:
            raise ValueError('limb_width, torso_width and head_radius must be positive')
        self.azimuth_range = _check_range(azimuth_range, 'azimuth_range')
        self.elevation_range = _check_range(elevation_range, 'elevation_range')
        if not (-89 <= self.elevation_range[0] and self.elevation_range[1] <= 89):
            raise ValueError(f'elevation_range must lie in [-89, 89] degrees, got '
                             f'{elevation_range!r}')
        self.distance_range = _check_range(distance_range, 'distance_range', lo=0.0)
        self.focal = float(focal)
        if not math.isfinite(self.focal) or self.focal <= 0:
            raise ValueError(f'focal must be positive, got {focal}')
        if follow not in (True, False, 'auto'):
            raise ValueError(f"follow must be True, False or 'auto', got {follow!r}")
        self.follow = follow
        self.follow_smoothing = float(follow_smoothing)
        self.sky_color = _check_color(sky_color, 'sky_color')
        if len(floor_colors) != 2:
            raise ValueError(f'floor_colors must be two RGB colours, got {floor_colors!r}')
        self.floor_colors = tuple(_check_color(c, 'floor_colors') for c in floor_colors)
        self.checker_size = float(checker_size)
        if self.checker_size <= 0:
            raise ValueError(f'checker_size must be positive, got {checker_size}')
        self.shadow_color = _check_color(shadow_color, 'shadow_color')
        self.show_floor = bool(show_floor)
        self.show_shadow = bool(show_shadow)
        self.outline = bool(outline)
        self._build_parts()

    # ------------------------------------------------------------------ set-up
    def _build_parts(self):
        """Bones (a, b), their widths and colours; the head joint and its parent."""
        skel = self.skeleton
        bones, widths, parts = [], [], []
        head_chain = None
        for chain, hex_color, _ in _chain_styles(skel):
            part = _HEX_TO_PART[hex_color]
            if part == 'center' and head_chain is None:
                head_chain = chain
            for a, b in zip(chain[:-1], chain[1:]):
                bones.append((int(a), int(b)))
                widths.append(self.torso_width if part == 'center' else self.limb_width)
                parts.append(part)
        self._bones = np.asarray(bones, dtype=np.int64)  # (B, 2)
        self._bone_radius = 0.5 * np.asarray(widths)  # (B,) metres
        self._bone_parts = parts
        # head: the last joint of the central chain (SMPL 'head', KIT 'BUN')
        self._head = (int(head_chain[-1]), int(head_chain[-2])) if head_chain is not None \
            else None
        self._chains = [np.asarray(c, dtype=np.int64) for c, _, _ in _chain_styles(skel)]
        colors = [BODY_COLORS[p] for p in parts] + [BODY_COLORS['head']]
        outlines = [tuple(int(0.55 * v) for v in c) for c in colors[:-1]] + [(60, 60, 60)]
        self._colors = [tuple(float(v) for v in c) for c in colors]
        self._outline_colors = [tuple(float(v) for v in c) for c in outlines]

    @property
    def size(self) -> tuple:
        """tuple[int, int]: (H, W) of the frames."""
        return self.height, self.width

    def camera(self, seed=None) -> dict:
        """Draw the camera of one clip.

        Args:
            seed (int | np.random.Generator | None): Seed or generator; None
                draws from fresh OS entropy.

        Returns:
            dict: ``azimuth`` and ``elevation`` (degrees) and ``distance``
            (metres), plain floats.
        """
        rng = _rng(seed)
        return dict(azimuth=float(rng.uniform(*self.azimuth_range)),
                    elevation=float(rng.uniform(*self.elevation_range)),
                    distance=float(rng.uniform(*self.distance_range)))

    def sample_times(self, num_source_frames: int) -> np.ndarray:
        """Source frame positions (floats) of the output frames of a ``num_source_frames`` clip."""
        n = int(num_source_frames)
        if self.num_frames is not None:
            return np.linspace(0.0, n - 1.0, self.num_frames)
        step = self.source_fps / self.fps
        count = int(math.floor((n - 1) / step + 1e-6)) + 1
        return np.arange(count) * step

    def _resample(self, joints: np.ndarray) -> np.ndarray:
        times = self.sample_times(len(joints))
        if len(times) == len(joints) and np.allclose(times, np.arange(len(joints))):
            return joints
        i0 = np.clip(np.floor(times).astype(np.int64), 0, len(joints) - 1)
        i1 = np.minimum(i0 + 1, len(joints) - 1)
        w = (times - i0)[:, None, None]
        return joints[i0] * (1.0 - w) + joints[i1] * w

    # ------------------------------------------------------------------ render
    def render(self, joints, seed=None, camera: dict | None = None) -> np.ndarray:
        """Render one motion.

        Args:
            joints (np.ndarray | torch.Tensor): (T, J, 3) joint positions in
                metres, Y up, at ``source_fps``.
            seed (int | np.random.Generator | None): Camera seed (see
                :meth:`camera`).
            camera (dict | None): Explicit ``azimuth``/``elevation``/
                ``distance`` (overrides ``seed``).

        Returns:
            np.ndarray: (F, H, W, 3) uint8 RGB frames.

        Raises:
            ValueError: Bad shape or non-finite joints (from
                :func:`~mdkit.visualization.check_joints`).
        """
        return self.render_with_info(joints, seed=seed, camera=camera)[0]

    def render_with_info(self, joints, seed=None, camera: dict | None = None) -> tuple:
        """Render one motion and describe how it was seen.

        Args:
            joints (np.ndarray | torch.Tensor): (T, J, 3) joints, see :meth:`render`.
            seed (int | np.random.Generator | None): Camera seed.
            camera (dict | None): Explicit camera (overrides ``seed``).

        Returns:
            tuple[np.ndarray, dict]: Frames (F, H, W, 3) uint8 and a dict with
            ``azimuth``, ``elevation``, ``distance``, ``follow`` (whether the
            camera followed the root), ``num_frames`` (F), ``fps`` (frame rate
            that keeps the clip's duration: ``fps``, or the effective rate of
            a ``num_frames`` resampling), ``source_frames`` (T) and ``size``
            ([H, W]).
        """
        arr = check_joints(joints, self.skeleton)
        cam = self.camera(seed) if camera is None else dict(
            azimuth=float(camera['azimuth']), elevation=float(camera['elevation']),
            distance=float(camera['distance']))
        num_src = len(arr)
        joints = self._resample(arr)
        num_out = len(joints)
        if self.num_frames is None:
            out_fps = self.fps
        else:
            duration = max(num_src - 1, 1) / self.source_fps
            out_fps = max(num_out - 1, 1) / duration
        frames, follow = self._render(joints, cam, out_fps)
        info = dict(cam, follow=bool(follow), num_frames=int(num_out), fps=float(out_fps),
                    source_frames=int(num_src), size=[self.height, self.width])
        return frames, info

    def _project(self, pts: np.ndarray, rot: np.ndarray, cam_pos: np.ndarray, f: float) -> tuple:
        """(F, N, 3) world points -> (F, N, 2) pixels and (F, N) depths."""
        rel = pts - cam_pos[:, None, :]
        c = rel @ rot.T
        depth = np.maximum(c[..., 2], _NEAR)
        px = np.empty(c.shape[:-1] + (2, ))
        px[..., 0] = 0.5 * self.width + f * c[..., 0] / depth
        px[..., 1] = 0.5 * self.height - f * c[..., 1] / depth
        return px, depth

    def _render(self, joints: np.ndarray, cam: dict, out_fps: float) -> tuple:
        import cv2

        num_t = len(joints)
        h, w = self.height, self.width
        f = self.focal * min(h, w)
        rot, back = _camera_rotation(cam['azimuth'], cam['elevation'])
        dist = cam['distance']
        floor_y = float(joints[..., 1].min())
        target_y = float(0.5 * (joints[..., 1].max(axis=1) + joints[..., 1].min(axis=1)).mean())
        root_xz = joints[:, 0, [0, 2]]

        # points drawn: joints, plus the head centre
        pts = joints
        if self._head is not None:
            hj, nj = self._head
            up = joints[:, hj] - joints[:, nj]
            up /= np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-6)
            head_c = joints[:, hj] + 0.5 * self.head_radius * up
            pts = np.concatenate([joints, head_c[:, None]], axis=1)

        def cam_positions(path_xz):
            pos = np.empty((num_t, 3))
            pos[:, 0] = path_xz[:, 0]
            pos[:, 1] = target_y
            pos[:, 2] = path_xz[:, 1]
            return pos + dist * back

        fixed_xz = np.repeat(root_xz.mean(axis=0, keepdims=True), num_t, axis=0)
        follow = self.follow is True
        if not follow:
            cam_pos = cam_positions(fixed_xz)
            px, depth = self._project(pts, rot, cam_pos, f)
            if self.follow == 'auto' and not self._inside(px, depth, f):
                follow = True
        if follow:
            width = max(1, int(round(self.follow_smoothing * out_fps)))
            path = _box_smooth(root_xz, width)
            cam_pos = cam_positions(path)
            px, depth = self._project(pts, rot, cam_pos, f)

        frames = np.empty((num_t, h, w, 3), dtype=np.uint8)
        floor = _Floor(self, rot, cam_pos[0], floor_y, f) if self.show_floor else None
        static_bg = None
        if floor is None:
            static_bg = np.empty((h, w, 3), dtype=np.uint8)
            static_bg[:] = self.sky_color
        elif not follow:
            static_bg = floor.render(cam_pos[0])

        draw = self._draw_lists(joints, px, depth, rot, cam_pos, floor_y, f)
        line_aa = cv2.LINE_AA
        circle, fill_poly, polylines = cv2.circle, cv2.fillConvexPoly, cv2.polylines
        colors, ocolors = self._colors, self._outline_colors
        shadow_color = self.shadow_color
        for t in range(num_t):
            img = frames[t]
            if static_bg is not None:
                np.copyto(img, static_bg)
            else:
                floor.render(cam_pos[t], out=img)
            if draw['shadow'] is not None:
                polylines(img, draw['shadow'][t], False, shadow_color, draw['shadow_px'],
                          line_aa, _SHIFT)
            pa, pb, ra, rb, order = (draw['pa'][t], draw['pb'][t], draw['ra'][t], draw['rb'][t],
                                     draw['order'][t])
            polys = draw['poly'][t]
            opolys = draw['opoly'][t] if draw['opoly'] is not None else None
            for k in order:
                if k == draw['head_item']:
                    c, r = draw['head_c'][t], draw['head_r'][t]
                    if opolys is not None:
                        circle(img, c, r + draw['orad'], ocolors[k], -1, line_aa, _SHIFT)
                    circle(img, c, r, colors[k], -1, line_aa, _SHIFT)
                    continue
                a, b = pa[k], pb[k]
                if opolys is not None:
                    o = draw['orad']
                    oc = ocolors[k]
                    circle(img, a, ra[k] + o, oc, -1, line_aa, _SHIFT)
                    circle(img, b, rb[k] + o, oc, -1, line_aa, _SHIFT)
                    fill_poly(img, opolys[k], oc, line_aa, _SHIFT)
                col = colors[k]
                circle(img, a, ra[k], col, -1, line_aa, _SHIFT)
                circle(img, b, rb[k], col, -1, line_aa, _SHIFT)
                fill_poly(img, polys[k], col, line_aa, _SHIFT)
        return frames, follow

    def _inside(self, px: np.ndarray, depth: np.ndarray, f: float) -> bool:
        """Whether every projected joint (with a margin of the head size) lies in the frame."""
        if depth.min() <= 2 * _NEAR:
            return False
        pad = self.head_radius * f / depth + 2.0
        x, y = px[..., 0], px[..., 1]
        return bool((x - pad >= 0).all() and (x + pad <= self.width).all()
                    and (y - pad >= 0).all() and (y + pad <= self.height).all())

    def _draw_lists(self, joints, px, depth, rot, cam_pos, floor_y, f) -> dict:
        """Per-frame OpenCV arguments (fixed-point ints, painter's order) for the whole clip."""
        num_t = len(joints)
        bones = self._bones
        a, b = bones[:, 0], bones[:, 1]
        pa, pb = px[:, a], px[:, b]  # (F, B, 2)
        ra = self._bone_radius * f / depth[:, a]  # (F, B) pixels
        rb = self._bone_radius * f / depth[:, b]
        d = pb - pa
        n = np.stack([-d[..., 1], d[..., 0]], axis=-1)
        n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)

        def capsule(grow):
            ga, gb = (ra + grow)[..., None], (rb + grow)[..., None]
            quad = np.stack([pa + n * ga, pb + n * gb, pb - n * gb, pa - n * ga], axis=2)
            return np.round(quad * _ONE).astype(np.int32)  # (F, B, 4, 2)

        out = dict(pa=np.round(pa * _ONE).astype(np.int64).tolist(),
                   pb=np.round(pb * _ONE).astype(np.int64).tolist(),
                   ra=np.round(ra * _ONE).astype(np.int64).tolist(),
                   rb=np.round(rb * _ONE).astype(np.int64).tolist(),
                   poly=capsule(0.0))
        # outline ~1 px at 224 px, scaled with the frame
        orad = max(0.75, min(self.height, self.width) / 224.0)
        out['orad'] = int(round(orad * _ONE))
        out['opoly'] = capsule(orad) if self.outline else None
        item_depth = 0.5 * (depth[:, a] + depth[:, b])  # (F, B)
        num_b = len(bones)
        out['head_item'] = -1
        if self._head is not None:
            out['head_item'] = num_b
            out['head_c'] = np.round(px[:, -1] * _ONE).astype(np.int64).tolist()
            out['head_r'] = np.round(self.head_radius * f / depth[:, -1] * _ONE).astype(
                np.int64).tolist()
            item_depth = np.concatenate([item_depth, depth[:, -1:]], axis=1)
        # painter's order: farthest first
        out['order'] = np.argsort(-item_depth, axis=1, kind='stable').tolist()
        out['shadow'] = None
        if self.show_floor and self.show_shadow:
            flat = joints.copy()
            flat[..., 1] = floor_y
            spx, sdepth = self._project(flat, rot, cam_pos, f)
            spx = np.round(spx * _ONE).astype(np.int32)
            out['shadow'] = [[spx[t, c] for c in self._chains] for t in range(num_t)]
            out['shadow_px'] = max(1, int(round(2 * self._bone_radius.min() * f
                                                / float(np.median(sdepth)))))
        return out


class _Floor:
    """Anti-aliased checkerboard floor with distance fog, for a camera that only translates.

    For a camera whose rotation and height are fixed, the floor point seen by
    each pixel is ``camera_xz + offset(pixel)``; the offsets, the pixel
    footprint on the floor (for anti-aliasing) and the fog weight are computed
    once per clip. Each frame then evaluates a box-filtered checkerboard
    (``shade`` in [-1, 1], fading to 0 where a pixel covers many tiles) and
    looks the colour up in a (fog level, shade) table.
    """

    FOG_LEVELS = 32
    FOG_NEAR, FOG_FAR = 6.0, 20.0  # metres from the camera

    def __init__(self, renderer: BodyClipRenderer, rot: np.ndarray, cam_pos: np.ndarray,
                 floor_y: float, f: float):
        h, w = renderer.height, renderer.width
        self.height, self.width = h, w
        self.sky = np.asarray(renderer.sky_color, dtype=np.uint8)
        right, up, forward = rot
        u = (np.arange(w) + 0.5 - 0.5 * w) / f
        v = (np.arange(h) + 0.5 - 0.5 * h) / f
        ray = forward[None, None] + u[None, :, None] * right[None, None] \
            - v[:, None, None] * up[None, None]  # (H, W, 3)
        height = floor_y - cam_pos[1]  # negative: camera above the floor
        # no camera roll: a pixel row either sees the floor or the sky
        rows = np.nonzero((ray[..., 1] < -1e-6).all(axis=1))[0] if height < 0 else []
        self.row0 = int(rows[0]) if len(rows) else h
        if self.row0 >= h:
            return
        ray = ray[self.row0:]
        s = height / ray[..., 1]  # (R, W) ray parameter of the floor hit
        cell2 = 2.0 * renderer.checker_size  # period of the pattern
        off_x = s * ray[..., 0] / cell2
        off_z = s * ray[..., 2] / cell2
        # pixel footprint on the floor (fwidth), in periods
        fx, fz = np.abs(np.gradient(off_x, axis=1)), np.abs(np.gradient(off_z, axis=1))
        if off_x.shape[0] > 1:
            fx = fx + np.abs(np.gradient(off_x, axis=0))
            fz = fz + np.abs(np.gradient(off_z, axis=0))
        self.inv_period = 1.0 / cell2
        self.off_x, self.off_z = off_x.astype(np.float32), off_z.astype(np.float32)
        # signed edge distance g in [-0.25, 0.25] periods -> coverage clip(g / (fw / 2))
        self.gain_x = (2.0 / np.maximum(fx, 1e-9)).astype(np.float32)
        self.gain_z = (2.0 / np.maximum(fz, 1e-9)).astype(np.float32)
        dist = s * np.linalg.norm(ray, axis=-1)
        fog = np.clip((dist - self.FOG_NEAR) / (self.FOG_FAR - self.FOG_NEAR), 0.0, 1.0)
        levels = self.FOG_LEVELS
        self.fog_index = (np.round(fog * (levels - 1)).astype(np.uint16) * 256)
        c0 = np.asarray(renderer.floor_colors[0], dtype=np.float64)
        c1 = np.asarray(renderer.floor_colors[1], dtype=np.float64)
        shade = (np.arange(256) / 255.0)[None, :, None]
        fog_l = (np.arange(levels) / (levels - 1))[:, None, None]
        lut = (1 - fog_l) * (c1 + shade * (c0 - c1)) + fog_l * self.sky.astype(np.float64)
        self.lut = np.round(lut).astype(np.uint8).reshape(levels * 256, 3)
        shape = off_x.shape
        self._bufs = [np.empty(shape, np.float32) for _ in range(3)]
        self._idx = np.empty(shape, np.uint16)

    @staticmethod
    def _wave(off: np.ndarray, shift: float, gain: np.ndarray, out: np.ndarray,
              tmp: np.ndarray) -> np.ndarray:
        """Box-filtered square wave, period 1 (+1 on (0, .5), -1 on (.5, 1)), at ``off + shift``."""
        np.add(off, np.float32(shift + 0.25), out=out)  # quarter-period phase: edges at 0
        np.floor(out, out=tmp)
        np.subtract(out, tmp, out=out)  # fractional part in [0, 1)
        np.subtract(out, np.float32(0.5), out=out)
        np.abs(out, out=out)  # 0.5 at edges .. 0 mid-tile
        np.subtract(np.float32(0.25), out, out=out)  # signed distance to the nearest edge
        np.multiply(out, gain, out=out)
        np.clip(out, -1.0, 1.0, out=out)
        return out

    def render(self, cam_pos: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Background image (H, W, 3) uint8 for a camera at ``cam_pos``."""
        if out is None:
            out = np.empty((self.height, self.width, 3), dtype=np.uint8)
        out[:self.row0] = self.sky
        if self.row0 >= self.height:
            return out
        a, b, tmp = self._bufs
        sx = self._wave(self.off_x, cam_pos[0] * self.inv_period, self.gain_x, a, tmp)
        sz = self._wave(self.off_z, cam_pos[2] * self.inv_period, self.gain_z, b, tmp)
        np.multiply(sx, sz, out=sx)
        np.multiply(sx, np.float32(127.5), out=sx)
        np.add(sx, np.float32(128.0), out=sx)  # [0.5, 255.5]; truncation rounds
        np.copyto(self._idx, sx, casting='unsafe')
        np.add(self._idx, self.fog_index, out=self._idx)
        np.take(self.lut, self._idx, axis=0, out=out[self.row0:])
        return out

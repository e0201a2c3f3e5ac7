"""Stick-figure rendering of joint motions to MP4 / GIF videos and PNG filmstrips.

The renderer projects the 3D joints itself with a fixed oblique orthographic
camera (no ``mplot3d``), draws with a single reused matplotlib
:class:`~matplotlib.figure.Figure` on an Agg canvas and only updates artist
data per frame; static texts (title, legend) are rasterised once and blended
onto each frame. A 200-frame HumanML3D motion renders at ~100 frames/s at
480x480 on 2 CPU cores, well above real time. The global matplotlib backend
is never touched (no ``pyplot``).

Conventions: joints are (T, J, 3) in metres (any unit works: sizes scale with
the body), Y up; HumanML3D runs at 20 fps. A character in rest pose faces +Z,
so its left side is +X.

Example:
    >>> from mdkit.visualization import render_stick_figure, render_frames_png
    >>> render_stick_figure(joints, 'work_dirs/vis/000000.mp4', title='a person kicks')
    >>> render_frames_png(joints, 'work_dirs/vis/000000.png', num_frames=8)
"""
from __future__ import annotations

import logging
import math
import os
import os.path as osp
import textwrap
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from mdkit.motion.skeletons import SkeletonDef

__all__ = [
    'VIDEO_EXTENSIONS', 'IMAGE_EXTENSIONS', 'StickFigureRenderer', 'render_stick_figure',
    'render_frames_png', 'frames_to_array', 'check_joints'
]

#: File extensions :func:`render_stick_figure` can write.
VIDEO_EXTENSIONS = ('.mp4', '.gif')
#: File extensions :func:`render_frames_png` can write.
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg')

# Colours: left limbs blue, right limbs red/orange, spine and head dark grey.
LEFT_LEG_COLOR = '#1f4fb4'
LEFT_ARM_COLOR = '#3f9be0'
RIGHT_LEG_COLOR = '#c0262d'
RIGHT_ARM_COLOR = '#f08a24'
CENTER_COLOR = '#2f2f2f'
BACKGROUND_COLOR = '#ffffff'
FLOOR_COLOR = '#ecebe4'
GRID_COLOR = '#c9c7bb'
TRAJECTORY_COLOR = '#7a3fa8'
SHADOW_COLOR = '#a5a397'

_BASE_DPI = 100


def _log(msg: str, level: int = logging.INFO) -> None:
    from mmengine.logging import print_log
    print_log(msg, logger='current', level=level)


# ----------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------
def _get_skeleton(skeleton) -> SkeletonDef:
    from mdkit.motion.skeletons import get_skeleton
    return get_skeleton(skeleton)


def check_joints(joints, skeleton: str | SkeletonDef = 'humanml3d') -> np.ndarray:
    """Validate a joint sequence and return it as a float64 numpy array.

    Args:
        joints (np.ndarray | torch.Tensor): (T, J, 3) joint positions.
        skeleton (str | SkeletonDef): Skeleton the joints belong to.

    Returns:
        np.ndarray: (T, J, 3) float64 copy of the joints.

    Raises:
        ValueError: When the shape does not match the skeleton or the values
            are not finite.
    """
    skel = _get_skeleton(skeleton)
    if hasattr(joints, 'detach'):  # torch.Tensor without importing torch
        joints = joints.detach().cpu().numpy()
    arr = np.asarray(joints)
    num_j = skel.num_joints
    if arr.ndim != 3 or arr.shape[1] != num_j or arr.shape[2] != 3 or arr.shape[0] < 1:
        hint = ''
        if arr.ndim == 3 and arr.shape[2] == 3 and arr.shape[1] != num_j:
            others = {21: 'kit', 22: 'humanml3d'}
            if arr.shape[1] in others and others[arr.shape[1]] != skel.name:
                hint = f"; {arr.shape[1]} joints looks like skeleton='{others[arr.shape[1]]}'"
        elif arr.ndim == 2 and arr.shape[1] == skel.feature_dim:
            hint = ('; this looks like a feature vector sequence, convert it first with '
                    'mdkit.motion.features_to_joints')
        elif arr.ndim == 2 and arr.shape == (num_j, 3):
            hint = '; for a single pose add a time axis: joints[None]'
        raise ValueError(
            f'joints must have shape (T, {num_j}, 3) for skeleton {skel.name!r} '
            f'(T >= 1), got {tuple(arr.shape)}{hint}')
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f'joints must be real numbers, got dtype {arr.dtype}')
    arr = arr.astype(np.float64)
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)
        t, j, _ = bad[0]
        raise ValueError(
            f'joints contain {len(bad)} non-finite values (NaN/inf); first at frame {t}, '
            f'joint {j} ({skel.joint_names[j]!r})')
    return arr


def _check_size(size, name: str = 'size') -> tuple:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be (width, height) in pixels, got {size!r}') from None
    if w < 32 or h < 32:
        raise ValueError(f'{name} must be at least 32x32 pixels, got {w}x{h}')
    return w, h


def _check_fps(fps) -> float:
    fps = float(fps)
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f'fps must be a positive number, got {fps}')
    return fps


def _check_ext(path: str, allowed: tuple, what: str) -> str:
    ext = osp.splitext(str(path))[1].lower()
    if ext not in allowed:
        raise ValueError(
            f'Unsupported {what} file extension {ext or "(none)"!r} for {str(path)!r}; '
            f'use one of {", ".join(allowed)}')
    return ext


# ----------------------------------------------------------------------------
# geometry
# ----------------------------------------------------------------------------
def _side(name: str) -> str:
    low = name.lower()
    if low.startswith('left') or low.startswith('l_'):
        return 'left'
    if low.startswith('right') or low.startswith('r_'):
        return 'right'
    if len(name) > 1 and name[0] in 'LR' and name[1].isupper():
        return 'left' if name[0] == 'L' else 'right'
    return 'center'


def _chain_styles(skel: SkeletonDef) -> list:
    """(joint indices, colour, is_limb) for every kinematic chain."""
    feet = set(skel.foot_joints)
    styles = []
    for chain in skel.kinematic_chains:
        sides = [_side(skel.joint_names[j]) for j in chain[1:]]
        n_left, n_right = sides.count('left'), sides.count('right')
        is_leg = any(j in feet for j in chain)
        if n_left > n_right and n_left > 0:
            color = LEFT_LEG_COLOR if is_leg else LEFT_ARM_COLOR
        elif n_right > n_left:
            color = RIGHT_LEG_COLOR if is_leg else RIGHT_ARM_COLOR
        else:
            color = CENTER_COLOR
        styles.append((np.asarray(chain, dtype=np.int64), color, color != CENTER_COLOR))
    return styles


def _camera_basis(elev: float, azim: float) -> np.ndarray:
    """(3, 3) rows: screen right, screen up, towards-camera, for an orthographic view.

    ``azim`` = 0 looks at a character in rest pose (facing +Z) from the front;
    positive ``azim`` moves the camera towards the character's left (+X).
    """
    el, az = math.radians(elev), math.radians(azim)
    back = np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])
    right = np.cross(-back, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, -back)
    return np.stack([right, up, back])


def _box_smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Edge-padded moving average (applied twice: a triangle filter) along axis 0."""
    if width <= 1 or len(x) <= 1:
        return x.copy()
    kernel = np.ones(width) / width
    out = x
    for _ in range(2):
        pad = np.concatenate([np.repeat(out[:1], width, 0), out, np.repeat(out[-1:], width, 0)])
        out = np.stack([np.convolve(pad[:, k], kernel, mode='same')[width:-width]
                        for k in range(x.shape[1])], axis=1)
    return out


def _nice_step(x: float) -> float:
    """Round ``x`` to 1, 2 or 5 times a power of ten."""
    exp = math.floor(math.log10(x))
    frac = x / 10**exp
    return (1 if frac < 1.5 else 2 if frac < 3.5 else 5) * 10**exp


class _Scene:
    """Projected geometry of one motion seen by one camera, and its matplotlib artists.

    Args:
        joints (np.ndarray): (T, J, 3) validated joints.
        skel (SkeletonDef): Skeleton.
        aspect (float): Width / height of the axes in pixels.
        elev (float): Camera elevation in degrees.
        azim (float): Camera azimuth in degrees.
        follow (bool): Camera follows the (smoothed) root; otherwise it is
            fixed and frames the whole motion.
        smooth_frames (int): Moving-average width of the camera path.
        frames (np.ndarray | None): Frame indices that must fit in the view
            (all frames by default).
    """

    def __init__(self, joints, skel, aspect, elev=20.0, azim=35.0, follow=True,
                 smooth_frames=10, frames=None):
        self.skel = skel
        self.chains = _chain_styles(skel)
        num_t = len(joints)
        basis = _camera_basis(elev, azim)
        self.floor_y = float(joints[..., 1].min())
        extent = joints.max(axis=1) - joints.min(axis=1)  # (T, 3)
        scale = float(np.linalg.norm(extent, axis=-1).max())
        self.scale = scale if scale > 1e-6 else 1.0

        proj = joints @ basis.T  # (T, J, 3): x, y, depth
        self.xy = proj[..., :2]
        self.depth = proj[..., 2]
        floor_pts = joints.copy()
        floor_pts[..., 1] = self.floor_y
        self.shadow = (floor_pts @ basis[:2].T)  # (T, J, 2)
        self.traj = self.shadow[:, 0]  # root on the floor, (T, 2)

        # camera centre (projected), before the constant framing offset
        root_xz = joints[:, 0, [0, 2]]
        if follow:
            cam_xz = _box_smooth(root_xz, max(1, int(smooth_frames)))
        else:
            cam_xz = np.repeat(((root_xz.min(0) + root_xz.max(0)) / 2)[None], num_t, 0)
        cam = np.stack([cam_xz[:, 0], np.full(num_t, self.floor_y), cam_xz[:, 1]], axis=1)
        centers = cam @ basis[:2].T  # (T, 2)

        sel = np.arange(num_t) if frames is None else np.asarray(frames)
        rel = np.concatenate([self.xy[sel], self.shadow[sel]], axis=1) - centers[sel, None]
        lo, hi = rel.min(axis=(0, 1)), rel.max(axis=(0, 1))
        margin = 0.1 * self.scale
        half = np.maximum((hi - lo) / 2 + margin, 0.3 * self.scale)
        if half[0] / half[1] < aspect:
            half[0] = half[1] * aspect
        else:
            half[1] = half[0] / aspect
        self.half = half
        self.centers = centers + (lo + hi) / 2

        # floor rectangle and grid lines covering every visible part of the floor
        reach = 2.0 * max(half[0], half[1] / max(math.sin(math.radians(elev)), 0.2))
        step = _nice_step(self.scale / 3.5)
        x0, z0 = root_xz.min(0) - reach
        x1, z1 = root_xz.max(0) + reach
        x0, z0 = math.floor(x0 / step) * step, math.floor(z0 / step) * step
        x1, z1 = math.ceil(x1 / step) * step, math.ceil(z1 / step) * step
        fy = self.floor_y
        segs = [[(x, fy, z0), (x, fy, z1)] for x in np.arange(x0, x1 + step / 2, step)]
        segs += [[(x0, fy, z), (x1, fy, z)] for z in np.arange(z0, z1 + step / 2, step)]
        self.grid = np.asarray(segs) @ basis[:2].T  # (N, 2, 2)
        corners = np.array([(x0, fy, z0), (x1, fy, z0), (x1, fy, z1), (x0, fy, z1)])
        self.floor_poly = corners @ basis[:2].T

    # -- artists ----------------------------------------------------------------
    def add_static(self, ax, lw: float, show_floor=True, show_trajectory=True,
                   full_trajectory=True):
        from matplotlib.collections import LineCollection
        from matplotlib.patches import Polygon

        ax.set_axis_off()
        ax.set_autoscale_on(False)
        if show_floor:
            ax.add_patch(Polygon(self.floor_poly, closed=True, facecolor=FLOOR_COLOR,
                                 edgecolor='none', zorder=0))
            ax.add_collection(LineCollection(self.grid, colors=GRID_COLOR,
                                             linewidths=0.6 * lw, zorder=1))
        if show_trajectory and full_trajectory and len(self.traj) > 1:
            ax.plot(self.traj[:, 0], self.traj[:, 1], color=TRAJECTORY_COLOR, alpha=0.25,
                    lw=0.8 * lw, ls=(0, (2, 2)), zorder=2)

    def add_pose(self, ax, lw: float, show_shadow=True, show_trajectory=True, alpha=1.0,
                 zorder_base=10):
        """Create the per-frame artists; returns a dict to pass to :meth:`update`."""
        arts = {'zorder_base': zorder_base, 'chains': [], 'shadows': [], 'past': None}
        if show_trajectory:
            (arts['past'],) = ax.plot([], [], color=TRAJECTORY_COLOR, lw=1.2 * lw, alpha=0.9,
                                      solid_capstyle='round', zorder=3)
        for _, color, is_limb in self.chains:
            if show_shadow:
                (sh,) = ax.plot([], [], color=SHADOW_COLOR, lw=1.6 * lw, alpha=0.5 * alpha,
                                solid_capstyle='round', solid_joinstyle='round', zorder=4)
                arts['shadows'].append(sh)
            (line,) = ax.plot([], [], color=color, lw=(2.6 if is_limb else 3.0) * lw,
                              alpha=alpha, marker='o', ms=1.9 * lw, mec=color, mfc=color,
                              solid_capstyle='round', solid_joinstyle='round',
                              zorder=zorder_base)
            arts['chains'].append(line)
        # head: the last joint of the chain that contains the root and is central
        head_chain = [c for c, color, _ in self.chains if color == CENTER_COLOR]
        arts['head_idx'] = int(head_chain[0][-1]) if head_chain else None
        if arts['head_idx'] is not None:
            (arts['head'],) = ax.plot([], [], ls='none', marker='o', ms=7.0 * lw,
                                      mfc='#f7f7f2', mec=CENTER_COLOR, mew=1.6 * lw,
                                      alpha=alpha, zorder=zorder_base)
        return arts

    def set_view(self, ax, t: int):
        cx, cy = self.centers[t]
        ax.set_xlim(cx - self.half[0], cx + self.half[0])
        ax.set_ylim(cy - self.half[1], cy + self.half[1])

    def update(self, arts, t: int):
        xy, depth = self.xy[t], self.depth[t]
        order = np.argsort([depth[idx].mean() for idx, _, _ in self.chains])
        for rank, k in enumerate(order):
            idx = self.chains[k][0]
            line = arts['chains'][k]
            line.set_data(xy[idx, 0], xy[idx, 1])
            line.set_zorder(arts['zorder_base'] + rank)
            if arts['shadows']:
                sh = self.shadow[t, idx]
                arts['shadows'][k].set_data(sh[:, 0], sh[:, 1])
        if arts['head_idx'] is not None:
            h = arts['head_idx']
            arts['head'].set_data(xy[h:h + 1, 0], xy[h:h + 1, 1])
            head_depth = depth[h]
            # draw the head above chains that are further away than it
            n_behind = int(sum(depth[self.chains[k][0]].mean() <= head_depth for k in order))
            arts['head'].set_zorder(arts['zorder_base'] + n_behind - 0.5)
        if arts['past'] is not None:
            arts['past'].set_data(self.traj[:t + 1, 0], self.traj[:t + 1, 1])


# ----------------------------------------------------------------------------
# canvas helpers
# ----------------------------------------------------------------------------
def _new_canvas(width: int, height: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # the small epsilon makes int(figsize * dpi) land exactly on the pixel size
    fig = Figure(figsize=((width + 1e-3) / _BASE_DPI, (height + 1e-3) / _BASE_DPI),
                 dpi=_BASE_DPI, facecolor=BACKGROUND_COLOR)
    canvas = FigureCanvasAgg(fig)
    return fig, canvas


def _grab(canvas, width: int, height: int) -> np.ndarray:
    canvas.draw()
    buf = np.asarray(canvas.buffer_rgba())
    if buf.shape[:2] == (height, width):
        return buf[..., :3].copy()
    out = np.full((height, width, 3), 255, dtype=np.uint8)
    h, w = min(height, buf.shape[0]), min(width, buf.shape[1])
    out[:h, :w] = buf[:h, :w, :3]
    return out


def _wrap_title(title: str | None, width_px: int, font_px: float, max_lines: int = 2) -> list:
    if not title:
        return []
    chars = max(8, int(width_px / (0.55 * font_px)))
    lines = textwrap.wrap(str(title), width=chars) or ['']
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:max(1, chars - 3)].rstrip() + '...'
    return lines


def _add_title(fig, lines: list, height_px: int, font_pt: float, strip_px: float) -> list:
    if not lines:
        return []
    return [fig.text(0.5, 1 - (strip_px / 2) / height_px, '\n'.join(lines), ha='center',
                     va='center', fontsize=font_pt, color='#222222', linespacing=1.15)]


def _add_legend(ax, font_pt: float) -> list:
    from matplotlib.transforms import offset_copy

    second = offset_copy(ax.transAxes, fig=ax.figure, y=-1.25 * font_pt, units='points')
    return [ax.text(0.985, 0.975, 'left', transform=ax.transAxes, ha='right', va='top',
                    fontsize=font_pt, color=LEFT_LEG_COLOR, fontweight='bold', zorder=100),
            ax.text(0.985, 0.975, 'right', transform=second, ha='right', va='top',
                    fontsize=font_pt, color=RIGHT_LEG_COLOR, fontweight='bold', zorder=100)]


class _StaticOverlay:
    """Static texts rendered once and alpha-blended onto every frame.

    Rasterising text is the most expensive part of an Agg draw of this scene;
    texts that never change (title, legend) are drawn once on a transparent
    canvas, hidden, and pasted back into each grabbed frame.
    """

    def __init__(self, fig, canvas, texts: list, width: int, height: int):
        self.patches = []
        if not texts:
            return
        keep = set(map(id, texts))
        saved = [(a, a.get_visible()) for ax in fig.axes for a in ax.get_children()]
        saved += [(a, a.get_visible()) for a in fig.texts]
        saved.append((fig.patch, fig.patch.get_visible()))
        for artist, _ in saved:
            artist.set_visible(id(artist) in keep)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        renderer = canvas.get_renderer()
        boxes = []
        for text in texts:
            box = text.get_window_extent(renderer)
            boxes.append([max(0, height - int(math.ceil(box.y1)) - 2),
                          min(height, height - int(box.y0) + 2),
                          max(0, int(box.x0) - 2), min(width, int(math.ceil(box.x1)) + 2)])
        # overlapping boxes are merged so that no pixel is blended twice
        merged = True
        while merged:
            merged = False
            for i in range(len(boxes)):
                for k in range(i + 1, len(boxes)):
                    a, b = boxes[i], boxes[k]
                    if a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]:
                        boxes[i] = [min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]),
                                    max(a[3], b[3])]
                        del boxes[k]
                        merged = True
                        break
                if merged:
                    break
        for r0, r1, c0, c1 in boxes:
            if r1 <= r0 or c1 <= c0:
                continue
            patch = rgba[r0:r1, c0:c1].astype(np.float32)
            alpha = patch[..., 3:] / 255.0
            self.patches.append(((slice(r0, r1), slice(c0, c1)), patch[..., :3] * alpha,
                                 1.0 - alpha))
        for artist, visible in saved:
            artist.set_visible(visible and id(artist) not in keep)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        for region, premul, inv_alpha in self.patches:
            frame[region] = (premul + frame[region] * inv_alpha + 0.5).astype(np.uint8)
        return frame


# ----------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------
class StickFigureRenderer:
    """Renders the frames of one motion as RGB images, reusing one figure.

    Args:
        joints (np.ndarray | torch.Tensor): (T, J, 3) joint positions, Y up.
        skeleton (str | SkeletonDef): ``'humanml3d'`` (22 joints) or
            ``'kit'`` (21 joints), or a :class:`SkeletonDef`.
        fps (float): Frame rate, used for the time stamp. Defaults to 20.
        title (str | None): Text shown above the figure (wrapped, at most two
            lines).
        size (tuple[int, int]): (width, height) of each frame in pixels.
        elev (float): Camera elevation in degrees. Defaults to 20.
        azim (float): Camera azimuth in degrees; 0 looks at a character in
            rest pose from the front, positive values move the camera to its
            left. Defaults to 35.
        follow (bool): Camera follows the smoothed root so long walks stay in
            view; False frames the whole motion with a fixed camera.
        follow_smoothing (float): Seconds of root motion averaged for the
            camera path. Defaults to 0.5.
        show_trajectory (bool): Draw the root trajectory on the floor.
        show_shadow (bool): Draw the skeleton projected on the floor.
        show_info (bool): Draw the frame counter / time and the left/right
            colour legend.

    Example:
        >>> renderer = StickFigureRenderer(joints, 'humanml3d', size=(320, 320))
        >>> frame = renderer.render(0)  # (320, 320, 3) uint8
    """

    def __init__(self, joints, skeleton='humanml3d', fps: float = 20, title: str | None = None,
                 size=(480, 480), elev: float = 20.0, azim: float = 35.0, follow: bool = True,
                 follow_smoothing: float = 0.5, show_trajectory: bool = True,
                 show_shadow: bool = True, show_info: bool = True):
        self.skeleton = _get_skeleton(skeleton)
        self.joints = check_joints(joints, self.skeleton)
        self.fps = _check_fps(fps)
        self.width, self.height = _check_size(size)
        w, h = self.width, self.height
        ui = min(w, h) / 480  # scale of line widths / fonts relative to a 480 px frame
        font_pt = max(6.0, 11.0 * ui)
        title_lines = _wrap_title(title, w, font_pt * _BASE_DPI / 72)
        strip = (len(title_lines) * 1.3 + 0.7) * font_pt * _BASE_DPI / 72 if title_lines else 0
        self.fig, self.canvas = _new_canvas(w, h)
        top = 1 - strip / h
        ax = self.fig.add_axes((0, 0, 1, top))
        self.ax = ax
        self.scene = _Scene(self.joints, self.skeleton, aspect=w / (h * top), elev=elev,
                            azim=azim, follow=follow,
                            smooth_frames=round(follow_smoothing * self.fps))
        lw = max(0.6, 1.25 * ui)
        self.scene.add_static(ax, lw, show_trajectory=show_trajectory)
        self.arts = self.scene.add_pose(ax, lw, show_shadow=show_shadow,
                                        show_trajectory=show_trajectory)
        static = _add_title(self.fig, title_lines, h, font_pt, strip)
        self.info = None
        if show_info:
            static += _add_legend(ax, 0.85 * font_pt)
            self.info = ax.text(0.015, 0.015, '', transform=ax.transAxes, ha='left',
                                va='bottom', fontsize=0.8 * font_pt, color='#555555',
                                family='monospace', zorder=100)
        self.static_texts = static
        self.overlay = None  # built lazily on the first render

    def __len__(self) -> int:
        return len(self.joints)

    def render(self, t: int) -> np.ndarray:
        """Render frame ``t``.

        Args:
            t (int): Frame index in ``[0, T)``.

        Returns:
            np.ndarray: (H, W, 3) uint8 RGB image.
        """
        t = int(t)
        if not 0 <= t < len(self):
            raise IndexError(f'frame {t} out of range for a motion of {len(self)} frames')
        self.scene.update(self.arts, t)
        self.scene.set_view(self.ax, t)
        if self.info is not None:
            self.info.set_text(f'{t + 1:>4d}/{len(self)}  {t / self.fps:5.2f}s')
        if self.overlay is None:
            self.overlay = _StaticOverlay(self.fig, self.canvas, self.static_texts, self.width,
                                          self.height)
        return self.overlay.apply(_grab(self.canvas, self.width, self.height))

    def __iter__(self):
        for t in range(len(self)):
            yield self.render(t)


def frames_to_array(joints, skeleton='humanml3d', fps: float = 20, title: str | None = None,
                    size=(480, 480), **kwargs) -> np.ndarray:
    """Render every frame of a motion into one array.

    Args:
        joints (np.ndarray | torch.Tensor): (T, J, 3) joint positions, Y up.
        skeleton (str | SkeletonDef): Skeleton name or definition.
        fps (float): Frame rate (for the time stamp).
        title (str | None): Optional title.
        size (tuple[int, int]): (width, height) in pixels.
        **kwargs: Further :class:`StickFigureRenderer` options.

    Returns:
        np.ndarray: (T, H, W, 3) uint8 RGB frames.
    """
    renderer = StickFigureRenderer(joints, skeleton, fps=fps, title=title, size=size, **kwargs)
    out = np.empty((len(renderer), renderer.height, renderer.width, 3), dtype=np.uint8)
    for t in range(len(renderer)):
        out[t] = renderer.render(t)
    return out


def _write_gif(renderer: StickFigureRenderer, out_path: str, num_palette_frames: int = 8):
    """Write a looping GIF with one global palette.

    Pillow (imageio's GIF backend) builds an adaptive palette per frame by
    default, which is ~10x slower than rendering; the scene has few colours,
    so one palette from a handful of frames (the last one holds the whole
    trajectory) maps every frame without visible loss.
    """
    from PIL import Image

    num_t = len(renderer)
    sample = np.unique(np.linspace(0, num_t - 1, min(num_palette_frames, num_t)).round())
    stacked = np.concatenate([renderer.render(int(t)) for t in sample], axis=0)
    palette = Image.fromarray(stacked).quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE)
              for frame in renderer]
    images[0].save(out_path, format='GIF', save_all=True, append_images=images[1:],
                   duration=max(10, round(1000.0 / renderer.fps)), loop=0, disposal=1)


def render_stick_figure(joints, out_path: str, skeleton='humanml3d', fps: float = 20,
                        title: str | None = None, size=(480, 480), quality: float = 7,
                        **kwargs) -> str:
    """Render a joint motion as a stick-figure video (``.mp4`` or ``.gif``).

    Each kinematic chain is a coloured polyline (left limbs blue, right limbs
    red/orange, spine grey), drawn over a floor grid with the root trajectory
    and the skeleton's floor shadow; the camera follows the root.

    MP4 files are H.264 (yuv420p, preset ``veryfast``) written through
    imageio with imageio-ffmpeg's bundled ffmpeg (no system ffmpeg needed);
    odd frame sizes are rounded up to even ones. GIFs are written with
    Pillow (imageio's GIF backend) using one global palette, and loop
    forever.

    Args:
        joints (np.ndarray | torch.Tensor): (T, J, 3) joint positions in
            metres, Y up.
        out_path (str): Output file; the extension picks the format. Parent
            folders are created.
        skeleton (str | SkeletonDef): ``'humanml3d'``, ``'kit'`` or a
            :class:`SkeletonDef`. Defaults to ``'humanml3d'``.
        fps (float): Frames per second of the motion and the video.
        title (str | None): Text shown above the figure, e.g. the caption.
        size (tuple[int, int]): (width, height) in pixels. Defaults to
            (480, 480).
        quality (float): H.264 quality 0-10 (MP4 only). Defaults to 7.
        **kwargs: Further :class:`StickFigureRenderer` options (``elev``,
            ``azim``, ``follow``, ``show_trajectory``, ``show_shadow``,
            ``show_info``).

    Returns:
        str: ``out_path``.

    Raises:
        ValueError: Unsupported extension, bad shape, non-finite joints.
    """
    import time

    ext = _check_ext(out_path, VIDEO_EXTENSIONS, 'video')
    width, height = _check_size(size)
    if ext == '.mp4' and (width % 2 or height % 2):
        width, height = width + width % 2, height + height % 2
        _log(f'H.264 needs an even frame size; rendering at {width}x{height}', logging.DEBUG)
    renderer = StickFigureRenderer(joints, skeleton, fps=fps, title=title,
                                   size=(width, height), **kwargs)
    out_dir = osp.dirname(osp.abspath(out_path))
    os.makedirs(out_dir, exist_ok=True)
    start = time.perf_counter()
    if ext == '.mp4':
        import imageio.v2 as imageio
        writer = imageio.get_writer(out_path, format='FFMPEG', mode='I', fps=renderer.fps,
                                    codec='libx264', pixelformat='yuv420p', quality=quality,
                                    macro_block_size=2, ffmpeg_log_level='error',
                                    output_params=['-preset', 'veryfast'])
        try:
            for frame in renderer:
                writer.append_data(frame)
        finally:
            writer.close()
    else:
        _write_gif(renderer, out_path)
    elapsed = time.perf_counter() - start
    _log(f'Saved {len(renderer)} frames ({width}x{height}, {renderer.fps:g} fps) to {out_path} '
         f'in {elapsed:.1f}s ({len(renderer) / max(elapsed, 1e-9):.0f} frames/s)')
    return out_path


def render_frames_png(joints, out_path: str, skeleton='humanml3d', num_frames: int = 8,
                      title: str | None = None, fps: float = 20, mode: str = 'filmstrip',
                      ncols: int = 4, panel_size=(240, 300), size=None, elev: float = 20.0,
                      azim: float = 35.0) -> str:
    """Render several evenly spaced frames of a motion into one image.

    Args:
        joints (np.ndarray | torch.Tensor): (T, J, 3) joint positions, Y up.
        out_path (str): Output ``.png`` (or ``.jpg``) file.
        skeleton (str | SkeletonDef): Skeleton name or definition.
        num_frames (int): Number of frames shown, evenly spaced from the first
            to the last one (at most T).
        title (str | None): Text above the panels.
        fps (float): Frame rate, for the per-panel time labels.
        mode (str): ``'filmstrip'``: a grid of panels, one pose each, the
            camera following the root; ``'overlay'``: all poses in one view
            along the trajectory, later poses more opaque.
        ncols (int): Panels per row in ``'filmstrip'`` mode.
        panel_size (tuple[int, int]): (width, height) of one filmstrip panel.
        size (tuple[int, int] | None): Total (width, height) of the image.
            Defaults to ``(ncols' * panel_w, nrows * panel_h + title strip)``
            for a filmstrip (``ncols' = min(ncols, num_frames)``) and
            ``(720, 480)`` for an overlay.
        elev (float): Camera elevation in degrees.
        azim (float): Camera azimuth in degrees.

    Returns:
        str: ``out_path``.
    """
    import imageio.v3 as iio

    _check_ext(out_path, IMAGE_EXTENSIONS, 'image')
    if mode not in ('filmstrip', 'overlay'):
        raise ValueError(f"mode must be 'filmstrip' or 'overlay', got {mode!r}")
    skel = _get_skeleton(skeleton)
    arr = check_joints(joints, skel)
    fps = _check_fps(fps)
    num_t = len(arr)
    if int(num_frames) < 1:
        raise ValueError(f'num_frames must be >= 1, got {num_frames}')
    frames = np.unique(np.linspace(0, num_t - 1, min(int(num_frames), num_t)).round()
                       .astype(np.int64))
    n = len(frames)

    font_px_nominal = 11.0 * _BASE_DPI / 72
    if mode == 'filmstrip':
        ncols = max(1, min(int(ncols), n))
        nrows = math.ceil(n / ncols)
        pw, ph = _check_size(panel_size, 'panel_size')
        if size is None:
            n_title = len(_wrap_title(title, ncols * pw, font_px_nominal))
            strip = (n_title * 1.3 + 0.7) * font_px_nominal if n_title else 0
            size = (ncols * pw, nrows * ph + int(math.ceil(strip)))
    elif size is None:
        size = (720, 480)
    width, height = _check_size(size)

    ui = min(width, height) / 480 if mode == 'overlay' else min(pw, ph) / 300
    font_pt = 11.0 if mode == 'filmstrip' else max(6.0, 11.0 * ui)
    title_lines = _wrap_title(title, width, font_pt * _BASE_DPI / 72)
    strip = (len(title_lines) * 1.3 + 0.7) * font_pt * _BASE_DPI / 72 if title_lines else 0
    fig, canvas = _new_canvas(width, height)
    top = 1 - strip / height
    lw = max(0.6, 1.2 * ui)

    if mode == 'filmstrip':
        cell_w, cell_h = 1 / ncols, top / nrows
        scene = _Scene(arr, skel, aspect=(width * cell_w) / (height * cell_h), elev=elev,
                       azim=azim, follow=True, smooth_frames=round(0.5 * fps))
        for k, t in enumerate(frames):
            r, c = divmod(k, ncols)
            ax = fig.add_axes((c * cell_w, top - (r + 1) * cell_h, cell_w, cell_h))
            scene.add_static(ax, lw)
            arts = scene.add_pose(ax, lw)
            scene.update(arts, int(t))
            scene.set_view(ax, int(t))
            ax.text(0.5, 0.02, f'frame {t}  ({t / fps:.2f}s)', transform=ax.transAxes,
                    ha='center', va='bottom', fontsize=0.8 * font_pt, color='#444444',
                    zorder=100)
            if c > 0:  # thin separators between panels
                ax.axvline(ax.get_xlim()[0], color='#ffffff', lw=2, zorder=99)
        _add_legend(fig.axes[0], 0.8 * font_pt)
    else:
        ax = fig.add_axes((0, 0, 1, top))
        scene = _Scene(arr, skel, aspect=width / (height * top), elev=elev, azim=azim,
                       follow=False, frames=frames)
        scene.add_static(ax, lw)
        for k, t in enumerate(frames):
            alpha = 0.3 + 0.7 * (k + 1) / n
            arts = scene.add_pose(ax, lw, show_shadow=(k == n - 1),
                                  show_trajectory=(k == n - 1), alpha=alpha,
                                  zorder_base=10 + 10 * k)
            scene.update(arts, int(t))
        scene.set_view(ax, 0)
        _add_legend(ax, 0.85 * font_pt)
    _add_title(fig, title_lines, height, font_pt, strip)

    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    iio.imwrite(out_path, _grab(canvas, width, height))
    _log(f'Saved {n} frames of a {num_t}-frame motion ({mode}, {width}x{height}) to {out_path}')
    return out_path

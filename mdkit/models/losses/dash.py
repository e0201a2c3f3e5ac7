"""DASH: alignment of denoiser features with video features of the same clip.

MotionDuet regularises training by aligning an intermediate denoiser hidden
state (or the predicted clean motion) with the features a pretrained video
model gives for the same clip. DASH (Distribution-Aware Structural
Harmonization) combines two kinds of terms; the exact formulas are our reading
of the paper's abstract:

* *distribution* terms compare the two clouds of tokens of the batch, without
  any frame correspondence: first and second moments (:func:`moment_matching`,
  CORAL-style) and kernel MMD (:func:`mmd_rbf`);
* *structure* terms compare the temporal organisation of each clip: temporal
  self-similarity matrices (:func:`gram_matching`) and linear CKA
  (:func:`linear_cka`);
* the REPA-style per-token cosine (:func:`cosine_alignment`) is the plain
  baseline.

Every loss module takes
``forward(motion_feat, video_feat, motion_mask, video_present=None, video_mask=None)``
with ``motion_feat`` (B, T, C_m), ``video_feat`` (B, F, C_v) (F may differ
from T), ``motion_mask`` (B, T) and ``video_mask`` (B, F) bool valid frames,
and ``video_present`` (B,) bool. Samples without video (or without any valid
motion or video frame) contribute nothing; when no sample is left the loss is
a zero that keeps the graph. Structure and cosine terms compare sequences
after :func:`resample_valid` has brought the valid part of each one to
``num_slots`` time points; distribution terms use the valid frames as they are.

A learned projector (two linear layers with SiLU in between) maps motion
features to the video width ``C_v``. Its parameters belong to the loss module,
so the loss must be a child of the generator for the optimizer to train it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mdkit.registry import MODELS

from .utils import zero_padding

__all__ = [
    'resample_valid', 'build_projector', 'moment_matching', 'mmd_rbf', 'gram_matching',
    'linear_cka', 'cosine_alignment', 'BaseAlignmentLoss', 'MomentMatchingLoss', 'MMDLoss',
    'GramMatchingLoss', 'CKALoss', 'CosineAlignmentLoss', 'DASHLoss'
]

#: Multipliers of the median heuristic used by :func:`mmd_rbf` when no
#: explicit bandwidths are given.
DEFAULT_MMD_MULTIPLIERS = (0.5, 1.0, 2.0, 4.0)


# ----------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------
def _shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def _check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f'{name} must be an int >= {minimum}, got {value!r}')
    return value


def _check_weight(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f'{name} must be a float >= 0, got {value!r}')
    return float(value)


def _check_seq(x: torch.Tensor, name: str, expected: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f'{name} must be a tensor of shape {expected}, got {type(x).__name__}')
    if x.ndim != 3:
        raise ValueError(f'{name} must have shape {expected}, got {_shape(x)}')
    if not x.dtype.is_floating_point:
        raise ValueError(f'{name} must be a floating-point tensor of shape {expected}, '
                         f'got dtype {x.dtype}')


def _check_tokens(x: torch.Tensor, y: torch.Tensor, x_name: str = 'x',
                  y_name: str = 'y') -> None:
    """(N, C) and (M, C) token sets of the same width."""
    for t, name in ((x, x_name), (y, y_name)):
        if not isinstance(t, torch.Tensor) or t.ndim != 2:
            shape = _shape(t) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f'{name} must be a (N, C) token set, got {shape}')
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f'{x_name} {_shape(x)} and {y_name} {_shape(y)} must have the same '
                         'width C')


def _check_pair(x: torch.Tensor, y: torch.Tensor, same_width: bool) -> None:
    """(B, S, C) sequences of the same batch size and length."""
    for t, name in ((x, 'x'), (y, 'y')):
        if not isinstance(t, torch.Tensor) or t.ndim != 3:
            shape = _shape(t) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f'{name} must have shape (B, S, C), got {shape}')
    if x.shape[:2] != y.shape[:2]:
        raise ValueError(f'x {_shape(x)} and y {_shape(y)} must share (B, S)')
    if same_width and x.shape[-1] != y.shape[-1]:
        raise ValueError(f'x {_shape(x)} and y {_shape(y)} must have the same width C')


def _check_mask(mask, x: torch.Tensor, mask_name: str, x_name: str) -> torch.Tensor:
    """A (B, T) mask matching ``x`` (B, T, C), returned as bool on ``x``'s device."""
    if not isinstance(mask, torch.Tensor) or mask.ndim != 2 \
            or _shape(mask) != _shape(x)[:2]:
        shape = _shape(mask) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f'{mask_name} must have shape (B, T) = {_shape(x)[:2]} to match '
                         f'{x_name} {_shape(x)}, got {shape}')
    return mask.to(device=x.device, dtype=torch.bool)


def _stat_dtype(x: torch.Tensor) -> torch.dtype:
    """Statistics run in float32 at least (covariances in half precision are too coarse)."""
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


# ----------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------
def resample_valid(x: torch.Tensor, mask: torch.Tensor, num_slots: int) -> torch.Tensor:
    """Resample the valid frames of each sequence to ``num_slots`` time points.

    Per sample, the valid frames (in order; padding is usually at the end but
    any mask works) are linearly interpolated exactly as
    ``F.interpolate(mode='linear', align_corners=True)`` does on the valid part
    alone: slot ``s`` reads position ``s * (L - 1) / (S - 1)``, so the first and
    last slots are exactly the first and last valid frames. All samples are
    done at once with two gathers (no per-length loop, no host sync), which
    keeps the backward pass O(B S C). Padded frames are never read, so their
    content (even NaN) changes neither the value nor the gradient. A sample
    with one valid frame gives that frame repeated; a sample without valid
    frames gives zeros. Differentiable.

    Args:
        x (Tensor): (B, T, C) sequences.
        mask (Tensor): (B, T) bool, True at valid frames.
        num_slots (int): Number S of output time points, >= 2.

    Returns:
        Tensor: (B, S, C) resampled sequences, dtype of ``x``.
    """
    _check_seq(x, 'x', '(B, T, C)')
    mask = _check_mask(mask, x, 'mask', 'x')
    _check_positive_int(num_slots, 'num_slots', minimum=2)
    b, _, c = x.shape
    # frame indices of the valid frames first, in their order
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
    lengths = mask.sum(1, keepdim=True)  # (B, 1)
    last = (lengths - 1).clamp_min(0)
    # integer arithmetic: slot s sits at (s * last) / (S - 1), exact at both ends
    num = torch.arange(num_slots, device=x.device)[None] * last  # (B, S)
    lo = torch.div(num, num_slots - 1, rounding_mode='floor')
    hi = torch.minimum(lo + 1, last)
    frac = ((num - lo * (num_slots - 1)).to(x.dtype) / (num_slots - 1)).unsqueeze(-1)

    def take(slot_idx: torch.Tensor) -> torch.Tensor:
        frames = order.gather(1, slot_idx)
        return x.gather(1, frames.unsqueeze(-1).expand(b, num_slots, c))

    out = (1 - frac) * take(lo) + frac * take(hi)
    # no valid frame: zeros (the gathers read padding there, which where() drops)
    return torch.where((lengths > 0).unsqueeze(-1), out, torch.zeros((), dtype=x.dtype,
                                                                     device=x.device))


def build_projector(in_dim: int, out_dim: int, hidden_dim: int | None = None) -> nn.Module:
    """Two-layer MLP ``Linear -> SiLU -> Linear`` mapping ``in_dim`` to ``out_dim``.

    Args:
        in_dim (int): Input width C_m.
        out_dim (int): Output width C_v.
        hidden_dim (int, optional): Hidden width. Defaults to None (``out_dim``).

    Returns:
        nn.Module: The projector, applied to the last dim.
    """
    hidden_dim = out_dim if hidden_dim is None else hidden_dim
    _check_positive_int(in_dim, 'in_dim')
    _check_positive_int(out_dim, 'out_dim')
    _check_positive_int(hidden_dim, 'proj_hidden')
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, out_dim))


# ----------------------------------------------------------------------------------------------
# Pure terms
# ----------------------------------------------------------------------------------------------
def moment_matching(x: torch.Tensor, y: torch.Tensor, mean_weight: float = 1.0,
                    cov_weight: float = 1.0) -> torch.Tensor:
    """CORAL-style first and second moment distance between two token sets.

    ``mean_weight * ||mu_x - mu_y||^2 / C + cov_weight * ||Cov_x - Cov_y||_F^2 / (4 C^2)``
    with unbiased covariances (denominator ``max(N - 1, 1)``). Both terms are
    normalised by the width (the mean term averages over the C channels, the
    covariance term is CORAL's normalisation), so neither grows with C and
    the mean term cannot swamp the others at wide video features.

    Args:
        x (Tensor): (N, C) tokens.
        y (Tensor): (M, C) tokens.
        mean_weight (float): Weight of the mean term. Defaults to 1.0.
        cov_weight (float): Weight of the covariance term. Defaults to 1.0.

    Returns:
        Tensor: Scalar distance (0 when the two sets have equal moments).
    """
    _check_tokens(x, y)
    c = x.shape[-1]
    total = x.new_zeros(())
    mu_x, mu_y = x.mean(0), y.mean(0)
    if mean_weight:
        total = total + mean_weight * (mu_x - mu_y).pow(2).mean()
    if cov_weight:
        xc, yc = x - mu_x, y - mu_y
        cov_x = xc.T @ xc / max(x.shape[0] - 1, 1)
        cov_y = yc.T @ yc / max(y.shape[0] - 1, 1)
        total = total + cov_weight * (cov_x - cov_y).pow(2).sum() / (4 * c * c)
    return total


def _strided(x: torch.Tensor, max_tokens: int | None) -> torch.Tensor:
    """At most ``max_tokens`` rows of ``x``, evenly spread (deterministic)."""
    n = x.shape[0]
    if max_tokens is None or n <= max_tokens:
        return x
    idx = torch.arange(max_tokens, device=x.device) * n // max_tokens
    return x[idx]


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, M) squared Euclidean distances, clamped at 0 (smooth gradient at 0)."""
    d = a.pow(2).sum(-1, keepdim=True) + b.pow(2).sum(-1) - 2 * a @ b.T
    return d.clamp_min(0)


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, bandwidths: Sequence[float] | None = None,
            multipliers: Sequence[float] = DEFAULT_MMD_MULTIPLIERS, unbiased: bool = False,
            max_tokens: int | None = 512) -> torch.Tensor:
    """Squared maximum mean discrepancy with a mixture of RBF kernels.

    The kernel is ``k(a, b) = mean_h exp(-||a - b||^2 / h)`` over the
    bandwidths ``h``. Without explicit ``bandwidths``, ``h`` is the median of
    the squared distances between distinct tokens of the pooled (subsampled)
    set times each of ``multipliers``; the median is detached. Each set is
    first subsampled to at most ``max_tokens`` rows with an even stride.

    Args:
        x (Tensor): (N, C) tokens.
        y (Tensor): (M, C) tokens.
        bandwidths (Sequence[float], optional): Explicit bandwidths ``h`` > 0.
            Defaults to None (median heuristic).
        multipliers (Sequence[float]): Multipliers of the median heuristic.
            Defaults to (0.5, 1.0, 2.0, 4.0).
        unbiased (bool): Unbiased U-statistic (within-set means exclude the
            diagonal; a set with one token keeps it). Defaults to False
            (biased V-statistic).
        max_tokens (int, optional): Subsampling cap per set. Defaults to 512;
            None keeps every token.

    Returns:
        Tensor: Scalar MMD^2, clamped at 0.
    """
    _check_tokens(x, y)
    if bandwidths is not None and (len(bandwidths) == 0 or min(bandwidths) <= 0):
        raise ValueError(f'bandwidths must be None or a non-empty list of values > 0, '
                         f'got {bandwidths!r}')
    if bandwidths is None and (len(multipliers) == 0 or min(multipliers) <= 0):
        raise ValueError(f'multipliers must be a non-empty list of values > 0, '
                         f'got {multipliers!r}')
    if max_tokens is not None:
        _check_positive_int(max_tokens, 'max_tokens')
    x, y = _strided(x, max_tokens), _strided(y, max_tokens)
    n, m = x.shape[0], y.shape[0]
    pooled = torch.cat([x, y])
    pooled = pooled - pooled.detach().mean(0)  # shift (MMD is invariant) for precision
    d = _sq_dists(pooled, pooled)
    if bandwidths is None:
        iu = torch.triu_indices(n + m, n + m, offset=1, device=d.device)
        median = d.detach()[iu[0], iu[1]].median()
        median = median.clamp_min(torch.finfo(d.dtype).tiny)
        widths = [median * float(k) for k in multipliers]
    else:
        widths = [float(h) for h in bandwidths]
    k = sum(torch.exp(-d / h) for h in widths) / len(widths)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]

    def within(kk: torch.Tensor) -> torch.Tensor:
        size = kk.shape[0]
        if not unbiased or size < 2:
            return kk.mean()
        return (kk.sum() - kk.diagonal().sum()) / (size * (size - 1))

    return (within(kxx) + within(kyy) - 2 * kxy.mean()).clamp_min(0)


def gram_matching(x: torch.Tensor, y: torch.Tensor, center: bool = False) -> torch.Tensor:
    """Mean squared difference of temporal cosine-similarity (Gram) matrices.

    Per sample, ``G[s, t] = cos(x_s, x_t)`` is the (S, S) temporal
    self-similarity matrix; the two widths may differ.

    Args:
        x (Tensor): (B, S, C) resampled sequences.
        y (Tensor): (B, S, C') resampled sequences.
        center (bool): Subtract each sequence's temporal mean before the
            cosines. Defaults to False.

    Returns:
        Tensor: Scalar mean over samples and the S x S entries.
    """
    _check_pair(x, y, same_width=False)

    def gram(z: torch.Tensor) -> torch.Tensor:
        if center:
            z = z - z.mean(1, keepdim=True)
        z = F.normalize(z, dim=-1, eps=1e-8)
        return z @ z.transpose(1, 2)

    return (gram(x) - gram(y)).pow(2).mean()


def linear_cka(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Linear centred kernel alignment between paired token sequences.

    ``CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)`` after centring over
    the N tokens. It is 1 for identical inputs, in [0, 1], and invariant to
    orthogonal rotations and isotropic scaling of either input; the widths may
    differ. A constant sequence gives 0 (no NaN, no NaN gradient).

    Args:
        x (Tensor): (..., N, C) tokens (e.g. (B, S, C): one CKA per sample).
        y (Tensor): (..., N, C') tokens paired with ``x``.
        eps (float): Floor of the squared norms. Defaults to 1e-12.

    Returns:
        Tensor: (...) CKA values (a scalar for (N, C) inputs).
    """
    if x.ndim < 2 or y.ndim < 2 or x.shape[:-1] != y.shape[:-1]:
        raise ValueError(f'x {_shape(x)} and y {_shape(y)} must be (..., N, C) and (..., N, C\') '
                         'with the same leading dims')
    x = x - x.mean(-2, keepdim=True)
    y = y - y.mean(-2, keepdim=True)

    # CKA is scale-invariant: normalising by a detached norm changes neither the
    # value nor the gradient, and keeps the products below in a safe range.
    def unit(z: torch.Tensor) -> torch.Tensor:
        norm = z.detach().flatten(-2).norm(dim=-1).clamp_min(torch.finfo(z.dtype).tiny)
        return z / norm[..., None, None]

    x, y = unit(x), unit(y)
    n, cx, cy = x.shape[-2], x.shape[-1], y.shape[-1]
    if n * (cx + cy) <= cx * cy + cx * cx + cy * cy:  # token-Gram form is cheaper
        kx, ky = x @ x.mT, y @ y.mT
        hsic = (kx * ky).sum((-2, -1))
    else:  # feature form
        kx, ky = x.mT @ x, y.mT @ y
        hsic = (x.mT @ y).pow(2).sum((-2, -1))
    norm_x = kx.pow(2).sum((-2, -1)).clamp_min(eps).sqrt()
    norm_y = ky.pow(2).sum((-2, -1)).clamp_min(eps).sqrt()
    return hsic / (norm_x * norm_y)


def cosine_alignment(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """REPA-style ``1 - cos(x_s, y_s)`` averaged over samples and time slots.

    Args:
        x (Tensor): (B, S, C) (projected) motion sequences.
        y (Tensor): (B, S, C) video sequences.

    Returns:
        Tensor: Scalar mean of ``1 - cosine`` (in [0, 2]).
    """
    _check_pair(x, y, same_width=True)
    return (1 - F.cosine_similarity(x, y, dim=-1, eps=1e-8)).mean()


# ----------------------------------------------------------------------------------------------
# Shared input handling for the modules
# ----------------------------------------------------------------------------------------------
@dataclass
class _Aligned:
    """Checked inputs restricted to the P samples that have video.

    ``motion`` is what the projector gives (or the raw features without one),
    ``raw`` the unprojected motion features; padding frames are zero.
    """
    motion: torch.Tensor  # (P, T, C)
    raw: torch.Tensor  # (P, T, C_m)
    video: torch.Tensor  # (P, F, C_v)
    motion_mask: torch.Tensor  # (P, T)
    video_mask: torch.Tensor  # (P, F)
    num_slots: int
    _cache: dict = field(default_factory=dict)

    def tokens(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C) motion tokens and (M, C_v) video tokens at valid frames."""
        if 'tokens' not in self._cache:
            self._cache['tokens'] = (self.motion[self.motion_mask], self.video[self.video_mask])
        return self._cache['tokens']

    def resampled(self, raw: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(P, S, C) motion and (P, S, C_v) video sequences on ``num_slots`` slots."""
        key = 'raw' if raw else 'motion'
        if 'video' not in self._cache:
            self._cache['video'] = resample_valid(self.video, self.video_mask, self.num_slots)
        if key not in self._cache:
            src = self.raw if raw else self.motion
            self._cache[key] = resample_valid(src, self.motion_mask, self.num_slots)
        return self._cache[key], self._cache['video']


# one function per term: (inputs, options) -> scalar; shared by the wrappers and DASHLoss
def _moment_term(a: _Aligned, mean_weight: float = 1.0, cov_weight: float = 1.0):
    return moment_matching(*a.tokens(), mean_weight=mean_weight, cov_weight=cov_weight)


def _mmd_term(a: _Aligned, bandwidths=None, multipliers=DEFAULT_MMD_MULTIPLIERS,
              unbiased: bool = False, max_tokens: int | None = 512):
    return mmd_rbf(*a.tokens(), bandwidths=bandwidths, multipliers=multipliers,
                   unbiased=unbiased, max_tokens=max_tokens)


def _gram_term(a: _Aligned, raw: bool = False, center: bool = False):
    return gram_matching(*a.resampled(raw), center=center)


def _cka_term(a: _Aligned, raw: bool = False, per_batch: bool = False):
    x, y = a.resampled(raw)
    if per_batch:
        return 1 - linear_cka(x.flatten(0, 1), y.flatten(0, 1))
    return (1 - linear_cka(x, y)).mean()


def _cosine_term(a: _Aligned):
    return cosine_alignment(*a.resampled())


#: Term name -> (function, option names accepted in a DASHLoss term dict).
_TERMS = {
    'moment': (_moment_term, ('mean_weight', 'cov_weight')),
    'mmd': (_mmd_term, ('bandwidths', 'multipliers', 'unbiased', 'max_tokens')),
    'gram': (_gram_term, ('center', )),
    'cka': (_cka_term, ('per_batch', )),
    'cosine': (_cosine_term, ()),
}


class BaseAlignmentLoss(nn.Module):
    """Arguments, checks, projector and resampling shared by the DASH terms.

    Args:
        in_dim (int): Motion feature width C_m.
        out_dim (int): Video feature width C_v.
        use_projector (bool): Map motion features to C_v with a learned
            two-layer MLP. Without it, the terms see raw motion features.
            Defaults to True.
        proj_hidden (int, optional): Hidden width of the projector.
            Defaults to None (``out_dim``).
        num_slots (int): Time points S of the resampled sequences. Defaults to 16.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    #: Whether the term compares motion and video features channel by channel
    #: (then, without a projector, ``in_dim`` must equal ``out_dim``).
    needs_same_width = True

    def __init__(self, in_dim: int, out_dim: int, use_projector: bool = True,
                 proj_hidden: int | None = None, num_slots: int = 16, loss_weight: float = 1.0):
        super().__init__()
        self.in_dim = _check_positive_int(in_dim, 'in_dim')
        self.out_dim = _check_positive_int(out_dim, 'out_dim')
        self.num_slots = _check_positive_int(num_slots, 'num_slots', minimum=2)
        self.loss_weight = float(loss_weight)
        self.use_projector = bool(use_projector)
        if not self.use_projector and self.needs_same_width and in_dim != out_dim:
            raise ValueError(f'{type(self).__name__} without a projector compares motion and '
                             f'video features directly: in_dim ({in_dim}) must equal out_dim '
                             f'({out_dim}); set use_projector=True')
        self.projector = build_projector(in_dim, out_dim, proj_hidden) \
            if self.use_projector else None
        #: Active terms: name -> (weight, options of the term function).
        self.terms: dict[str, tuple[float, dict]] = {}
        #: Motion features of the structure terms: 'projected' (or raw without a
        #: projector) or 'raw'.
        self.structure_input = 'projected'
        #: Detached, unweighted value of each active term after the last forward.
        self.last_terms: dict[str, torch.Tensor] = {}

    def _prepare(self, motion_feat, video_feat, motion_mask, video_present,
                 video_mask) -> _Aligned | None:
        """Check the inputs; keep the samples with video; project. None if none is left."""
        _check_seq(motion_feat, 'motion_feat', f'(B, T, C_m={self.in_dim})')
        _check_seq(video_feat, 'video_feat', f'(B, F, C_v={self.out_dim})')
        b = motion_feat.shape[0]
        if video_feat.shape[0] != b:
            raise ValueError(f'video_feat {_shape(video_feat)} has batch size '
                             f'{video_feat.shape[0]}, expected {b} like motion_feat '
                             f'{_shape(motion_feat)}')
        if motion_feat.shape[-1] != self.in_dim:
            raise ValueError(f'motion_feat {_shape(motion_feat)} has width '
                             f'{motion_feat.shape[-1]}, expected in_dim={self.in_dim}')
        if video_feat.shape[-1] != self.out_dim:
            raise ValueError(f'video_feat {_shape(video_feat)} has width '
                             f'{video_feat.shape[-1]}, expected out_dim={self.out_dim}')
        device = motion_feat.device
        video_feat = video_feat.to(device)
        motion_mask = _check_mask(motion_mask, motion_feat, 'motion_mask', 'motion_feat')
        if video_mask is None:
            video_mask = torch.ones(video_feat.shape[:2], dtype=torch.bool, device=device)
        video_mask = _check_mask(video_mask, video_feat, 'video_mask', 'video_feat')
        if video_present is None:
            present = torch.ones(b, dtype=torch.bool, device=device)
        else:
            if not isinstance(video_present, torch.Tensor) or _shape(video_present) != (b, ):
                shape = _shape(video_present) if isinstance(video_present, torch.Tensor) \
                    else type(video_present).__name__
                raise ValueError(f'video_present must have shape (B,) = ({b},), got {shape}')
            present = video_present.to(device=device, dtype=torch.bool)
        present = present & motion_mask.any(1) & video_mask.any(1)
        if not bool(present.any()):
            return None
        motion_mask, video_mask = motion_mask[present], video_mask[present]
        motion = motion_feat[present]
        video = video_feat[present]
        for x, mask, name in ((motion, motion_mask, 'motion_feat'),
                              (video, video_mask, 'video_feat')):
            if not bool(torch.isfinite(x[mask]).all()):
                raise ValueError(f'{name} {_shape(x)} holds NaN or inf at valid frames of '
                                 'samples with video; expected finite values')
        raw = zero_padding(motion, motion_mask)
        projected = self.projector(raw) if self.projector is not None else raw
        dtype = _stat_dtype(projected)
        return _Aligned(
            motion=zero_padding(projected.to(dtype), motion_mask),
            raw=raw.to(dtype),
            video=zero_padding(video.to(dtype), video_mask),
            motion_mask=motion_mask,
            video_mask=video_mask,
            num_slots=self.num_slots)

    def _zero(self, motion_feat: torch.Tensor) -> torch.Tensor:
        """A zero connected to ``motion_feat`` and every parameter (for DDP), never NaN."""
        keep = torch.zeros_like(motion_feat, dtype=torch.bool)
        zero = torch.where(keep, motion_feat, torch.zeros((), dtype=motion_feat.dtype,
                                                          device=motion_feat.device)).sum()
        zero = zero.to(_stat_dtype(motion_feat))
        for param in self.parameters():
            zero = zero + 0 * param.sum()
        return zero

    def _compute_terms(self, aligned: _Aligned) -> dict[str, torch.Tensor]:
        """Unweighted value of every active term."""
        raw = self.structure_input == 'raw'
        values = {}
        for name, (_, options) in self.terms.items():
            fn = _TERMS[name][0]
            values[name] = fn(aligned, raw=raw, **options) if name in ('gram', 'cka') \
                else fn(aligned, **options)
        return values

    def forward(self, motion_feat: torch.Tensor, video_feat: torch.Tensor,
                motion_mask: torch.Tensor, video_present: torch.Tensor | None = None,
                video_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Weighted alignment loss.

        Args:
            motion_feat (Tensor): (B, T, C_m) denoiser hidden state or
                predicted x0 features.
            video_feat (Tensor): (B, F, C_v) video features.
            motion_mask (Tensor): (B, T) bool, True at valid frames.
            video_present (Tensor, optional): (B,) bool, False for samples
                without video. Defaults to None (all present).
            video_mask (Tensor, optional): (B, F) bool, True at valid video
                slots. Defaults to None (all valid).

        Returns:
            Tensor: Scalar loss (a graph-connected zero when no sample has
            video); ``last_terms`` is updated.
        """
        aligned = self._prepare(motion_feat, video_feat, motion_mask, video_present, video_mask)
        if aligned is None:
            zero = self._zero(motion_feat)
            self.last_terms = {name: zero.detach() for name in self.terms}
            return zero
        with torch.autocast(device_type=motion_feat.device.type, enabled=False):
            values = self._compute_terms(aligned)
        self.last_terms = {name: value.detach() for name, value in values.items()}
        total = sum(self.terms[name][0] * value for name, value in values.items())
        return self.loss_weight * total

    def extra_repr(self) -> str:
        terms = ', '.join(f'{name}={weight}' for name, (weight, _) in self.terms.items())
        return (f'in_dim={self.in_dim}, out_dim={self.out_dim}, num_slots={self.num_slots}, '
                f'loss_weight={self.loss_weight}, terms=({terms}), '
                f'structure_input={self.structure_input!r}')


# ----------------------------------------------------------------------------------------------
# Single-term modules
# ----------------------------------------------------------------------------------------------
@MODELS.register_module()
class MomentMatchingLoss(BaseAlignmentLoss):
    """CORAL-style moment matching of projected motion tokens and video tokens.

    Over the valid frames of the samples with video (no frame correspondence):
    ``mean_weight * ||mu_m - mu_v||^2 / C + cov_weight * ||Cov_m - Cov_v||_F^2 / (4 C^2)``,
    see :func:`moment_matching`. Shapes: ``motion_feat`` (B, T, C_m),
    ``video_feat`` (B, F, C_v), masks (B, T) and (B, F), ``video_present`` (B,).

    Args:
        in_dim (int): Motion feature width C_m.
        out_dim (int): Video feature width C_v.
        mean_weight (float): Weight of the mean term. Defaults to 1.0.
        cov_weight (float): Weight of the covariance term. Defaults to 1.0.
        use_projector (bool): Learned MLP from C_m to C_v; without it
            ``in_dim`` must equal ``out_dim``. Defaults to True.
        proj_hidden (int, optional): Projector hidden width. Defaults to None (``out_dim``).
        num_slots (int): Resampling length (unused by this term, kept for a
            common interface). Defaults to 16.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.

    Example:
        >>> loss = MODELS.build(dict(type='MomentMatchingLoss', in_dim=64, out_dim=32))
    """

    def __init__(self, in_dim: int, out_dim: int, mean_weight: float = 1.0,
                 cov_weight: float = 1.0, use_projector: bool = True,
                 proj_hidden: int | None = None, num_slots: int = 16, loss_weight: float = 1.0):
        super().__init__(in_dim, out_dim, use_projector, proj_hidden, num_slots, loss_weight)
        self.terms = dict(moment=(1.0, _check_options(
            'moment', dict(mean_weight=mean_weight, cov_weight=cov_weight))))


@MODELS.register_module()
class MMDLoss(BaseAlignmentLoss):
    """RBF-kernel MMD^2 between projected motion tokens and video tokens.

    Over the valid frames of the samples with video (no frame correspondence),
    each side subsampled to ``max_tokens`` with an even stride; see
    :func:`mmd_rbf`. Shapes: ``motion_feat`` (B, T, C_m), ``video_feat``
    (B, F, C_v), masks (B, T) and (B, F), ``video_present`` (B,).

    Args:
        in_dim (int): Motion feature width C_m.
        out_dim (int): Video feature width C_v.
        bandwidths (Sequence[float], optional): Kernel widths ``h`` in
            ``exp(-d^2 / h)``. Defaults to None (median heuristic times
            ``multipliers``).
        multipliers (Sequence[float]): Median-heuristic multipliers.
            Defaults to (0.5, 1.0, 2.0, 4.0).
        unbiased (bool): Unbiased estimator. Defaults to False (biased).
        max_tokens (int): Tokens kept per side. Defaults to 512.
        use_projector (bool): Learned MLP from C_m to C_v; without it
            ``in_dim`` must equal ``out_dim``. Defaults to True.
        proj_hidden (int, optional): Projector hidden width. Defaults to None (``out_dim``).
        num_slots (int): Resampling length (unused by this term). Defaults to 16.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.

    Example:
        >>> loss = MODELS.build(dict(type='MMDLoss', in_dim=64, out_dim=32, unbiased=False))
    """

    def __init__(self, in_dim: int, out_dim: int, bandwidths: Sequence[float] | None = None,
                 multipliers: Sequence[float] = DEFAULT_MMD_MULTIPLIERS, unbiased: bool = False,
                 max_tokens: int = 512, use_projector: bool = True,
                 proj_hidden: int | None = None, num_slots: int = 16, loss_weight: float = 1.0):
        super().__init__(in_dim, out_dim, use_projector, proj_hidden, num_slots, loss_weight)
        self.terms = dict(mmd=(1.0, _check_options(
            'mmd', dict(bandwidths=bandwidths, multipliers=multipliers, unbiased=unbiased,
                        max_tokens=max_tokens))))


@MODELS.register_module()
class GramMatchingLoss(BaseAlignmentLoss):
    """Match the temporal self-similarity (cosine Gram) matrices of motion and video.

    Both sequences are resampled to ``num_slots`` points per sample; the
    (S, S) cosine Gram matrices are compared by mean squared difference and
    averaged over the samples with video (:func:`gram_matching`). Works on raw
    features of different widths by default. Shapes: ``motion_feat``
    (B, T, C_m), ``video_feat`` (B, F, C_v), masks (B, T) and (B, F),
    ``video_present`` (B,).

    Args:
        in_dim (int): Motion feature width C_m.
        out_dim (int): Video feature width C_v.
        center (bool): Centre each sequence over time before the cosines.
            Defaults to False.
        use_projector (bool): Compare projected instead of raw motion
            features. Defaults to False.
        proj_hidden (int, optional): Projector hidden width. Defaults to None (``out_dim``).
        num_slots (int): Resampling length S. Defaults to 16.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.

    Example:
        >>> loss = MODELS.build(dict(type='GramMatchingLoss', in_dim=64, out_dim=32))
    """

    needs_same_width = False

    def __init__(self, in_dim: int, out_dim: int, center: bool = False,
                 use_projector: bool = False, proj_hidden: int | None = None,
                 num_slots: int = 16, loss_weight: float = 1.0):
        super().__init__(in_dim, out_dim, use_projector, proj_hidden, num_slots, loss_weight)
        self.terms = dict(gram=(1.0, dict(center=bool(center))))


@MODELS.register_module()
class CKALoss(BaseAlignmentLoss):
    """``1 - linear CKA`` between resampled motion and video sequences.

    Per sample (centred over the ``num_slots`` time points) and averaged over
    the samples with video, or, with ``per_batch=True``, one CKA over all
    resampled tokens of the batch (:func:`linear_cka`). Invariant to rotations
    and isotropic scaling of either input; works on raw features of different
    widths by default. Shapes: ``motion_feat`` (B, T, C_m), ``video_feat``
    (B, F, C_v), masks (B, T) and (B, F), ``video_present`` (B,).

    Args:
        in_dim (int): Motion feature width C_m.
        out_dim (int): Video feature width C_v.
        per_batch (bool): One CKA over all tokens instead of one per sample.
            Defaults to False.
        use_projector (bool): Compare projected instead of raw motion
            features. Defaults to False.
        proj_hidden (int, optional): Projector hidden width. Defaults to None (``out_dim``).
        num_slots (int): Resampling length S. Defaults to 16.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.

    Example:
        >>> loss = MODELS.build(dict(type='CKALoss', in_dim=64, out_dim=32, per_batch=False))
    """

    needs_same_width = False

    def __init__(self, in_dim: int, out_dim: int, per_batch: bool = False,
                 use_projector: bool = False, proj_hidden: int | None = None,
                 num_slots: int = 16, loss_weight: float = 1.0):
        super().__init__(in_dim, out_dim, use_projector, proj_hidden, num_slots, loss_weight)
        self.terms = dict(cka=(1.0, dict(per_batch=bool(per_batch))))


@MODELS.register_module()
class CosineAlignmentLoss(BaseAlignmentLoss):
    """REPA-style baseline: ``1 - cos(projector(motion), video)`` per time slot.

    Both sequences are resampled to ``num_slots`` points per sample and
    compared slot by slot (:func:`cosine_alignment`), averaged over the slots
    of the samples with video. Shapes: ``motion_feat`` (B, T, C_m),
    ``video_feat`` (B, F, C_v), masks (B, T) and (B, F), ``video_present`` (B,).

    Args:
        in_dim (int): Motion feature width C_m.
        out_dim (int): Video feature width C_v.
        use_projector (bool): Learned MLP from C_m to C_v; without it
            ``in_dim`` must equal ``out_dim``. Defaults to True.
        proj_hidden (int, optional): Projector hidden width. Defaults to None (``out_dim``).
        num_slots (int): Resampling length S. Defaults to 16.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.

    Example:
        >>> loss = MODELS.build(dict(type='CosineAlignmentLoss', in_dim=64, out_dim=32))
    """

    def __init__(self, in_dim: int, out_dim: int, use_projector: bool = True,
                 proj_hidden: int | None = None, num_slots: int = 16, loss_weight: float = 1.0):
        super().__init__(in_dim, out_dim, use_projector, proj_hidden, num_slots, loss_weight)
        self.terms = dict(cosine=(1.0, {}))


# ----------------------------------------------------------------------------------------------
# The combination
# ----------------------------------------------------------------------------------------------
def _check_options(name: str, options: Mapping) -> dict:
    """Validate the options of term ``name`` (names and simple value checks)."""
    allowed = _TERMS[name][1]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f'Unknown option(s) {unknown} for DASH term {name!r}; '
                         f'valid: {list(allowed)}')
    options = dict(options)
    for key in ('mean_weight', 'cov_weight'):
        if key in options:
            options[key] = _check_weight(options[key], key)
    if options.get('bandwidths') is not None:
        bws = options['bandwidths']
        if not isinstance(bws, Sequence) or not bws or min(bws) <= 0:
            raise ValueError(f'bandwidths must be None or a non-empty list of values > 0, '
                             f'got {bws!r}')
        options['bandwidths'] = tuple(float(h) for h in bws)
    if 'multipliers' in options:
        mult = options['multipliers']
        if not isinstance(mult, Sequence) or not mult or min(mult) <= 0:
            raise ValueError(f'multipliers must be a non-empty list of values > 0, got {mult!r}')
        options['multipliers'] = tuple(float(k) for k in mult)
    if options.get('max_tokens') is not None:
        _check_positive_int(options['max_tokens'], 'max_tokens')
    return options


def _parse_terms(spec: Mapping | None, default: dict, group: str) -> dict[str, tuple[float, dict]]:
    """``{term: weight | dict(weight=..., **options)}`` -> ``{term: (weight, options)}``."""
    spec = default if spec is None else spec
    if not isinstance(spec, Mapping):
        raise ValueError(f'{group} must be a dict of term weights, got {spec!r}')
    valid = tuple(default)
    terms = {}
    for name, value in spec.items():
        if name not in valid:
            raise ValueError(f'Unknown {group} term {name!r}; valid: {list(valid)}')
        if isinstance(value, Mapping):
            value = dict(value)
            weight = _check_weight(value.pop('weight', 1.0), f'{group}.{name}.weight')
            options = _check_options(name, value)
        else:
            weight, options = _check_weight(value, f'{group}.{name}'), {}
        terms[name] = (weight, options)
    return terms


@MODELS.register_module()
class DASHLoss(BaseAlignmentLoss):
    """Distribution-Aware Structural Harmonization: distribution + structure terms.

    ``loss_weight * sum_k w_k * term_k`` over the terms with ``w_k > 0`` (a
    weight of 0 skips the term: it is not computed), all computed from ONE
    shared projector and one resampling per forward:

    * ``distribution``: ``moment`` (:func:`moment_matching`) and ``mmd``
      (:func:`mmd_rbf`) on the valid tokens of the samples with video;
    * ``structure``: ``gram`` (:func:`gram_matching`) and ``cka``
      (``1 - ``:func:`linear_cka`) on sequences resampled to ``num_slots``
      points, from projected (``structure_input='projected'``) or raw motion
      features;
    * ``cosine``: the REPA baseline (:func:`cosine_alignment`).

    A term's value is either a weight or ``dict(weight=..., **options)`` with
    the options of its single-term module (``moment``: ``mean_weight``,
    ``cov_weight``; ``mmd``: ``bandwidths``, ``multipliers``, ``unbiased``,
    ``max_tokens``; ``gram``: ``center``; ``cka``: ``per_batch``). After each
    forward, ``last_terms`` holds the detached, unweighted value of every
    active term for logging. Shapes: ``motion_feat`` (B, T, C_m),
    ``video_feat`` (B, F, C_v), masks (B, T) and (B, F), ``video_present`` (B,).

    Args:
        in_dim (int): Motion feature width C_m.
        out_dim (int): Video feature width C_v.
        distribution (dict, optional): Distribution term weights.
            Defaults to None (``dict(moment=1.0, mmd=0.0)``).
        structure (dict, optional): Structure term weights.
            Defaults to None (``dict(gram=1.0, cka=1.0)``).
        cosine (float): Weight of the REPA cosine term. Defaults to 0.0.
        structure_input (str): ``'projected'`` or ``'raw'`` motion features
            for the structure terms. Defaults to 'projected'.
        use_projector (bool): Learned MLP from C_m to C_v; without it the
            distribution and cosine terms need ``in_dim == out_dim``.
            Defaults to True.
        proj_hidden (int, optional): Projector hidden width. Defaults to None (``out_dim``).
        num_slots (int): Resampling length S. Defaults to 16.
        loss_weight (float): Multiplier of the total. Defaults to 1.0.

    Example:
        >>> loss = MODELS.build(dict(type='DASHLoss', in_dim=64, out_dim=32,
        ...                          distribution=dict(moment=1.0, mmd=0.5),
        ...                          structure=dict(gram=1.0, cka=1.0)))
    """

    def __init__(self, in_dim: int, out_dim: int, distribution: dict | None = None,
                 structure: dict | None = None, cosine: float = 0.0,
                 structure_input: str = 'projected', use_projector: bool = True,
                 proj_hidden: int | None = None, num_slots: int = 16, loss_weight: float = 1.0):
        terms = {}
        terms.update(_parse_terms(distribution, dict(moment=1.0, mmd=0.0), 'distribution'))
        terms.update(_parse_terms(structure, dict(gram=1.0, cka=1.0), 'structure'))
        terms['cosine'] = (_check_weight(cosine, 'cosine'), {})
        active = {name: wo for name, wo in terms.items() if wo[0] > 0}
        if not active:
            raise ValueError('DASHLoss needs at least one term with a weight > 0 in '
                             f'distribution, structure or cosine, got {terms}')
        if structure_input not in ('projected', 'raw'):
            raise ValueError(f"structure_input must be 'projected' or 'raw', "
                             f'got {structure_input!r}')
        channelwise = any(name in active for name in ('moment', 'mmd', 'cosine'))
        structural = any(name in active for name in ('gram', 'cka'))
        # a projector only when some active term reads projected features (no unused
        # parameters under DDP); without one, channel-wise terms need in_dim == out_dim
        self.needs_same_width = channelwise
        super().__init__(in_dim, out_dim,
                         use_projector and (channelwise or (structural
                                                            and structure_input == 'projected')),
                         proj_hidden, num_slots, loss_weight)
        self.structure_input = structure_input
        self.terms = active

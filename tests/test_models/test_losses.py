"""Masked diffusion loss and the codec-based geometric losses."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch

from mdkit.models.losses import (
    FootContactLoss,
    JointAccelerationLoss,
    JointPositionLoss,
    JointVelocityLoss,
    MaskedDiffusionLoss,
)
from mdkit.motion import forward_kinematics
from mdkit.motion.codecs import HumanML3DCodec
from mdkit.motion.quaternion import axis_angle_to_quaternion
from mdkit.motion.skeletons import get_skeleton
from mdkit.registry import MODELS

GEOMETRIC = (JointPositionLoss, JointVelocityLoss, JointAccelerationLoss, FootContactLoss)
MASK = torch.tensor([[True] * 12, [True] * 8 + [False] * 4])


# -- MaskedDiffusionLoss -------------------------------------------------------------------------
def _tiny():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    target = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    return pred, target, mask


@pytest.mark.parametrize('loss_type', ['mse', 'l1', 'smooth_l1'])
def test_diffusion_loss_equals_direct_computation(loss_type):
    pred, target, mask = _tiny()
    pred = pred * 2  # some errors above the smooth-l1 threshold
    d = pred - target
    elem = {'mse': d**2, 'l1': d.abs(),
            'smooth_l1': torch.where(d.abs() < 1, 0.5 * d**2, d.abs() - 0.5)}[loss_type]
    direct = (elem[0, :3].sum() + elem[1, :2].sum()) / (5 * 3)
    loss = MaskedDiffusionLoss(loss_type=loss_type)(pred, target, mask)
    torch.testing.assert_close(loss, direct)
    weighted = MaskedDiffusionLoss(loss_type=loss_type, loss_weight=2.5)(pred, target, mask)
    torch.testing.assert_close(weighted, 2.5 * direct)


def test_diffusion_loss_padding_grad_and_empty_mask():
    pred, target, mask = _tiny()
    loss_fn = MaskedDiffusionLoss()
    ref = loss_fn(pred, target, mask)
    pred2, target2 = pred.clone(), target.clone()
    pred2[~mask] = float('nan')
    target2[~mask] = 1e6
    pred2.requires_grad_(True)
    target2.requires_grad_(True)
    loss = loss_fn(pred2, target2, mask)
    torch.testing.assert_close(loss, ref)
    loss.backward()
    assert target2.grad is None  # the target is detached
    assert torch.isfinite(pred2.grad).all()
    assert (pred2.grad[~mask] == 0).all() and (pred2.grad[mask] != 0).any()

    empty = torch.zeros_like(mask)
    p = pred.clone().requires_grad_(True)
    zero = loss_fn(p, target, empty)
    assert zero.item() == 0.0 and zero.grad_fn is not None
    zero.backward()
    assert (p.grad == 0).all()


def test_diffusion_loss_errors_and_registry():
    with pytest.raises(ValueError, match="'mse', 'l1', 'smooth_l1'"):
        MaskedDiffusionLoss(loss_type='l2')
    pred, target, mask = _tiny()
    with pytest.raises(ValueError, match='mask must have shape'):
        MaskedDiffusionLoss()(pred, target, mask[:, :3])
    with pytest.raises(ValueError, match='same shape'):
        MaskedDiffusionLoss()(pred, target[:, :3], mask)
    loss = MODELS.build(dict(type='MaskedDiffusionLoss', loss_type='l1', loss_weight=0.5))
    assert isinstance(loss, MaskedDiffusionLoss) and loss.loss_weight == 0.5
    assert not getattr(loss, 'uses_codec', False)


@pytest.mark.parametrize('prediction_type', ['sample', 'epsilon', 'v_prediction'])
def test_min_snr_weights_follow_the_closed_form(prediction_type):
    from mdkit.models.diffusion_schedulers import DDPMScheduler
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule='cosine',
                          prediction_type=prediction_type)
    t = torch.tensor([0, 100, 400, 999])
    ab = sched.alphas_cumprod[t]
    snr = ab / (1 - ab)
    x0_weight = torch.minimum(snr, torch.tensor(5.0, dtype=snr.dtype))
    # each target's error is the x0 error times a known factor: 1, sqrt(SNR), sqrt(SNR + 1)
    expected = {'sample': x0_weight, 'epsilon': x0_weight / snr,
                'v_prediction': x0_weight / (snr + 1)}[prediction_type]
    weights = MaskedDiffusionLoss(snr_gamma=5.0).sample_weights(sched, t)
    assert weights.dtype == torch.float32 and weights.shape == (4, )
    torch.testing.assert_close(weights, expected.float())
    if prediction_type == 'sample':  # capped at low noise, small at high noise
        assert weights[0] == 5.0 and weights[-1] < 1e-3
    assert MaskedDiffusionLoss().sample_weights(sched, t) is None


def test_diffusion_loss_per_sample_weight():
    pred, target, mask = _tiny()
    d2 = (pred - target)**2
    w = torch.tensor([0.5, 3.0], dtype=torch.float64)
    direct = (0.5 * d2[0, :3].sum() + 3.0 * d2[1, :2].sum()) / (5 * 3)
    torch.testing.assert_close(MaskedDiffusionLoss()(pred, target, mask, weight=w), direct)
    with pytest.raises(ValueError, match=r'weight must have shape \(B,\)'):
        MaskedDiffusionLoss()(pred, target, mask, weight=w[:1])
    for bad in (0.0, -1.0, True):
        with pytest.raises(ValueError, match='snr_gamma must be a positive number'):
            MaskedDiffusionLoss(snr_gamma=bad)


# -- geometric losses ----------------------------------------------------------------------
def _planted_motion(frames=13, amplitude=0.8, phase=0.0):
    """Joints (T, 22, 3) of a figure waving its arms and turning its head, feet planted."""
    skel = get_skeleton('humanml3d')
    aa = np.zeros((frames, skel.num_joints, 3))
    ph = np.linspace(0, 2 * np.pi, frames) + phase
    for name in ('left_shoulder', 'right_shoulder', 'left_elbow'):
        aa[:, skel.joint_names.index(name), 2] = amplitude * np.sin(ph)
    aa[:, skel.joint_names.index('neck'), 1] = 0.3 * np.sin(ph)
    root = np.zeros((frames, 3))
    root[:, 1] = 1.0
    return forward_kinematics(axis_angle_to_quaternion(aa), root, skel.offsets())


@pytest.fixture(scope='module')
def planted():
    """(codec with stats, normalised gt features (2, 12, 263)) with planted feet."""
    raw = np.stack([HumanML3DCodec().encode(_planted_motion()),
                    HumanML3DCodec().encode(_planted_motion(amplitude=0.5, phase=1.0))])
    assert (raw[..., -4:] == 1).all()  # every foot joint in contact in every frame
    flat = raw.reshape(-1, raw.shape[-1])
    codec = HumanML3DCodec(mean=flat.mean(0), std=flat.std(0) + 0.05)
    return codec, codec.normalize(torch.from_numpy(raw))


def _sliding(codec, gt):
    """gt with a forward root velocity added on every frame (feet slide), still normalised."""
    raw = codec.denormalize(gt).clone()
    raw[..., 2] += 0.05  # root linear velocity z, metres per frame
    return codec.normalize(raw)


def _direct(cls, pred, gt, mask, codec):
    """Per-sample crop to the valid frames, decode, plain mean of squared errors."""
    total, count = 0.0, 0
    feet = list(codec.skeleton.foot_joints)
    for b in range(pred.shape[0]):
        n = int(mask[b].sum())
        pj = codec.decode(pred[b, :n], normalized=True)
        gj = codec.decode(gt[b, :n], normalized=True)
        if cls is JointPositionLoss:
            err = (pj - gj)**2
        elif cls is JointVelocityLoss:
            err = ((pj[1:] - pj[:-1]) - (gj[1:] - gj[:-1]))**2
        elif cls is JointAccelerationLoss:
            err = ((pj[2:] - 2 * pj[1:-1] + pj[:-2]) - (gj[2:] - 2 * gj[1:-1] + gj[:-2]))**2
        else:
            contact = codec.denormalize(gt[b, :n])[:-1, -4:] > 0.5
            err = (pj[1:, feet] - pj[:-1, feet])**2 * contact[..., None]
        total += err.sum().item()
        count += err.numel()
    return total / count


@pytest.mark.parametrize('cls', GEOMETRIC)
def test_geometric_loss_equals_direct_computation(cls, planted):
    codec, gt = planted
    g = torch.Generator().manual_seed(0)
    pred = _sliding(codec, gt) + 0.1 * torch.randn(gt.shape, generator=g, dtype=gt.dtype)
    loss = cls()(pred, gt, MASK, codec)
    assert loss.item() > 0
    assert loss.item() == pytest.approx(_direct(cls, pred, gt, MASK, codec), rel=1e-9)
    assert cls(loss_weight=3.0)(pred, gt, MASK, codec).item() == pytest.approx(3 * loss.item())


@pytest.mark.parametrize('cls', GEOMETRIC)
def test_geometric_loss_zero_for_exact_prediction(cls, planted):
    codec, gt = planted
    assert cls()(gt.clone(), gt, MASK, codec).abs().item() < 1e-12
    raw = codec.denormalize(gt)  # the same loss on raw features
    assert cls()(raw.clone(), raw, MASK, codec, normalized=False).abs().item() < 1e-12
    sliding = cls()(_sliding(codec, gt), gt, MASK, codec).item()
    if cls is JointAccelerationLoss:  # a constant extra velocity has no acceleration
        assert sliding < 1e-12
    else:
        assert sliding > 1e-4


def test_foot_contact_loss_is_gated_by_ground_truth_contacts(planted):
    codec, gt = planted
    pred = _sliding(codec, gt)
    loss_fn = FootContactLoss()
    sliding = loss_fn(pred, gt, MASK, codec)
    # the root moves 5 cm/frame along z: every foot joint too, all in contact
    assert sliding.item() == pytest.approx(0.05**2 / 3, rel=1e-6)
    raw = codec.denormalize(gt).clone()
    raw[..., codec.slices['foot_contact']] = 0.0  # no contact: sliding is allowed
    assert loss_fn(pred, codec.normalize(raw), MASK, codec).abs().item() < 1e-12
    raw[..., -2:] = 1.0  # only the right foot planted: half the entries count
    half = loss_fn(pred, codec.normalize(raw), MASK, codec)
    assert half.item() == pytest.approx(sliding.item() / 2, rel=1e-6)


@pytest.mark.parametrize('cls', GEOMETRIC)
def test_geometric_loss_ignores_padding_and_grads_reach_pred_only(cls, planted):
    codec, gt = planted
    pred = _sliding(codec, gt) + 0.05
    ref = cls()(pred, gt, MASK, codec)
    pred2, gt2 = pred.clone(), gt.clone()
    pred2[~MASK] = float('nan')
    gt2[~MASK] = 1e4
    pred2.requires_grad_(True)
    gt2.requires_grad_(True)
    loss = cls()(pred2, gt2, MASK, codec)
    torch.testing.assert_close(loss, ref)
    loss.backward()
    assert gt2.grad is None
    assert torch.isfinite(pred2.grad).all()
    assert (pred2.grad[~MASK] == 0).all() and pred2.grad[MASK].abs().sum() > 0


@pytest.mark.parametrize('cls', GEOMETRIC)
def test_geometric_loss_empty_mask_and_half_precision(cls, planted):
    codec, gt = planted
    pred = _sliding(codec, gt).requires_grad_(True)
    zero = cls()(pred, gt, torch.zeros_like(MASK), codec)
    assert zero.item() == 0.0 and zero.grad_fn is not None
    zero.backward()
    assert (pred.grad == 0).all()
    # bfloat16 inputs are decoded in float32
    low = cls()(_sliding(codec, gt).bfloat16(), gt.bfloat16(), MASK, codec)
    assert low.dtype == torch.float32 and torch.isfinite(low)


def test_geometric_loss_errors(planted):
    codec, gt = planted
    with pytest.raises(TypeError, match='needs a motion codec'):
        JointPositionLoss()(gt, gt, MASK, None)
    with pytest.raises(ValueError, match='D=263'):
        JointPositionLoss()(gt[..., :100], gt[..., :100], MASK, codec)
    with pytest.raises(RuntimeError, match='no normalisation statistics'):
        JointPositionLoss()(gt, gt, MASK, HumanML3DCodec())


def test_losses_registered_with_documented_examples():
    import mdkit.models.losses as module

    classes = [MaskedDiffusionLoss, *GEOMETRIC]
    for cls in classes:
        assert MODELS.get(cls.__name__) is cls and cls.__name__.endswith('Loss')
        doc = cls.__doc__
        assert doc.strip().splitlines()[0].strip()
        code = '\n'.join(line.strip()[4:] for line in doc.split('Example:')[1].splitlines()
                         if line.strip().startswith(('>>> ', '... ')))
        scope = dict(MODELS=MODELS)
        exec(code, scope)  # noqa: S102 - our own docstring
        assert isinstance(scope['loss'], cls) and scope['loss'].loss_weight == 1.0
        assert cls.__module__.startswith(module.__name__)
    assert all(cls.uses_codec for cls in GEOMETRIC)


def test_real_statistics_with_reference_motion(motion_data_root):
    root = osp.join(motion_data_root, 'humanml3d')
    codec = HumanML3DCodec(mean=osp.join(root, 'Mean.npy'), std=osp.join(root, 'Std.npy'))
    files = sorted(glob.glob(osp.join(root, 'samples', 'new_joint_vecs', '*.npy')))
    if files:
        clips = [np.load(f) for f in files[:2]]
    else:  # statistics only: a synthetic clip
        clips = [HumanML3DCodec().encode(_planted_motion(frames=41))] * 2
    t = min(len(c) for c in clips + [np.zeros((40, 1))])
    gt = codec.normalize(torch.from_numpy(np.stack([c[:t] for c in clips])).float())
    mask = torch.ones(2, t, dtype=torch.bool)
    mask[1, t // 2:] = False
    g = torch.Generator().manual_seed(0)
    pred = (gt + 0.2 * torch.randn(gt.shape, generator=g)).requires_grad_(True)
    total = sum(cls()(pred, gt, mask, codec) for cls in GEOMETRIC)
    total.backward()
    assert torch.isfinite(total) and total.item() > 0
    assert torch.isfinite(pred.grad).all() and (pred.grad[~mask] == 0).all()
    for cls in (JointPositionLoss, JointVelocityLoss, JointAccelerationLoss):
        assert cls()(gt, gt, mask, codec).abs().item() < 1e-10
    # real contacts allow sub-threshold foot motion (HumanML3D: < 0.002 m^2 per frame)
    foot = FootContactLoss()(gt, gt, mask, codec).item()
    assert 0.0 <= foot < 0.002


def test_acceleration_loss_singles_out_frame_noise(planted):
    """Frame-to-frame noise costs more acceleration than velocity error; a slow drift far less."""
    codec, gt = planted
    mask = torch.ones(gt.shape[:2], dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    noisy = gt + 0.05 * torch.randn(gt.shape, generator=g, dtype=gt.dtype)
    phase = torch.linspace(0, np.pi, gt.shape[1], dtype=gt.dtype)[None, :, None]
    drift = gt + 0.5 * torch.sin(phase) * torch.randn(1, 1, gt.shape[2], generator=g,
                                                       dtype=gt.dtype)
    ratio = {}
    for name, pred in (('noise', noisy), ('drift', drift)):
        vel = JointVelocityLoss()(pred, gt, mask, codec).item()
        acc = JointAccelerationLoss()(pred, gt, mask, codec).item()
        assert vel > 0 and acc > 0
        ratio[name] = acc / vel
    assert ratio['noise'] > 1.5, ratio  # white noise: 3
    assert ratio['drift'] < 0.2, ratio


def test_acceleration_loss_needs_three_valid_frames(planted):
    codec, gt = planted
    mask = torch.zeros(gt.shape[:2], dtype=torch.bool)
    mask[:, :3] = True
    pred = gt.clone()
    pred[:, 1] += 1.0  # a spike in the middle of the only valid triple
    spiked = JointAccelerationLoss()(pred, gt, mask, codec)
    assert spiked.item() > 0
    mask[:, 2] = False  # two valid frames: no second difference to compare
    assert JointAccelerationLoss()(pred, gt, mask, codec).item() == 0.0

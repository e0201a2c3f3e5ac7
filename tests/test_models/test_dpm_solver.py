"""DPM-Solver++(2M) against the exact probability-flow ODE of Gaussian data, and in the model."""
import os.path as osp

import pytest
import torch

from mdkit.models.diffusion_schedulers import (
    BaseDiffusionSampler,
    DDIMSampler,
    DDPMScheduler,
    DPMSolverMultistepSampler,
)
from mdkit.registry import DIFFUSION_SCHEDULERS, MODELS
from mdkit.structures import MotionDataSample
from mdkit.utils import register_all_modules

MU, S = 0.7, 0.3  # data x0 ~ N(MU, S^2) independently per dimension


def _gaussian_fn(sched):
    """model_fn returning the exact E[x0 | x_t] in the scheduler's prediction type."""

    def model_fn(x_t, t, step_index, num_steps):
        ab = sched.alphas_cumprod[t.cpu()].to(x_t).view(-1, 1, 1)
        a, b = ab.sqrt(), (1 - ab).sqrt()
        x0 = MU + a * S**2 / (ab * S**2 + 1 - ab) * (x_t - a * MU)
        eps = (x_t - a * x0) / b
        return {'epsilon': eps, 'sample': x0,
                'v_prediction': a * eps - b * x0}[sched.prediction_type]

    return model_fn


def _exact_flow(sched, x_T):
    """The ODE solution from x_T at t = N-1: x_t - a mu is proportional to sqrt(ab s^2 + 1 - ab)."""
    ab = float(sched.alphas_cumprod[-1])
    return MU + S / (ab * S**2 + 1 - ab)**0.5 * (x_T - ab**0.5 * MU)


def _x_T(shape=(4096, 1, 2), seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize('beta_schedule', ['cosine', 'linear'])
def test_gaussian_data_beats_ddim_and_matches_the_exact_flow(beta_schedule):
    sched = DDPMScheduler(beta_schedule=beta_schedule, prediction_type='sample')
    fn, x_T = _gaussian_fn(sched), _x_T()
    exact = _exact_flow(sched, x_T)
    # the exact flow really maps N(0, 1) to N(MU, S^2) (only Monte-Carlo error)
    assert abs(exact.mean().item() - MU) < 0.01 and abs(exact.std().item() - S) < 0.01
    # and a 1000-step DDIM solve is close to it (sanity check of the closed form)
    ref = DDIMSampler(sched).sample(fn, x_T.shape, x_T=x_T, num_steps=1000)
    assert (ref - exact).abs().max() < 0.01

    dpm = DPMSolverMultistepSampler(sched)
    ddim = DDIMSampler(sched, eta=0.0)
    errors = {}
    for num_steps in (10, 20, 50):
        for name, sampler in (('dpm', dpm), ('ddim', ddim)):
            out = sampler.sample(fn, x_T.shape, x_T=x_T, num_steps=num_steps)
            assert torch.isfinite(out).all()
            errors[name, num_steps] = (
                (out - exact).abs().max().item(),
                abs(out.mean().item() - MU) + abs(out.std().item() - S))
    for num_steps in (10, 20, 50):
        for k in (0, 1):  # per-sample distance to the exact flow, and mean/std error
            assert errors['dpm', num_steps][k] < errors['ddim', num_steps][k], (num_steps, errors)
    # second order: the gap to DDIM widens with the steps
    assert errors['dpm', 20][0] < 0.7 * errors['ddim', 20][0]
    assert errors['dpm', 50][0] < 0.2 * errors['ddim', 50][0]
    # 20 steps: mean and std close to the data's. The last step (trailing spacing, from
    # ab=0.99 cosine / 0.97 linear to clean data) is first order and dominates the error.
    tol = dict(cosine=0.02, linear=0.06)[beta_schedule]
    assert errors['dpm', 20][1] < tol, errors
    assert errors['dpm', 50][0] < dict(cosine=1e-3, linear=0.03)[beta_schedule], errors


@pytest.mark.parametrize('prediction_type', ['epsilon', 'v_prediction'])
def test_prediction_types_give_the_same_samples(prediction_type):
    x_T = _x_T((64, 3, 2), seed=1)
    outs = []
    for pt in ('sample', prediction_type):
        sched = DDPMScheduler(beta_schedule='cosine', prediction_type=pt)
        outs.append(DPMSolverMultistepSampler(sched).sample(_gaussian_fn(sched), x_T.shape,
                                                            x_T=x_T, num_steps=12))
    torch.testing.assert_close(outs[1], outs[0], atol=1e-9, rtol=1e-9)


def _mixing_fn(x_t, t, step_index, num_steps):  # some non-trivial "network"
    w = torch.linspace(-0.5, 0.5, x_t.shape[-1] ** 2, dtype=x_t.dtype).view(x_t.shape[-1], -1)
    return torch.tanh(x_t @ w + t.view(-1, 1, 1).to(x_t) / 100.0)


def test_first_step_is_ddim_and_one_step_equals_ddim():
    sched = DDPMScheduler(num_train_timesteps=100, prediction_type='epsilon')
    x_T = _x_T((2, 5, 4), seed=2)
    for num_steps in (1, 6):
        seen = {}
        for cls in (DDIMSampler, DPMSolverMultistepSampler):
            steps = []
            out = cls(sched).sample(_mixing_fn, x_T.shape, x_T=x_T, num_steps=num_steps,
                                    callback=lambda i, t, x, x0, acc=steps: acc.append(x.clone()))
            seen[cls] = (out, steps)
        a, b = seen[DDIMSampler], seen[DPMSolverMultistepSampler]
        torch.testing.assert_close(b[1][0], a[1][0], rtol=1e-12, atol=1e-12)  # first order
        if num_steps == 1:
            torch.testing.assert_close(b[0], a[0], rtol=1e-12, atol=1e-12)
        else:  # the multistep correction kicks in from the second step on
            assert (b[1][1] - a[1][1]).abs().max() > 1e-4


def test_reuse_resets_the_multistep_state():
    sched = DDPMScheduler(num_train_timesteps=100, prediction_type='sample')
    sampler = DIFFUSION_SCHEDULERS.build(dict(type='DPMSolverMultistepSampler',
                                              scheduler=dict(type='DDPMScheduler',
                                                             num_train_timesteps=100,
                                                             prediction_type='sample')))
    assert isinstance(sampler, (BaseDiffusionSampler, DPMSolverMultistepSampler))
    assert repr(sampler).startswith('DPMSolverMultistepSampler(')
    x_T = _x_T((2, 5, 4), seed=3)
    first = sampler.sample(_mixing_fn, x_T.shape, x_T=x_T, num_steps=7)
    # a different call in between (other shape, steps and spacing-compatible timesteps)
    sampler.sample(lambda x, t, i, n: torch.zeros_like(x), (3, 2, 4), num_steps=5,
                   dtype=torch.float64)
    again = sampler.sample(_mixing_fn, x_T.shape, x_T=x_T, num_steps=7)
    fresh = DPMSolverMultistepSampler(sched).sample(_mixing_fn, x_T.shape, x_T=x_T, num_steps=7)
    assert torch.equal(first, again) and torch.equal(first, fresh)
    # an interrupted call leaves no state behind either
    with pytest.raises(RuntimeError, match='stop'):
        def stop(i, t, x, x0):
            if i == 3:
                raise RuntimeError('stop')
        sampler.sample(_mixing_fn, x_T.shape, x_T=x_T, num_steps=7, callback=stop)
    assert torch.equal(sampler.sample(_mixing_fn, x_T.shape, x_T=x_T, num_steps=7), first)
    # state left by a direct step() that ends exactly where the next sample() starts
    leading = DPMSolverMultistepSampler(sched, timestep_spacing='leading')
    t0 = leading.timesteps(7)[0]
    ref = leading.sample(_mixing_fn, x_T.shape, x_T=x_T, num_steps=7)
    leading.step(torch.randn_like(x_T), x_T, 98, t0)
    assert leading._prev is not None and leading._prev[0] == t0
    assert torch.equal(leading.sample(_mixing_fn, x_T.shape, x_T=x_T, num_steps=7), ref)


@pytest.mark.parametrize('prediction_type', ['epsilon', 'sample', 'v_prediction'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_final_step_to_clean_data_is_finite(prediction_type, dtype):
    sched = DDPMScheduler(beta_schedule='cosine', prediction_type=prediction_type)
    last = []
    out = DPMSolverMultistepSampler(sched).sample(
        _mixing_fn, (2, 3, 4), num_steps=10, dtype=dtype,
        generator=torch.Generator().manual_seed(0),
        callback=lambda i, t, x, x0: last.append((x, x0)))
    assert out.dtype == dtype and torch.isfinite(out).all()
    torch.testing.assert_close(last[-1][0], last[-1][1])  # lands on the x0 prediction


def test_masked_frames_stay_zero_and_do_not_leak():
    sampler = DPMSolverMultistepSampler(DDPMScheduler(num_train_timesteps=100,
                                                      prediction_type='sample'))
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])

    def model_fn(x_t, t, step_index, num_steps):
        assert (x_t[1, 3:] == 0).all()
        return torch.tanh(x_t + (x_t * mask[..., None]).sum(1, keepdim=True) / 10)

    x_T = torch.randn(2, 6, 4, generator=torch.Generator().manual_seed(0))
    out = sampler.sample(model_fn, (2, 6, 4), mask=mask, num_steps=10, x_T=x_T)
    assert (out[1, 3:] == 0).all() and (out[0] != 0).all()
    x_T2 = x_T.clone()
    x_T2[1, 3:] = 1e3
    out2 = sampler.sample(model_fn, (2, 6, 4), mask=mask, num_steps=10, x_T=x_T2)
    torch.testing.assert_close(out, out2, rtol=0, atol=0)


def test_base_config_builds():
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', '..', 'configs', '_base_',
                                   'diffusion_schedulers', 'dpm_solver_2m.py'))
    sampler = DIFFUSION_SCHEDULERS.build(cfg.sampler,
                                         default_args=dict(scheduler=DDPMScheduler()))
    assert type(sampler) is DPMSolverMultistepSampler


def test_text_motion_model_predicts_with_dpm_solver(mini_cmu_dataset):
    from test_text_motion_diffusion import tiny_model_cfg  # tests/test_models is on sys.path

    register_all_modules()
    cfg = tiny_model_cfg(mini_cmu_dataset)
    cfg['sampler'] = dict(type='DPMSolverMultistepSampler')
    model = MODELS.build(cfg).eval()
    assert isinstance(model.sampler, DPMSolverMultistepSampler)
    sample = MotionDataSample()
    sample.text, sample.length = 'a person walks forward', 30
    data = model.data_preprocessor(dict(inputs=None, data_samples=[sample]))
    with torch.no_grad():
        out = model.predict(data['inputs'], data['data_samples'], num_steps=5,
                            generator=torch.Generator().manual_seed(0))
    assert out[0].pred_motion.shape == (30, 263) and out[0].pred_joints.shape == (30, 22, 3)
    assert torch.isfinite(out[0].pred_motion).all() and torch.isfinite(out[0].pred_joints).all()

"""DDPM schedule and DDIM/DDPM samplers against closed-form formulas."""
import math
import re

import pytest
import torch

from mdkit.models.diffusion_schedulers import (
    BaseDiffusionSampler,
    DDIMSampler,
    DDPMSampler,
    DDPMScheduler,
)
from mdkit.registry import DIFFUSION_SCHEDULERS

PRED_TYPES = ('epsilon', 'sample', 'v_prediction')


# -- schedule ---------------------------------------------------------------------------------
def test_linear_alphas_cumprod_matches_formula():
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule='linear')
    betas = torch.tensor([1e-4 + (0.02 - 1e-4) * i / 999 for i in range(1000)],
                         dtype=torch.float64)
    expected = torch.cumprod(1 - betas, 0)
    assert sched.alphas_cumprod.dtype == torch.float64
    torch.testing.assert_close(sched.betas, betas, rtol=0, atol=1e-12)
    torch.testing.assert_close(sched.alphas_cumprod, expected, rtol=1e-10, atol=0)
    # Ho et al.: the linear schedule ends close to pure noise
    assert 1e-5 < sched.alphas_cumprod[-1] < 1e-4


def test_cosine_alphas_cumprod_matches_formula():
    n, s = 1000, 0.008
    sched = DDPMScheduler(num_train_timesteps=n, beta_schedule='cosine')

    def f(t):
        return math.cos((t / n + s) / (1 + s) * math.pi / 2) ** 2

    direct = torch.tensor([f(t + 1) / f(0) for t in range(n)], dtype=torch.float64)
    unclipped = sched.betas < 0.999
    assert unclipped[:-1].all() and not unclipped[-1]  # only the last beta is clipped
    torch.testing.assert_close(sched.alphas_cumprod[:-1], direct[:-1], rtol=1e-9, atol=1e-12)
    assert sched.betas.max() == pytest.approx(0.999)


def test_scaled_linear_and_table_dtype_device():
    sched = DDPMScheduler(num_train_timesteps=10, beta_schedule='scaled_linear',
                          beta_start=0.01, beta_end=0.04)
    assert sched.betas[0].item() == pytest.approx(0.01)
    assert sched.betas[-1].item() == pytest.approx(0.04)
    assert sched.betas[5].item() == pytest.approx((0.1 + 0.1 * 5 / 9) ** 2)
    x = torch.zeros(3, 4, 2, dtype=torch.float32)
    out = sched.add_noise(x, torch.ones_like(x), torch.tensor([0, 4, 9]))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out[:, 0, 0], (1 - sched.alphas_cumprod[[0, 4, 9]]).sqrt().float())


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match="'linear', 'scaled_linear', 'cosine'"):
        DDPMScheduler(beta_schedule='quadratic')
    with pytest.raises(ValueError, match="'epsilon', 'sample', 'v_prediction'"):
        DDPMScheduler(prediction_type='x0')
    with pytest.raises(ValueError, match="'leading', 'trailing', 'linspace'"):
        DDIMSampler(DDPMScheduler(), timestep_spacing='uniform')
    with pytest.raises(ValueError, match='timesteps must lie in'):
        DDPMScheduler(num_train_timesteps=10).add_noise(torch.zeros(1, 2), torch.zeros(1, 2),
                                                        torch.tensor([10]))


def test_add_noise_statistics():
    sched = DDPMScheduler()
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((4, 20000, 1), 2.0, dtype=torch.float64)
    t = torch.tensor([0, 250, 600, 999])
    noise = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    x_t = sched.add_noise(x0, noise, t)
    ab = sched.alphas_cumprod[t]
    torch.testing.assert_close(x_t.mean((1, 2)), ab.sqrt() * 2.0, atol=0.03, rtol=0)
    torch.testing.assert_close(x_t.var((1, 2)), 1 - ab, atol=0.03, rtol=0.03)


@pytest.mark.parametrize('prediction_type', PRED_TYPES)
def test_target_and_conversion_round_trip(prediction_type):
    sched = DDPMScheduler(beta_schedule='cosine', prediction_type=prediction_type)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(5, 7, 3, generator=g, dtype=torch.float64)
    noise = torch.randn(5, 7, 3, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 10, 300, 700, 990])
    x_t = sched.add_noise(x0, noise, t)
    target = sched.get_target(x0, noise, t)
    expected = {'epsilon': noise, 'sample': x0}.get(prediction_type)
    if expected is None:  # v = sqrt(ab) eps - sqrt(1 - ab) x0
        ab = sched.alphas_cumprod[t].view(-1, 1, 1)
        expected = ab.sqrt() * noise - (1 - ab).sqrt() * x0
    torch.testing.assert_close(target, expected)
    x0_hat, eps_hat = sched.pred_to_x0_eps(target, x_t, t)
    torch.testing.assert_close(x0_hat, x0, atol=1e-7, rtol=1e-7)
    torch.testing.assert_close(eps_hat, noise, atol=1e-7, rtol=1e-7)


def test_sample_timesteps_range_and_generator():
    sched = DDPMScheduler(num_train_timesteps=50)
    a = sched.sample_timesteps(4000, generator=torch.Generator().manual_seed(3))
    b = sched.sample_timesteps(4000, generator=torch.Generator().manual_seed(3))
    assert a.dtype == torch.long and a.shape == (4000, )
    assert torch.equal(a, b) and a.min() == 0 and a.max() == 49
    assert abs(a.float().mean().item() - 24.5) < 1.0


# -- samplers --------------------------------------------------------------------------------
def _gaussian_denoiser(sched, mu, s):
    """Exact model function for data x0 ~ N(mu, s^2 I) in the schedule's prediction type."""

    def model_fn(x_t, t, step_index, num_steps):
        ab = sched.alphas_cumprod[t.cpu()].to(x_t).view(-1, 1, 1)
        a, b = ab.sqrt(), (1 - ab).sqrt()
        x0 = mu + a * s**2 / (a**2 * s**2 + b**2) * (x_t - a * mu)  # E[x0 | x_t]
        eps = (x_t - a * x0) / b
        return {'epsilon': eps, 'sample': x0,
                'v_prediction': a * eps - b * x0}[sched.prediction_type]

    return model_fn


def _ddim_closed_form(sampler, num_steps, mu, s):
    """Mean and std that eta=0 DDIM gives from N(0, I) with the exact Gaussian denoiser.

    Each step is affine in x_t: x_s - a_s mu = (x_t - a_t mu) (a_t a_s s^2 + b_t b_s) / v_t.
    """
    mean, std = torch.zeros_like(mu), 1.0
    steps = sampler.timesteps(num_steps)
    for i, t in enumerate(steps):
        ab_t = sampler._alpha_bar(t)
        ab_s = sampler._alpha_bar(steps[i + 1] if i + 1 < len(steps) else -1)
        a, b, a2, b2 = ab_t**0.5, (1 - ab_t)**0.5, ab_s**0.5, (1 - ab_s)**0.5
        c = (a * a2 * s**2 + b * b2) / (a**2 * s**2 + b**2)
        mean, std = a2 * mu + (mean - a * mu) * c, std * c
    return mean, std


@pytest.mark.parametrize('beta_schedule,prediction_type', [('linear', 'epsilon'),
                                                           ('cosine', 'sample'),
                                                           ('cosine', 'v_prediction')])
def test_ddim_maps_prior_to_gaussian_data(beta_schedule, prediction_type):
    sched = DDPMScheduler(beta_schedule=beta_schedule, prediction_type=prediction_type)
    sampler = DDIMSampler(sched, eta=0.0)
    mu = torch.linspace(-2.0, 2.0, 8, dtype=torch.float64)
    s = 1.0
    fn = _gaussian_denoiser(sched, mu, s)
    # first-order DDIM shrinks the spread a little at few steps; the tolerance tightens with steps
    tol = {10: 0.2, 20: 0.1, 50: 0.05}
    errors = []
    for num_steps in (10, 20, 50):
        g = torch.Generator().manual_seed(num_steps)
        out = sampler.sample(fn, (128, 64, 8), num_steps=num_steps, generator=g,
                             dtype=torch.float64)
        mean, std = out.mean((0, 1)), out.std((0, 1))
        assert (mean - mu).abs().max() < 0.05, (num_steps, mean)
        assert (std - s).abs().max() < tol[num_steps] * s, (num_steps, std)
        # and exactly what the DDIM update predicts in closed form (only Monte-Carlo error left)
        exp_mean, exp_std = _ddim_closed_form(sampler, num_steps, mu, s)
        torch.testing.assert_close(mean, exp_mean, atol=0.03, rtol=0)
        torch.testing.assert_close(std, torch.full_like(std, exp_std), atol=0.03, rtol=0)
        errors.append(abs(exp_std - s))
    assert errors[0] > errors[1] > errors[2]


def test_ddpm_ancestral_maps_prior_to_gaussian_data():
    sched = DDPMScheduler(beta_schedule='cosine', prediction_type='sample')
    mu, s = torch.tensor([1.5, -0.5], dtype=torch.float64), 0.6
    out = DDPMSampler(sched).sample(_gaussian_denoiser(sched, mu, s), (64, 64, 2),
                                    num_steps=100, generator=torch.Generator().manual_seed(0),
                                    dtype=torch.float64)
    torch.testing.assert_close(out.mean((0, 1)), mu, atol=0.05, rtol=0)
    torch.testing.assert_close(out.std((0, 1)), torch.full((2, ), s, dtype=torch.float64),
                               atol=0.05, rtol=0)


def test_ddim_eta_one_at_full_steps_equals_ddpm_ancestral():
    sched = DDPMScheduler(num_train_timesteps=1000, prediction_type='epsilon')
    weight = 0.3 * torch.randn(4, 4, generator=torch.Generator().manual_seed(5),
                               dtype=torch.float64)

    def model_fn(x_t, t, step_index, num_steps):  # some non-trivial "network"
        return torch.tanh(x_t @ weight + t.view(-1, 1, 1) / 1000.0)

    kwargs = dict(num_steps=1000, dtype=torch.float64)
    ddim = DDIMSampler(sched, eta=1.0).sample(model_fn, (2, 3, 4),
                                              generator=torch.Generator().manual_seed(9), **kwargs)
    ddpm = DDPMSampler(sched).sample(model_fn, (2, 3, 4),
                                     generator=torch.Generator().manual_seed(9), **kwargs)
    torch.testing.assert_close(ddim, ddpm, atol=1e-8, rtol=1e-8)
    ddim0 = DDIMSampler(sched, eta=0.0).sample(model_fn, (2, 3, 4),
                                               generator=torch.Generator().manual_seed(9),
                                               **kwargs)
    assert (ddim0 - ddpm).abs().max() > 1e-3  # eta really matters


@pytest.mark.parametrize('sampler_cfg', [dict(type='DDIMSampler', eta=0.5),
                                         dict(type='DDPMSampler')])
def test_sampling_is_deterministic_given_a_generator(sampler_cfg):
    sampler = DIFFUSION_SCHEDULERS.build(dict(sampler_cfg, scheduler=dict(type='DDPMScheduler')))

    def model_fn(x_t, t, step_index, num_steps):
        return 0.5 * x_t

    def run(seed):
        return sampler.sample(model_fn, (2, 5, 3), num_steps=8,
                              generator=torch.Generator().manual_seed(seed))

    a, b, c = run(0), run(0), run(1)
    assert a.dtype == torch.get_default_dtype()
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_model_fn_interface_and_callback():
    sampler = DDIMSampler(dict(type='DDPMScheduler', num_train_timesteps=100))
    seen, cb = [], []

    def model_fn(x_t, t, step_index, num_steps):
        seen.append((t.tolist(), t.dtype, step_index, num_steps))
        return torch.zeros_like(x_t)

    sampler.sample(model_fn, (2, 3, 1), num_steps=4,
                   callback=lambda i, t, x, x0: cb.append((i, t, x.shape, x0.shape)))
    assert [s[0] for s in seen] == [[t, t] for t in sampler.timesteps(4)]
    assert [s[0][0] for s in seen] == [99, 74, 49, 24]  # trailing spacing by default
    assert all(s[1] == torch.long for s in seen)
    assert [(s[2], s[3]) for s in seen] == [(i, 4) for i in range(4)]
    assert cb == [(i, t, (2, 3, 1), (2, 3, 1)) for i, t in enumerate(sampler.timesteps(4))]


@pytest.mark.parametrize('spacing,expected', [('leading', [75, 50, 25, 0]),
                                              ('trailing', [99, 74, 49, 24]),
                                              ('linspace', [99, 66, 33, 0])])
def test_timestep_spacings(spacing, expected):
    sampler = DDPMSampler(DDPMScheduler(num_train_timesteps=100), timestep_spacing=spacing)
    assert sampler.timesteps(4) == expected
    assert sampler.timesteps(100) == list(range(99, -1, -1))
    for n in (1, 3, 7, 33, 99):
        ts = sampler.timesteps(n)
        assert len(set(ts)) == n and ts == sorted(ts, reverse=True) and 0 <= ts[-1] <= ts[0] < 100


@pytest.mark.parametrize('cls', [DDIMSampler, DDPMSampler])
def test_masked_frames_stay_zero_and_do_not_leak(cls):
    sched = DDPMScheduler(num_train_timesteps=100, prediction_type='sample')
    sampler = cls(sched)
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])

    def model_fn(x_t, t, step_index, num_steps):
        assert (x_t[1, 3:] == 0).all()  # the model only ever sees zero padding
        # a frame-mixing model: every frame sees the sum over valid frames of its sequence
        return torch.tanh(x_t + (x_t * mask[..., None]).sum(1, keepdim=True) / 10)

    x_T = torch.randn(2, 6, 4, generator=torch.Generator().manual_seed(0))
    out = sampler.sample(model_fn, (2, 6, 4), mask=mask, num_steps=10, x_T=x_T,
                         generator=torch.Generator().manual_seed(1))
    assert (out[1, 3:] == 0).all() and (out[0] != 0).all()
    # garbage in the padded part of x_T changes nothing
    x_T2 = x_T.clone()
    x_T2[1, 3:] = 1e3
    out2 = sampler.sample(model_fn, (2, 6, 4), mask=mask, num_steps=10, x_T=x_T2,
                          generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(out, out2, rtol=0, atol=0)


@pytest.mark.parametrize('num_steps', [0, -1, 101, 2.5])
def test_invalid_step_counts_raise(num_steps):
    sampler = DDIMSampler(DDPMScheduler(num_train_timesteps=100))
    with pytest.raises(ValueError, match=re.escape('num_steps must be') + '.*' +
                       re.escape('[1, 100]')):
        sampler.sample(lambda x, t, i, n: x, (1, 2, 3), num_steps=num_steps)


def test_bad_arguments():
    with pytest.raises(ValueError, match='mask must have shape'):
        DDIMSampler(DDPMScheduler()).sample(lambda x, t, i, n: x, (2, 3, 1),
                                            mask=torch.ones(2, 4, dtype=torch.bool), num_steps=2)
    with pytest.raises(ValueError, match='x_T has shape'):
        DDIMSampler(DDPMScheduler()).sample(lambda x, t, i, n: x, (2, 3, 1),
                                            x_T=torch.zeros(2, 3, 2), num_steps=2)
    with pytest.raises(TypeError, match='needs a DDPMScheduler'):
        DDPMSampler(scheduler=object())
    with pytest.raises(ValueError, match='variance_type'):
        DDPMSampler(DDPMScheduler(), variance_type='learned')


def test_clip_denoised_bounds_the_prediction():
    sched = DDPMScheduler(num_train_timesteps=50, prediction_type='sample')
    out = DDIMSampler(sched, clip_denoised=True).sample(
        lambda x, t, i, n: torch.full_like(x, 5.0), (1, 2, 2), num_steps=5)
    torch.testing.assert_close(out, torch.ones(1, 2, 2))


def test_registry_builds_documented_examples_and_sampler_from_instance():
    import mdkit.models.diffusion_schedulers as module

    for name, cls in DIFFUSION_SCHEDULERS.module_dict.items():
        if not cls.__module__.startswith(module.__name__):
            continue
        doc = cls.__doc__ or ''
        assert doc.strip().splitlines()[0].strip(), name
        example = doc.split('Example:')[1]
        code = '\n'.join(line.strip()[4:] for line in example.splitlines()
                         if line.strip().startswith(('>>> ', '... ')))
        scope = dict(DIFFUSION_SCHEDULERS=DIFFUSION_SCHEDULERS)
        exec(code, scope)  # noqa: S102 - our own docstring
        built = [v for k, v in scope.items() if k != 'DIFFUSION_SCHEDULERS'
                 and k != '__builtins__']
        assert built and isinstance(built[0], cls), name
    sched = DDPMScheduler(prediction_type='v_prediction')
    sampler = DIFFUSION_SCHEDULERS.build(dict(type='DDIMSampler'),
                                         default_args=dict(scheduler=sched))
    assert isinstance(sampler, BaseDiffusionSampler) and sampler.scheduler is sched
    assert sampler.prediction_type == 'v_prediction'
    assert 'eta=0.0' in repr(sampler)


def test_progress_bar_and_float32_default(capsys):
    sampler = DDPMSampler(DDPMScheduler(num_train_timesteps=20))
    out = sampler.sample(lambda x, t, i, n: torch.zeros_like(x), (1, 2, 3), num_steps=5,
                         progress=True, generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32 and out.device.type == 'cpu'
    printed = capsys.readouterr().out
    assert '5/5' in printed and printed.endswith('\n')

"""Sampling latency: ms per generated motion vs. sampler, number of steps, batch size, guidance.

Usage:
    python benchmarks/bench_sample.py CONFIG [--checkpoint CKPT] [--steps 10 20 50]
        [--batch-sizes 1 4 16] [--samplers config DPMSolverMultistepSampler] [--length 196]
        [--guidances none config cfg autoguidance autoguidance_dropout autoguidance+cfg]
        [--repeats 5] [--threads 2] [--cfg-options k=v ...]

``nfe`` is the number of network forward calls per generated batch, main denoiser plus weak
model (guidance that shares the network evaluates main and condition-dropped references in
one forward of a stacked batch); ``rows`` is the number of sequences those forwards process
per generated motion and step. ``autoguidance`` needs a config with a weak model (e.g.
``configs/baselines/tmd_minilm-xattn-small-ag_2k_cmu.py``) and is skipped otherwise.

Prints a table (median over repeats) and the target line: one 196-frame motion with 50 DDIM
steps under 1 s. Without a checkpoint the weights are random (latency does not depend on them).
"""
import argparse
import statistics
import time

import torch

#: Guidance presets of ``--guidances`` (None: the plain conditional prediction).
GUIDANCES = {
    'none': None,
    'cfg': dict(type='ClassifierFreeGuidance', scale=2.5),
    'autoguidance': dict(type='AutoGuidance', scale=2.0),
    'autoguidance_dropout': dict(type='AutoGuidance', reference='dropout', scale=2.0),
    'autoguidance+cfg': dict(type='CombinedGuidance', guidances=[
        dict(type='AutoGuidance', scale=1.5), dict(type='ClassifierFreeGuidance', scale=1.5)]),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--checkpoint', default=None)
    p.add_argument('--steps', type=int, nargs='+', default=[10, 20, 50])
    p.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 4, 16])
    p.add_argument('--samplers', nargs='+', default=['config'],
                   help="'config' (the config's sampler) and/or registered sampler types")
    p.add_argument('--guidances', nargs='+', default=['none', 'config'],
                   choices=['config', *GUIDANCES],
                   help="'config' (the config's guidance) and/or presets")
    p.add_argument('--length', type=int, default=196)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu')
    from mmengine.config import DictAction
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help='config overrides, e.g. model.denoiser.proj_kernel_size=1')
    return p.parse_args()


def time_generate(gen, texts, length, steps, repeats):
    """Median seconds of ``gen.generate`` over ``repeats`` runs (after one warm-up)."""
    gen.generate(texts, [length] * len(texts), steps=steps, seed=0, batch_size=len(texts))
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        gen.generate(texts, [length] * len(texts), steps=steps, seed=r, batch_size=len(texts))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def count_forwards(*modules):
    """Count forward calls and processed rows (batch entries) of ``modules``; returns the dict."""
    counter = {'calls': 0, 'rows': 0}

    def hook(_, args, __):
        counter['calls'] += 1
        counter['rows'] += args[0].shape[0]

    for module in modules:
        if module is not None:
            module.register_forward_hook(hook)
    return counter


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    from mdkit.apis import MotionGenerator
    try:
        gen = MotionGenerator.from_config(args.config, args.checkpoint, device=args.device,
                                          cfg_options=args.cfg_options)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f'error: {e}') from None
    model = gen.model
    guidance = model.guidance
    from mdkit.registry import DIFFUSION_SCHEDULERS
    samplers = {}
    for name in args.samplers:
        samplers[name if name != 'config' else type(model.sampler).__name__] = (
            model.sampler if name == 'config' else DIFFUSION_SCHEDULERS.build(
                dict(type=name), default_args=dict(scheduler=model.train_scheduler)))
    forwards = count_forwards(model.denoiser, model.weak_guide)
    from mdkit.registry import GUIDANCE
    guidances = {}
    for name in args.guidances:
        if name == 'config':
            guidances[type(guidance).__name__ if guidance else 'none'] = guidance
            continue
        g = GUIDANCE.build(GUIDANCES[name]) if GUIDANCES[name] else None
        if g is not None and g.needs_weak_model and model.weak_guide is None:
            print(f'skipping {name}: the config has no weak model')
            continue
        guidances[name] = g
    prompts = ['a person walks forward and turns around', 'someone jumps up and down',
               'a man kicks with his left leg', 'a person dances salsa']
    print(f'config: {args.config}')
    print(f'denoiser params: {sum(p.numel() for p in model.denoiser.parameters()) / 1e6:.2f} M, '
          f'length {args.length} frames, {args.threads} threads, device {args.device}, '
          f'median of {args.repeats}')
    print(f'{"sampler":<27}{"guidance":<24}{"steps":>6}{"batch":>6}{"nfe":>5}{"rows":>6}'
          f'{"ms/batch":>10}{"ms/motion":>11}')
    results = {}
    default_sampler = model.sampler
    for sampler_name, sampler in samplers.items():
        model.sampler = sampler
        for name, g in guidances.items():
            model.guidance = g
            for steps in args.steps:
                for bs in args.batch_sizes:
                    texts = [prompts[i % len(prompts)] for i in range(bs)]
                    forwards['calls'] = forwards['rows'] = 0
                    sec = time_generate(gen, texts, args.length, steps, args.repeats)
                    nfe = forwards['calls'] // (args.repeats + 1)
                    rows = forwards['rows'] / ((args.repeats + 1) * steps * bs)
                    if sampler is default_sampler:
                        results[(name, steps, bs)] = sec
                    print(f'{sampler_name:<27}{name:<24}{steps:>6}{bs:>6}{nfe:>5}{rows:>6.1f}'
                          f'{sec * 1e3:>10.1f}{sec * 1e3 / bs:>11.1f}')
    model.guidance, model.sampler = guidance, default_sampler
    target = 1.0
    for name in guidances:
        key = (name, 50, 1)
        if key in results:
            sec = results[key]
            print(f'target: 1 motion x {args.length} frames, 50 steps, guidance={name}: '
                  f'{sec * 1e3:.0f} ms = {sec / target:.2f} x the 1 s target '
                  f'({"met" if sec < target else "NOT met"})')


if __name__ == '__main__':
    main()

"""Generate motions from text (and a video, with a MotionDuet model) with a trained model.

Usage:
    python tools/generate.py CONFIG CHECKPOINT --text "a person walks forward" [--length 4.0s]
        [--video clip.mp4]
    python tools/generate.py CONFIG CHECKPOINT --text-file prompts.txt [--num-repetitions 3]
        [--seed 0] [--steps 50] [--out-dir outputs/generate] [--no-video]
        [--video-encoder-weights DIR]

A prompt file holds one prompt per line, optionally ``prompt#length`` (frames or seconds) and
``prompt#length#video`` (an empty length takes the video's duration).
Per sample it writes ``<name>_features.npy`` (T, D), ``<name>_joints.npy`` (T, J, 3) and a
stick-figure ``<name>.mp4``.
"""
import argparse
import json
import os
import os.path as osp
import re
import sys

from mmengine.config import DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Generate motions from text')
    p.add_argument('config')
    p.add_argument('checkpoint')
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument('--text', help='one prompt')
    g.add_argument('--text-file', help='file with one prompt per line ("prompt#length" allowed)')
    p.add_argument('--length', default=None, help='frames (80) or seconds (4.0s)')
    p.add_argument('--video', default=None,
                   help='video condition of --text (a MotionDuet model): file or frame folder')
    p.add_argument('--video-encoder-weights', default=None,
                   help='video encoder weights folder, when the one recorded in the feature '
                        'cache moved')
    p.add_argument('--num-repetitions', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--steps', type=int, default=None, help='sampling steps')
    p.add_argument('--out-dir', default='outputs/generate')
    p.add_argument('--device', default='cpu')
    p.add_argument('--no-video', action='store_true', help='skip the mp4 files')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config entries of the model')
    return p.parse_args(argv)


def read_prompts(args):
    """(prompts, lengths, videos) from --text or --text-file."""
    if args.text is not None:
        return [args.text], [args.length], [args.video]
    if args.video is not None:
        sys.exit('error: --video goes with --text; in a prompt file write prompt#length#video')
    from mdkit.apis import read_prompt_file
    try:
        return read_prompt_file(args.text_file, default_length=args.length)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'error: {e}')


def slug(text: str, n: int = 40) -> str:
    """File-name-safe short form of a prompt."""
    return re.sub(r'[^a-z0-9]+', '_', text.lower()).strip('_')[:n] or 'motion'


def main(argv=None):
    args = parse_args(argv)
    prompts, lengths, videos = read_prompts(args)
    from mdkit.apis import MotionGenerator
    from mdkit.utils import UnexpectedConfigKeyError, UnregisteredTypeError
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            sys.exit(f'error: file not found: {path}')
    for path in videos:
        if path is not None and not osp.exists(path):
            sys.exit(f'error: video not found: {path}')
    try:
        gen = MotionGenerator.from_config(args.config, args.checkpoint, device=args.device,
                                          cfg_options=args.cfg_options)
    except (ValueError, UnexpectedConfigKeyError, UnregisteredTypeError) as e:
        sys.exit(f'error: {e}')  # a misspelt --cfg-options name, config key or type
    try:  # a missing length: the video's duration, else the model's max_length
        results = gen.generate(prompts, lengths, num_repetitions=args.num_repetitions,
                               seed=args.seed, steps=args.steps, progress=True,
                               videos=videos if any(videos) else None,
                               video_encoder_weights=args.video_encoder_weights)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f'error: {e}')
    os.makedirs(args.out_dir, exist_ok=True)
    index = []
    from tqdm import tqdm
    for res in tqdm(results, desc='writing', unit='motion'):
        i, r = res.metainfo['text_index'], res.metainfo['repetition']
        name = f'{i:03d}_{slug(prompts[i])}_rep{r}'
        base = osp.join(args.out_dir, name)
        import numpy as np
        np.save(base + '_features.npy', res.pred_motion.numpy())
        np.save(base + '_joints.npy', res.pred_joints.numpy())
        entry = dict(name=name, text=prompts[i], repetition=r, frames=int(res.length),
                     features=base + '_features.npy', joints=base + '_joints.npy',
                     video_condition=videos[i])
        if not args.no_video:
            from mdkit.visualization import render_stick_figure
            render_stick_figure(res.pred_joints.numpy(), base + '.mp4', fps=gen.fps,
                                title=prompts[i][:60])
            entry['video'] = base + '.mp4'
        index.append(entry)
    with open(osp.join(args.out_dir, 'results.json'), 'w') as f:
        json.dump(index, f, indent=1)
    print(f'wrote {len(index)} motion(s) to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Pretrain a small VideoMAE with masked autoencoding on a folder of rendered clips.

Usage:
    python tools/pretrain_video_encoder.py --video-dir data/cmu_humanml3d/videos \\
        --out work_dirs/videomae_cmu [--size 112 --num-frames 16 --tubelet 2 --patch 16
        --hidden 192 --layers 4 --heads 3 --decoder-hidden 96 --decoder-layers 2
        --iters 2000 --batch-size 8 --lr 5e-4 --mask-ratio 0.9 --seed 0 --device cpu]

Trains ``transformers.VideoMAEForPreTraining`` (tube masking: the same random
spatial patches are hidden in every tubelet of a clip, ``--mask-ratio`` of
them; the loss is the MSE of the per-patch normalised pixels of the hidden
patches) on random windows of ``--num-frames`` consecutive frames (random
horizontal flips). Writes to ``--out``:

* the encoder only (``VideoMAEModel.save_pretrained``) plus the image
  processor settings, so ``VideoMAEVideoEncoder(pretrained=OUT)`` loads it;
* ``loss.csv`` (iteration, mean training loss since the last row, held-out
  loss, learning rate) and ``loss.png``;
* ``pretrain_info.json`` (data, settings, iterations, first and final losses).

The held-out loss is computed on a fixed set of windows (the first frames of
up to ``--eval-clips`` clips of ``--eval-ids-file``, else of the training
clips) with fixed masks, so it is comparable across iterations and runs.
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import math
import os
import os.path as osp
import signal
import sys
import time

import numpy as np
import torch


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(
        description='Pretrain a small VideoMAE (masked autoencoding) on rendered clips.')
    p.add_argument('--video-dir', required=True, help='folder of <id>.mp4 clips')
    p.add_argument('--out', required=True, help='output folder (weights, loss.csv, loss.png)')
    p.add_argument('--ext', default='mp4', help='clip file extension. Default: mp4')
    p.add_argument('--size', type=int, default=112, help='frame size in pixels. Default: 112')
    p.add_argument('--num-frames', type=int, default=16, help='frames per window. Default: 16')
    p.add_argument('--tubelet', type=int, default=2, help='tubelet size in frames. Default: 2')
    p.add_argument('--patch', type=int, default=16, help='patch size in pixels. Default: 16')
    p.add_argument('--hidden', type=int, default=192, help='encoder width. Default: 192')
    p.add_argument('--layers', type=int, default=4, help='encoder layers. Default: 4')
    p.add_argument('--heads', type=int, default=3, help='encoder attention heads. Default: 3')
    p.add_argument('--decoder-hidden', type=int, default=96, help='decoder width. Default: 96')
    p.add_argument('--decoder-layers', type=int, default=2, help='decoder layers. Default: 2')
    p.add_argument('--decoder-heads', type=int, default=3, help='decoder heads. Default: 3')
    p.add_argument('--iters', type=int, default=2000, help='training iterations. Default: 2000')
    p.add_argument('--batch-size', type=int, default=8, help='clips per iteration. Default: 8')
    p.add_argument('--lr', type=float, default=5e-4, help='peak learning rate. Default: 5e-4')
    p.add_argument('--weight-decay', type=float, default=0.05, help='AdamW weight decay')
    p.add_argument('--warmup', type=float, default=0.05,
                   help='linear warm-up, as a fraction of --iters (then cosine decay)')
    p.add_argument('--mask-ratio', type=float, default=0.9,
                   help='fraction of the patches hidden (tube masking). Default: 0.9')
    p.add_argument('--no-norm-pix-loss', action='store_true',
                   help='reconstruct raw pixels instead of per-patch normalised pixels')
    p.add_argument('--video-fps', type=float, default=20.0,
                   help='resample clips to this frame rate when read (the rate features are '
                        'extracted at). Default: 20')
    p.add_argument('--ids-file', default=None,
                   help='train on these clip ids only (one per line, e.g. the train split); '
                        'default: every clip in --video-dir')
    p.add_argument('--eval-ids-file', default=None,
                   help='clip ids of the held-out loss (e.g. the val split); default: the first '
                        '--eval-clips training clips (then the loss is not held out)')
    p.add_argument('--max-clips', type=int, default=None, help='use at most this many clips')
    p.add_argument('--max-clip-frames', type=int, default=64,
                   help='frames kept in memory per clip (a centred crop). Default: 64')
    p.add_argument('--eval-clips', type=int, default=16,
                   help='clips of the fixed held-out loss. Default: 16')
    p.add_argument('--log-interval', type=int, default=10, help='iterations per loss row')
    p.add_argument('--seed', type=int, default=0, help='random seed. Default: 0')
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:N]'. Default: cpu")
    p.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    args = p.parse_args(argv)
    for name in ('size', 'num_frames', 'tubelet', 'patch', 'hidden', 'layers', 'heads',
                 'decoder_hidden', 'decoder_layers', 'decoder_heads', 'iters', 'batch_size',
                 'log_interval', 'eval_clips', 'max_clip_frames'):
        if getattr(args, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.num_frames % args.tubelet:
        p.error(f'--num-frames {args.num_frames} is not a multiple of --tubelet {args.tubelet}')
    if args.size % args.patch:
        p.error(f'--size {args.size} is not a multiple of --patch {args.patch}')
    if args.hidden % args.heads or args.decoder_hidden % args.decoder_heads:
        p.error('--hidden / --decoder-hidden must be multiples of --heads / --decoder-heads')
    if not 0 < args.mask_ratio < 1:
        p.error(f'--mask-ratio must be in (0, 1), got {args.mask_ratio}')
    if args.max_clip_frames < args.num_frames:
        p.error('--max-clip-frames must be >= --num-frames')
    return args


def find_clips(video_dir: str, ext: str, max_clips: int | None,
               ids_file: str | None = None) -> list[str]:
    """Sorted clip paths (of ``ids_file`` when given); exits clearly when there are none."""
    if not osp.isdir(video_dir):
        sys.exit(f'error: --video-dir {video_dir!r} does not exist. Render clips first: '
                 'python tools/dataset_converters/render_videos.py DATA_ROOT --split train '
                 '--out-dir VIDEO_DIR')
    ext = ext.lstrip('.')
    if ids_file:
        if not osp.isfile(ids_file):
            sys.exit(f'error: ids file {ids_file!r} does not exist')
        with open(ids_file, encoding='utf-8') as f:
            ids = sorted({ln.strip() for ln in f if ln.strip() and not ln.startswith('#')})
        paths = [osp.join(video_dir, f'{i}.{ext}') for i in ids]
        missing = [p for p in paths if not osp.isfile(p)]
        if missing:
            sys.exit(f'error: {len(missing)} clip(s) of {ids_file!r} missing in {video_dir!r} '
                     f'(first: {osp.basename(missing[0])}). Render them with '
                     'tools/dataset_converters/render_videos.py')
        return paths[:max_clips] if max_clips else paths
    paths = sorted(glob.glob(osp.join(video_dir, f'*.{ext}')))
    if not paths:
        sys.exit(f'error: no *.{ext.lstrip(".")} clips in {video_dir!r}. Render clips first: '
                 'python tools/dataset_converters/render_videos.py DATA_ROOT --split train '
                 '--out-dir VIDEO_DIR')
    return paths[:max_clips] if max_clips else paths


def load_clips(paths: list[str], args, progress: bool) -> list[np.ndarray]:
    """Decode every clip once: (F_i, size, size, 3) uint8, at most ``max_clip_frames`` frames.

    Clips shorter than a window are padded by repeating their last frame.
    """
    from tqdm import tqdm

    from mdkit.datasets.video_io import read_video

    clips = []
    for path in tqdm(paths, desc='reading clips', disable=not progress, unit='clip'):
        frames = read_video(path, fps=args.video_fps, size=args.size)
        if len(frames) > args.max_clip_frames:
            start = (len(frames) - args.max_clip_frames) // 2
            frames = frames[start:start + args.max_clip_frames].copy()  # free the rest
        if len(frames) < args.num_frames:
            pad = np.repeat(frames[-1:], args.num_frames - len(frames), axis=0)
            frames = np.concatenate([frames, pad])
        clips.append(np.ascontiguousarray(frames))
    return clips


def to_pixel_values(windows: np.ndarray, device) -> torch.Tensor:
    """(B, F, H, W, 3) uint8 -> (B, F, 3, H, W) ImageNet-normalised float (VideoMAE input)."""
    from mdkit.models.video_encoders import IMAGENET_MEAN, IMAGENET_STD

    x = torch.from_numpy(windows).to(device).permute(0, 1, 4, 2, 3).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=device)[None, None, :, None, None]
    std = torch.tensor(IMAGENET_STD, device=device)[None, None, :, None, None]
    return (x - mean) / std


def tube_mask(batch: int, slots: int, patches: int, ratio: float,
              generator: torch.Generator) -> torch.Tensor:
    """Tube masking: (B, slots * patches) bool, the same spatial patches hidden in every slot.

    Every clip hides exactly ``round(ratio * patches)`` patches per slot (VideoMAE
    needs equal counts across the batch).
    """
    hidden = min(patches - 1, max(1, int(round(ratio * patches))))
    scores = torch.rand(batch, patches, generator=generator)
    order = scores.argsort(dim=1)
    spatial = torch.zeros(batch, patches, dtype=torch.bool)
    spatial.scatter_(1, order[:, :hidden], True)
    return spatial.repeat(1, slots)  # token order is (slot, row, column)


def sample_batch(clips: list[np.ndarray], batch: int, num_frames: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Random windows of consecutive frames from random clips, randomly flipped left-right."""
    out = []
    for i in rng.integers(0, len(clips), size=batch):
        clip = clips[i]
        start = int(rng.integers(0, len(clip) - num_frames + 1))
        window = clip[start:start + num_frames]
        if rng.random() < 0.5:
            window = window[:, :, ::-1]
        out.append(window)
    return np.ascontiguousarray(np.stack(out))


def lr_at(it: int, args) -> float:
    """Linear warm-up then cosine decay to 1% of the peak."""
    warmup = max(1, int(round(args.warmup * args.iters)))
    if it < warmup:
        return args.lr * (it + 1) / warmup
    progress = (it - warmup) / max(1, args.iters - warmup)
    return args.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


@torch.no_grad()
def eval_loss(model, eval_windows: np.ndarray, eval_masks: torch.Tensor, device,
              batch: int) -> float:
    """Mean masked-reconstruction loss on the fixed held-out windows and masks."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for b in range(0, len(eval_windows), batch):
        x = to_pixel_values(eval_windows[b:b + batch], device)
        m = eval_masks[b:b + batch].to(device)
        total += float(model(pixel_values=x, bool_masked_pos=m).loss) * len(x)
        count += len(x)
    model.train(was_training)
    return total / count


def plot_losses(rows: list[dict], path: str, title: str) -> None:
    """Training and held-out loss against the iteration, log scale."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    its = [r['iter'] for r in rows]
    train = [(r['iter'], r['train_loss']) for r in rows if r['train_loss'] == r['train_loss']]
    if train:
        ax.plot(*zip(*train), label='training loss (mean per row)')
    ax.plot(its, [r['eval_loss'] for r in rows], label='held-out loss (fixed masks)')
    ax.set_xlabel('iteration')
    ax.set_ylabel('masked reconstruction MSE')
    ax.set_yscale('log')
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def save_encoder(model, out: str, args) -> None:
    """Save the encoder part and the image processor settings (``from_pretrained`` loads them)."""
    import transformers

    from mdkit.models.video_encoders import IMAGENET_MEAN, IMAGENET_STD
    from mdkit.utils.frozen_module import hf_progress_bar_disabled

    with hf_progress_bar_disabled():
        model.videomae.save_pretrained(out)
    processor_cls = (getattr(transformers, 'VideoMAEImageProcessorPil', None)
                     or transformers.VideoMAEImageProcessor)
    processor = processor_cls(size={'shortest_edge': args.size},
                              crop_size={'height': args.size, 'width': args.size},
                              image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD))
    processor.save_pretrained(out)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def log_row(rows, model, eval_windows, eval_masks, device, args, done, window_losses, lr, bar,
            progress) -> None:
    """Append one ``loss.csv`` row (mean training loss since the last row, held-out loss)."""
    ev = eval_loss(model, eval_windows, eval_masks, device, args.batch_size)
    train = float(np.mean(window_losses)) if window_losses else float('nan')
    rows.append(dict(iter=done, train_loss=train, eval_loss=ev, lr=lr))
    bar.set_postfix(loss=f'{train:.4f}', held_out=f'{ev:.4f}')
    if not progress:
        print(f'iter {done}/{args.iters}  loss {train:.4f}  held-out {ev:.4f}  lr {lr:.2e}',
              flush=True)


def main(argv=None) -> dict:
    """Run the pretraining; returns the ``pretrain_info.json`` content."""
    args = parse_args(argv)
    paths = find_clips(args.video_dir, args.ext, args.max_clips, args.ids_file)
    eval_paths = (find_clips(args.video_dir, args.ext, args.eval_clips, args.eval_ids_file)
                  if args.eval_ids_file else None)
    progress = not args.no_progress
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = torch.device(args.device)

    import transformers
    from tqdm import tqdm

    from mdkit.utils.frozen_module import hf_progress_bar_disabled

    clips = load_clips(paths, args, progress)
    config = transformers.VideoMAEConfig(
        image_size=args.size, patch_size=args.patch, num_frames=args.num_frames,
        tubelet_size=args.tubelet, hidden_size=args.hidden, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, intermediate_size=4 * args.hidden,
        decoder_hidden_size=args.decoder_hidden, decoder_num_hidden_layers=args.decoder_layers,
        decoder_num_attention_heads=args.decoder_heads,
        decoder_intermediate_size=4 * args.decoder_hidden,
        norm_pix_loss=not args.no_norm_pix_loss, use_mean_pooling=False)
    with hf_progress_bar_disabled():
        model = transformers.VideoMAEForPreTraining(config).to(device)
    slots = args.num_frames // args.tubelet
    patches = (args.size // args.patch) ** 2
    gen = torch.Generator().manual_seed(args.seed)
    eval_gen = torch.Generator().manual_seed(args.seed + 1)
    eval_clips = (load_clips(eval_paths, args, progress) if eval_paths
                  else clips[:args.eval_clips])
    eval_windows = np.stack([c[:args.num_frames] for c in eval_clips])
    eval_masks = tube_mask(len(eval_windows), slots, patches, args.mask_ratio, eval_gen)

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or 'norm' in name or name.endswith('mask_token')
         else decay).append(p)
    optim = torch.optim.AdamW([dict(params=decay, weight_decay=args.weight_decay),
                               dict(params=no_decay, weight_decay=0.0)],
                              lr=args.lr, betas=(0.9, 0.95))
    rows = []
    first_eval = eval_loss(model, eval_windows, eval_masks, device, args.batch_size)
    rows.append(dict(iter=0, train_loss=float('nan'), eval_loss=first_eval, lr=0.0))
    first_train = None
    window_losses = []
    start = time.time()
    model.train()
    done, interrupted = 0, False
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    bar = tqdm(range(args.iters), desc='pretraining', disable=not progress, unit='it')
    try:
        for it in bar:
            lr = lr_at(it, args)
            for group in optim.param_groups:
                group['lr'] = lr
            x = to_pixel_values(sample_batch(clips, args.batch_size, args.num_frames, rng),
                                device)
            m = tube_mask(args.batch_size, slots, patches, args.mask_ratio, gen).to(device)
            loss = model(pixel_values=x, bool_masked_pos=m).loss
            if not torch.isfinite(loss):
                sys.exit(f'error: the loss became {float(loss)} at iteration {it + 1}; '
                         'lower --lr')
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            done = it + 1
            value = float(loss.detach())
            first_train = value if first_train is None else first_train
            window_losses.append(value)
            if done % args.log_interval == 0 or done == args.iters:
                log_row(rows, model, eval_windows, eval_masks, device, args, done,
                        window_losses, lr, bar, progress)
                window_losses = []
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep what was learnt so far
        interrupted = True
        print(f'interrupted after {done} iterations: saving the encoder', flush=True)
        if done and rows[-1]['iter'] != done:
            log_row(rows, model, eval_windows, eval_masks, device, args, done, window_losses,
                    lr_at(done - 1, args), bar, progress)
    finally:
        bar.close()
        signal.signal(signal.SIGTERM, previous)
    seconds = time.time() - start

    save_encoder(model, args.out, args)
    with open(osp.join(args.out, 'loss.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=['iter', 'train_loss', 'eval_loss', 'lr'])
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f'{v:.6g}' if isinstance(v, float) else v)
                             for k, v in r.items()})
    title = (f'VideoMAE {args.hidden}d x{args.layers}, {len(clips)} clips, '
             f'mask {args.mask_ratio:.2f}')
    plot_losses(rows, osp.join(args.out, 'loss.png'), title)
    info = dict(
        data=dict(video_dir=osp.abspath(args.video_dir), num_clips=len(clips),
                  clip_frames=[int(min(len(c) for c in clips)), int(max(len(c) for c in clips))],
                  video_fps=args.video_fps, eval_clips=len(eval_windows),
                  ids_file=args.ids_file, eval_ids_file=args.eval_ids_file,
                  eval_held_out=bool(args.eval_ids_file)),
        model=dict(size=args.size, num_frames=args.num_frames, tubelet=args.tubelet,
                   patch=args.patch, hidden=args.hidden, layers=args.layers, heads=args.heads,
                   decoder_hidden=args.decoder_hidden, decoder_layers=args.decoder_layers,
                   decoder_heads=args.decoder_heads, norm_pix_loss=not args.no_norm_pix_loss,
                   encoder_params=sum(p.numel() for p in model.videomae.parameters()),
                   total_params=sum(p.numel() for p in model.parameters())),
        training=dict(iterations=done, requested_iterations=args.iters,
                      interrupted=interrupted, batch_size=args.batch_size, lr=args.lr,
                      weight_decay=args.weight_decay, warmup=args.warmup,
                      mask_ratio=args.mask_ratio, seed=args.seed, device=str(device),
                      seconds=round(seconds, 1),
                      seconds_per_iter=round(seconds / max(1, done), 4)),
        first_train_loss=first_train, final_train_loss=rows[-1]['train_loss'],
        initial_eval_loss=first_eval, final_eval_loss=rows[-1]['eval_loss'],
        versions=dict(torch=torch.__version__, transformers=transformers.__version__),
        load_with=f"dict(type='VideoMAEVideoEncoder', pretrained={args.out!r})")
    with open(osp.join(args.out, 'pretrain_info.json'), 'w') as f:
        json.dump(info, f, indent=2)
    print(f'pretrained {done} iterations in {seconds:.0f} s: held-out loss '
          f'{first_eval:.4f} -> {rows[-1]["eval_loss"]:.4f}; encoder saved to {args.out}')
    return info


if __name__ == '__main__':
    main()

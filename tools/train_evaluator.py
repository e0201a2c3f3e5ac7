"""Train mdkit's text-motion evaluator and export it for the T2M metrics.

Usage:
    python tools/train_evaluator.py CONFIG [--work-dir DIR] [--resume [auto|PATH]]
        [--cfg-options key=value ...] [--out PATH]
    python tools/train_evaluator.py CONFIG --export-only work_dirs/x/iter_2000.pth

Trains ``ContrastiveEvaluatorModel`` with mmengine's Runner, evaluates text <-> motion
retrieval on the test split, and writes ``work_dir/evaluator.pth`` (architecture,
weights without the frozen text encoder, Mean/Std, the training data fingerprint and
the test retrieval figures) plus ``work_dir/evaluator.json`` (the same metadata).
"""
import argparse
import datetime
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from mmengine.config import DictAction  # noqa: E402
from train import build_config  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Train and export an mdkit text-motion evaluator')
    p.add_argument('config', help='evaluator config (configs/evaluators/...)')
    p.add_argument('--work-dir', help='folder for logs, checkpoints and evaluator.pth')
    p.add_argument('--resume', nargs='?', type=str, const='auto',
                   help='resume from PATH, or from the latest checkpoint in the work dir')
    p.add_argument('--export-only', metavar='CKPT',
                   help='skip training: test and export this training checkpoint')
    p.add_argument('--out', help='exported file (default: WORK_DIR/evaluator.pth)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config entries, e.g. train_cfg.max_iters=100')
    args = p.parse_args(argv)
    args.amp, args.launcher = False, 'none'
    return args


def main(argv=None):
    args = parse_args(argv)
    from mdkit.utils import register_all_modules
    register_all_modules()
    cfg = build_config(args)
    if cfg.model.get('type') != 'ContrastiveEvaluatorModel':
        sys.exit(f'error: {args.config} trains {cfg.model.get("type")!r}, not an evaluator '
                 '(model.type must be ContrastiveEvaluatorModel)')
    if args.export_only:
        if not osp.isfile(args.export_only):
            sys.exit(f'error: checkpoint not found: {args.export_only}')
        cfg.load_from, cfg.resume = args.export_only, False
    from mmengine.runner import Runner

    from mdkit.evaluation.evaluators import dataset_fingerprint
    runner = Runner.from_cfg(cfg)
    if not args.export_only:
        runner.train()
    metrics = runner.test()
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    meta = dict(
        config=osp.abspath(args.config),
        created=datetime.datetime.now().isoformat(timespec='seconds'),
        iterations=int(runner.iter),
        source_checkpoint=args.export_only,
        dataset=dataset_fingerprint(runner.train_dataloader.dataset),
        test_dataset=dataset_fingerprint(runner.test_dataloader.dataset),
        test_retrieval={k: float(v) for k, v in (metrics or {}).items()})
    out = args.out or osp.join(cfg.work_dir, 'evaluator.pth')
    model.export(out, meta)
    with open(osp.splitext(out)[0] + '.json', 'w') as f:
        json.dump(meta, f, indent=1)
    runner.logger.info(f'evaluator written to {out}')
    print(json.dumps(meta['test_retrieval'], indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Text-conditioned motion diffusion: the thin composer used by the text-only baselines."""
from __future__ import annotations

import copy

import torch
from mmengine.logging import MessageHub
from mmengine.model import BaseModel, ExponentialMovingAverage
from mmengine.optim import OptimWrapperDict
from torch import nn

from mdkit.models.guidance import NoGuidance
from mdkit.registry import DIFFUSION_SCHEDULERS, GUIDANCE, MODELS
from mdkit.structures import MotionDataSample
from mdkit.utils.registry_utils import build_from_cfg_checked

__all__ = ['TextMotionDiffusion', 'WEAK_MODEL_KEYS']

#: Keys of the ``weak_model`` config slot.
WEAK_MODEL_KEYS = ('denoiser', 'stop_fraction', 'ema_momentum', 'checkpoint')


def _build(cfg, registry, **kwargs):
    if cfg is None or not isinstance(cfg, dict):
        return cfg
    return build_from_cfg_checked(cfg, registry, **kwargs)


_NO_GUIDANCE = NoGuidance()


@MODELS.register_module()
class TextMotionDiffusion(BaseModel):
    """Diffusion over HumanML3D-style features conditioned on text.

    Every slot is a config dict or a built object: ``text_encoder``
    (``MODELS``, frozen), ``fusion`` (``MODELS``, handed to the denoiser, its
    ``text_dim`` defaulting to the text encoder's width), ``denoiser`` (``MODELS``),
    ``train_scheduler`` (``DIFFUSION_SCHEDULERS``, noise schedule and
    prediction type), ``sampler`` (``DIFFUSION_SCHEDULERS``, e.g. DDIM),
    ``losses`` (name -> ``MODELS`` loss config), ``guidance`` (``GUIDANCE``,
    optional) and ``data_preprocessor`` (``MotionDataPreprocessor``, owns the
    codec and its statistics).

    Args:
        text_encoder (dict | nn.Module): Text encoder.
        denoiser (dict | nn.Module): Denoiser; built with ``input_dim`` = codec width.
        train_scheduler (dict | object): Training noise schedule.
        sampler (dict | object): Sampler used by ``predict``; built with the
            training schedule as its ``scheduler`` unless it names one.
        losses (dict[str, dict]): Named losses. Diffusion losses take
            ``(pred, target, mask)`` (and ``weight=`` per sample when their
            ``sample_weights(scheduler, t)`` gives any); losses with ``uses_codec = True`` take
            ``(pred_x0, gt_x0, mask, codec)``.
        data_preprocessor (dict): ``MotionDataPreprocessor`` config.
        cond_drop_prob (float): Probability of dropping the text in training
            (for classifier-free guidance). Defaults to 0.1.
        guidance (dict | None): Guidance config. Defaults to None (conditional
            prediction only).
        num_inference_steps (int): Sampling steps. Defaults to 50.
        max_length (int): Longest motion (frames) ``predict`` accepts; a config
            value, not a code limit. Defaults to 196.
        fusion (dict | nn.Module | None): Fusion block for the denoiser.
            Defaults to None (the denoiser's own default).
        weak_model (dict | None): The weak conditional model auto-guidance
            uses as reference (see docs/guidance.md), with keys:
            ``denoiser`` (None: the main denoiser's config; a dict of keys
            overriding it, e.g. ``dict(num_layers=2)``; or a full config with
            ``type``), ``stop_fraction`` (trained in the same run on the same
            batches until this fraction of the iterations, None = the whole
            run; needs ``MotionOptimWrapperConstructor``, which gives it its
            own optimizer), ``ema_momentum`` (its own EMA, None = none) and
            ``checkpoint`` (instead of training, load the main denoiser of an
            earlier checkpoint as the weak one). Defaults to None (no weak model).
        init_cfg (dict | None): mmengine init config.
    """

    def __init__(self, text_encoder, denoiser, train_scheduler, sampler, losses: dict,
                 data_preprocessor: dict, cond_drop_prob: float = 0.1, guidance=None,
                 num_inference_steps: int = 50, max_length: int = 196, fusion=None,
                 weak_model: dict | None = None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        codec = self.data_preprocessor.codec
        self.text_encoder = _build(text_encoder, MODELS)
        denoiser_defaults = dict(input_dim=codec.dim)
        if fusion is not None:
            if isinstance(fusion, dict):
                fusion = dict(fusion)
                fusion.setdefault('text_dim', self.text_encoder.out_dim)
            denoiser_defaults['fusion'] = fusion
        self.denoiser = _build(denoiser, MODELS, default_args=denoiser_defaults)
        self._build_weak_model(weak_model, denoiser, denoiser_defaults)
        self.train_scheduler = _build(train_scheduler, DIFFUSION_SCHEDULERS)
        self.sampler = _build(sampler, DIFFUSION_SCHEDULERS,
                              default_args=dict(scheduler=self.train_scheduler))
        self.guidance = _build(guidance, GUIDANCE)
        if not losses:
            raise ValueError('TextMotionDiffusion needs at least one loss in `losses`')
        self.losses = nn.ModuleDict({k: _build(v, MODELS) for k, v in losses.items()})
        if not 0.0 <= cond_drop_prob < 1.0:
            raise ValueError(f'cond_drop_prob must be in [0, 1), got {cond_drop_prob}')
        self.cond_drop_prob = cond_drop_prob
        self.num_inference_steps = int(num_inference_steps)
        self.max_length = int(max_length)
        pt_model = getattr(self.denoiser, 'prediction_type', None)
        pt_sched = getattr(self.train_scheduler, 'prediction_type', None)
        if pt_model is not None and pt_sched is not None and pt_model != pt_sched:
            raise ValueError(f'denoiser.prediction_type={pt_model!r} but '
                             f'train_scheduler.prediction_type={pt_sched!r}; set both the same')

    # -- weak model (auto-guidance reference) --------------------------------------------
    def _build_weak_model(self, weak_model, denoiser_cfg, denoiser_defaults) -> None:
        self.weak_denoiser = None
        self.weak_ema = None
        self.weak_stop_fraction = None
        self.weak_checkpoint = None
        if weak_model is None:
            return
        if not isinstance(weak_model, dict):
            raise TypeError(f'weak_model must be a dict, got {type(weak_model).__name__}')
        unknown = sorted(set(weak_model) - set(WEAK_MODEL_KEYS))
        if unknown:
            raise ValueError(f'unknown weak_model key(s) {unknown}; valid keys: '
                             f'{", ".join(WEAK_MODEL_KEYS)}')
        cfg = weak_model.get('denoiser')
        if cfg is None or (isinstance(cfg, dict) and 'type' not in cfg):
            if not isinstance(denoiser_cfg, dict):
                raise ValueError('weak_model.denoiser must be a full config (with `type`) when '
                                 'the main denoiser is given as a built module')
            cfg = {**copy.deepcopy(dict(denoiser_cfg)), **(cfg or {})}
        self.weak_denoiser = _build(cfg, MODELS, default_args=dict(denoiser_defaults))
        self.weak_checkpoint = weak_model.get('checkpoint')
        if self.weak_checkpoint is not None:
            self._load_weak_checkpoint(self.weak_checkpoint)
            self.weak_denoiser.requires_grad_(False)
            return
        stop = weak_model.get('stop_fraction')
        if stop is not None and not 0.0 < float(stop) <= 1.0:
            raise ValueError(f'weak_model.stop_fraction must be in (0, 1], got {stop}')
        self.weak_stop_fraction = None if stop is None else float(stop)
        momentum = weak_model.get('ema_momentum')
        if momentum is not None:
            if not 0.0 < float(momentum) < 1.0:
                raise ValueError(f'weak_model.ema_momentum must be in (0, 1), got {momentum}')
            self.weak_ema = ExponentialMovingAverage(self.weak_denoiser, momentum=float(momentum))

    def _load_weak_checkpoint(self, path: str) -> None:
        """Load the ``denoiser.*`` weights of a main-model checkpoint into the weak denoiser."""
        import os.path as osp
        if not osp.isfile(path):
            raise FileNotFoundError(f'weak_model.checkpoint not found: {path} (give an earlier '
                                    'checkpoint of the main model, e.g. work_dirs/x/iter_1000.pth)')
        from mdkit.engine import apply_compat_shims
        from mdkit.utils import state_dict_mismatch
        apply_compat_shims()
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
        state = ckpt.get('state_dict', ckpt)
        weak = {k[len('denoiser.'):]: v for k, v in state.items() if k.startswith('denoiser.')}
        missing, unexpected, mismatched = state_dict_mismatch(
            self.weak_denoiser.state_dict(), weak)
        if missing or unexpected or mismatched:
            examples = (missing + unexpected + [m[0] for m in mismatched])[:3]
            raise RuntimeError(
                f'weak_model.checkpoint {path} does not fit the weak denoiser: '
                f'{len(missing)} missing, {len(unexpected)} unexpected, {len(mismatched)} '
                f'wrong-shape keys (e.g. {examples}); a checkpoint-loaded weak model must have '
                'the main denoiser architecture')
        self.weak_denoiser.load_state_dict(weak)

    @property
    def weak_trainable(self) -> bool:
        """bool: Whether the weak model is trained in this run (not loaded)."""
        return self.weak_denoiser is not None and self.weak_checkpoint is None

    def weak_training_active(self) -> bool:
        """Whether the weak model is updated at the current training iteration.

        Reads ``iter`` / ``max_iters`` from mmengine's message hub (set by the
        Runner); outside a Runner it is active whenever the model trains.
        """
        if not (self.weak_trainable and self.training):
            return False
        if self.weak_stop_fraction is None:
            return True
        hub = MessageHub.get_current_instance()
        it, max_iters = hub.get_info('iter'), hub.get_info('max_iters')
        if it is None or not max_iters:
            return True
        return it < self.weak_stop_fraction * max_iters

    @property
    def weak_guide(self):
        """nn.Module | None: The frozen weak network guidance uses (its EMA when kept)."""
        if self.weak_denoiser is None:
            return None
        return self.weak_ema.module if self.weak_ema is not None else self.weak_denoiser

    def train_step(self, data, optim_wrapper, run_forward=None) -> dict:
        """One training step; with a weak model, two optimizers updated after one backward.

        Main and weak losses touch disjoint parameters, so a single backward of
        their sum gives each its own gradients; the ``'main'`` and ``'weak'``
        wrappers of an ``OptimWrapperDict`` (built by
        ``MotionOptimWrapperConstructor``) then clip and step separately.

        Args:
            data (dict): A batch from the dataloader.
            optim_wrapper (OptimWrapper | OptimWrapperDict): Optimizer wrapper(s).
            run_forward (Callable | None): Forward used for the loss (a DDP
                wrapper passes its own so gradients are synchronised).
                Defaults to ``self._run_forward``.
        """
        if not isinstance(optim_wrapper, OptimWrapperDict):
            if self.weak_trainable:
                raise RuntimeError(
                    'this model trains a weak model (weak_model in its config) and needs two '
                    "optimizers: set optim_wrapper.constructor='MotionOptimWrapperConstructor'")
            return super().train_step(data, optim_wrapper)
        missing = {'main', 'weak'} - set(optim_wrapper.keys())
        if missing:
            raise KeyError(f'OptimWrapperDict lacks {sorted(missing)}; build it with '
                           'MotionOptimWrapperConstructor')
        main_ow, weak_ow = optim_wrapper['main'], optim_wrapper['weak']
        run_forward = run_forward or self._run_forward
        with main_ow.optim_context(self):
            data = self.data_preprocessor(data, True)
            losses = run_forward(data, mode='loss')
        weak_losses = {k: losses.pop(k) for k in list(losses) if k.startswith('weak_')}
        main_loss, log_vars = self.parse_losses(losses)
        total = main_ow.scale_loss(main_loss)
        if weak_losses:
            weak_loss, weak_vars = self.parse_losses(
                {k[len('weak_'):]: v for k, v in weak_losses.items()})
            total = total + weak_ow.scale_loss(weak_loss)
            log_vars.update({f'weak_{k}': v for k, v in weak_vars.items()})
        main_ow.backward(total)
        for ow, used in ((main_ow, True), (weak_ow, bool(weak_losses))):
            if used and ow.should_update():
                ow.step()
                ow.zero_grad()
        if weak_losses and self.weak_ema is not None:
            self.weak_ema.update_parameters(self.weak_denoiser)
        if not weak_losses:
            self._forget_weak_log_scalars()
        return log_vars

    @staticmethod
    def _forget_weak_log_scalars() -> None:
        """Drop the weak model's logged losses once it stops training.

        mmengine's log processor would otherwise keep printing (and writing to
        ``scalars.json``) the last values of the ``weak_*`` losses for the rest
        of the run, as if they were still measured.
        """
        from mmengine.logging import MessageHub
        hub = MessageHub.get_current_instance()
        for key in [k for k in hub.log_scalars if k.startswith('train/weak_')]:
            hub.log_scalars.pop(key)

    @property
    def codec(self):
        """BaseMotionCodec: The codec of the data preprocessor."""
        return self.data_preprocessor.codec

    # -- conditions ------------------------------------------------------------------
    def encode_text(self, texts: list, drop: torch.Tensor | None = None) -> dict:
        """Encode captions into the denoiser's condition dict.

        Args:
            texts (list[str]): B captions.
            drop (Tensor | None): (B,) bool, True where the text is dropped.

        Returns:
            dict: ``text_tokens (B, L, C)``, ``text_mask (B, L)``,
            ``text_pooled (B, C)``, ``text_present (B,)``.
        """
        out = self.text_encoder(list(texts))
        present = torch.ones(len(texts), dtype=torch.bool, device=out['tokens'].device)
        if drop is not None:
            present = present & ~drop.to(present.device)
        return dict(text_tokens=out['tokens'], text_mask=out['mask'], text_pooled=out['pooled'],
                    text_present=present)

    def predict_conditions(self, data_samples, mask: torch.Tensor) -> dict:
        """The condition dict for generation (the texts here; subclasses add modalities)."""
        return self.encode_text(self._texts(data_samples))

    @staticmethod
    def _texts(data_samples) -> list:
        texts = []
        for i, s in enumerate(data_samples):
            if 'text' not in s:
                raise ValueError(f'data sample {i} has no text')
            texts.append(s.text)
        return texts

    # -- mmengine interface ------------------------------------------------------------
    def forward(self, inputs: dict, data_samples=None, mode: str = 'tensor'):
        """Dispatch to ``loss`` / ``predict`` / ``_forward`` by ``mode``."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise ValueError(f'Invalid mode {mode!r}: use "loss", "predict" or "tensor"')

    def _noised(self, inputs):
        x0, mask = inputs['motion'], inputs['mask']
        b = x0.shape[0]
        t = self.train_scheduler.sample_timesteps(b, device=x0.device)
        noise = torch.randn_like(x0) * mask[..., None]
        x_t = self.train_scheduler.add_noise(x0, noise, t) * mask[..., None]
        return x0, mask, t, noise, x_t

    def _forward(self, inputs: dict, data_samples):
        """Denoiser output for a noised batch (``mode='tensor'``): (B, T, D)."""
        _, mask, t, _, x_t = self._noised(inputs)
        cond = self.encode_text(self._texts(data_samples))
        return self.denoiser(x_t, t, mask, cond)

    def loss(self, inputs: dict, data_samples) -> dict:
        """Named training losses for a batch.

        Args:
            inputs (dict): ``motion (B, T, D)`` normalised, ``mask (B, T)``.
            data_samples (list[MotionDataSample]): With ``text``.

        Returns:
            dict[str, Tensor]: One entry per configured loss (``loss_<name>``),
            and ``weak_loss_<name>`` for the weak model while it trains.
        """
        if inputs.get('motion') is None:
            raise ValueError('loss() needs ground-truth motion in inputs["motion"]')
        x0, mask, t, noise, x_t = self._noised(inputs)
        drop = torch.rand(x0.shape[0], device=x0.device) < self.cond_drop_prob
        cond = self.encode_text(self._texts(data_samples), drop)
        target = self.train_scheduler.get_target(x0, noise, t)
        out = self._losses(self.denoiser(x_t, t, mask, cond), target, x0, x_t, t, mask)
        out.update(self._weak_losses(x_t, t, mask, cond, target, x0))
        return out

    def _weak_losses(self, x_t, t, mask, cond, target, x0) -> dict:
        """``weak_loss_*`` of the weak model on the same noised batch, while it trains."""
        if not self.weak_training_active():
            return {}
        weak = self._losses(self.weak_denoiser(x_t, t, mask, cond), target, x0, x_t, t, mask)
        return {f'weak_{k}': v for k, v in weak.items()}

    def _losses(self, pred, target, x0, x_t, t, mask) -> dict:
        """The configured losses of one prediction."""
        pred_x0 = None
        out = {}
        for name, loss_fn in self.losses.items():
            if getattr(loss_fn, 'uses_codec', False):
                if pred_x0 is None:
                    pred_x0 = self.train_scheduler.pred_to_x0_eps(pred, x_t, t)[0]
                out[f'loss_{name}'] = loss_fn(pred_x0, x0, mask, self.codec)
            else:
                weights = getattr(loss_fn, 'sample_weights', None)
                if weights is None:
                    out[f'loss_{name}'] = loss_fn(pred, target, mask)
                else:
                    out[f'loss_{name}'] = loss_fn(pred, target, mask,
                                                  weight=weights(self.train_scheduler, t))
        return out

    @torch.no_grad()
    def sample(self, cond: dict, mask: torch.Tensor, num_steps: int | None = None,
               generator: torch.Generator | None = None, progress: bool = False) -> torch.Tensor:
        """Sample normalised features for given conditions.

        Args:
            cond (dict): Condition dict (see :meth:`encode_text`).
            mask (Tensor): (B, T) bool valid frames.
            num_steps (int | None): Sampler steps. Defaults to ``num_inference_steps``.
            generator (torch.Generator | None): Random generator.
            progress (bool): Progress bar over steps.

        Returns:
            Tensor: (B, T, D) normalised features, zero at padded frames.
        """
        steps = int(num_steps or self.num_inference_steps)
        b, t_max = mask.shape

        guidance = self.guidance if self.guidance is not None else _NO_GUIDANCE
        weak = self.weak_guide
        if weak is not None:
            weak.eval()
        fn = guidance.wrap(self.denoiser, cond, mask, weak_denoiser=weak)
        return self.sampler.sample(fn, (b, t_max, self.codec.dim), mask=mask, num_steps=steps,
                                   generator=generator, device=mask.device,
                                   dtype=torch.float32, progress=progress)

    @torch.no_grad()
    def reconstruct(self, inputs: dict, data_samples, timestep: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """x0 estimate of one denoiser call on ground truth noised to ``timestep``.

        A probe of what the network does at one noise level: how much of a real
        motion it gives back (``timestep=0`` is clean input), and with what
        frame-to-frame detail. The conditions are those of :meth:`predict`;
        no guidance is applied.

        Args:
            inputs (dict): ``motion (B, T, D)`` normalised, ``mask (B, T)``.
            data_samples (list[MotionDataSample]): With the conditions (``text``, ...).
            timestep (int): Training timestep in ``[0, num_train_timesteps)``.
            generator (torch.Generator | None): Random generator of the noise.

        Returns:
            Tensor: (B, T, D) normalised x0 estimate, zero at padded frames.
        """
        if inputs.get('motion') is None:
            raise ValueError('reconstruct() needs ground-truth motion in inputs["motion"]')
        x0, mask = inputs['motion'], inputs['mask']
        n = self.train_scheduler.num_train_timesteps
        if isinstance(timestep, bool) or not isinstance(timestep, int) or not 0 <= timestep < n:
            raise ValueError(f'timestep must be an int in [0, {n - 1}], got {timestep!r}')
        t = torch.full((x0.shape[0],), timestep, dtype=torch.long, device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        x_t = self.train_scheduler.add_noise(x0, noise * mask[..., None], t) * mask[..., None]
        cond = self.predict_conditions(data_samples, mask)
        pred = self.denoiser(x_t, t, mask, cond)
        return self.train_scheduler.pred_to_x0_eps(pred, x_t, t)[0] * mask[..., None]

    def check_lengths(self, lengths) -> None:
        """Raise a clear error for lengths outside [1, max_length]."""
        for i, n in enumerate(lengths):
            n = int(n)
            if n < 1 or n > self.max_length:
                raise ValueError(
                    f'requested length {n} frames (sample {i}) is outside [1, {self.max_length}]'
                    f' (max_length is a config value of {type(self).__name__}; raise it there '
                    'if the denoiser was trained for longer motions)')

    @torch.no_grad()
    def predict(self, inputs: dict, data_samples, num_steps: int | None = None,
                generator: torch.Generator | None = None, progress: bool = False) -> list:
        """Generate motions for the texts and lengths of ``data_samples``.

        Returns:
            list[MotionDataSample]: Each with ``pred_motion`` (T_i, D) raw
            features and ``pred_joints`` (T_i, J, 3).
        """
        mask = inputs['mask']
        lengths = mask.sum(1)
        self.check_lengths(lengths.tolist())
        cond = self.predict_conditions(data_samples, mask)
        x0 = self.sample(cond, mask, num_steps, generator, progress)
        feats = self.data_preprocessor.denormalize_motion(x0)
        joints = self.codec.decode(feats.double()).float()
        out = []
        for i, s in enumerate(data_samples):
            n = int(lengths[i])
            res = s if isinstance(s, MotionDataSample) else MotionDataSample()
            res.pred_motion = feats[i, :n].cpu()
            res.pred_joints = joints[i, :n].cpu()
            out.append(res)
        return out

"""MotionDuet: text + video-feature conditioned motion diffusion with video-regularised training."""
from __future__ import annotations

import inspect

import torch

from mdkit.registry import MODELS

from .text_motion_diffusion import TextMotionDiffusion, _build

__all__ = ['MotionDuet', 'MODALITY_MODES']

#: Modality-dropout modes: which conditions a training sample keeps.
MODALITY_MODES = {'text_video': (True, True), 'text': (True, False),
                  'video': (False, True), 'none': (False, False)}


def _fusion_accepts(fusion_cfg, key: str) -> bool:
    """Whether the registered fusion class of ``fusion_cfg`` takes ``key``."""
    if not isinstance(fusion_cfg, dict) or 'type' not in fusion_cfg:
        return False
    cls = fusion_cfg['type'] if inspect.isclass(fusion_cfg['type']) else MODELS.get(
        fusion_cfg['type'])
    return cls is not None and key in inspect.signature(cls.__init__).parameters


@MODELS.register_module()
class MotionDuet(TextMotionDiffusion):
    """MotionDuet: text and video conditions, DUET fusion, DASH alignment, auto-guidance.

    Everything of :class:`TextMotionDiffusion` (text encoder, denoiser, losses,
    weak model, guidance) plus:

    - ``video_encoder`` (``MODELS``): gives per-slot video features aligned to
      motion time. A sample's video comes from its ``video_feat`` (F, Cv) when
      set, else from the encoder by ``metainfo['sample_id']`` (e.g.
      ``PrecomputedVideoEncoder``); the slots of the crop the sample holds
      (``metainfo['crop_start']``) are kept and re-timed to it. A sample with
      no video has ``video_present=False``.
    - Modality dropout in training: each sample keeps both conditions, text
      only, video only or none with the probabilities of ``modality_dropout``,
      so text-only inference and guidance on either modality work.
    - ``align_loss`` (e.g. ``DASHLoss``): aligns the denoiser's hidden state
      after layer ``align_layer`` (``align_source='hidden'``) or the predicted
      clean motion (``'x0'``) with the clip's video features, for every sample
      that has a video, **whether or not** its video condition was dropped, so
      the regularisation reaches text-only generation.
    - ``predict_modalities``: the conditions used by ``predict`` (the test
      loop); ``('text',)`` evaluates text-only generation.

    Args:
        video_encoder (dict | nn.Module): Video feature source.
        align_loss (dict | nn.Module | None): Alignment loss built with
            ``in_dim`` (denoiser width or feature width) and ``out_dim`` (video
            width). Defaults to None (no alignment).
        align_layer (int): Index of the denoiser layer whose output is aligned
            (negative counts from the end). Defaults to 1.
        align_source (str): ``'hidden'`` or ``'x0'``. Defaults to 'hidden'.
        modality_dropout (dict[str, float] | None): Probabilities of
            ``text_video``, ``text``, ``video``, ``none`` (summing to 1).
            Defaults to None: 0.7 / 0.1 / 0.1 / 0.1.
        predict_modalities (tuple[str, ...]): ``('text', 'video')`` or
            ``('text',)``. Defaults to ('text', 'video').
        **kwargs: :class:`TextMotionDiffusion` arguments; ``cond_drop_prob`` is
            replaced by ``modality_dropout``.
    """

    def __init__(self, video_encoder, align_loss=None, align_layer: int = 1,
                 align_source: str = 'hidden', modality_dropout: dict | None = None,
                 predict_modalities: tuple = ('text', 'video'), **kwargs):
        encoder = _build(video_encoder, MODELS)
        video_dim = int(encoder.out_dim)
        fusion = kwargs.get('fusion')
        if isinstance(fusion, dict) and _fusion_accepts(fusion, 'video_dim'):
            kwargs['fusion'] = {**fusion, 'video_dim': fusion.get('video_dim', video_dim)}
        if 'cond_drop_prob' in kwargs:
            raise ValueError('MotionDuet uses modality_dropout=dict(text_video=..., text=..., '
                             'video=..., none=...) instead of cond_drop_prob')
        super().__init__(cond_drop_prob=0.0, **kwargs)
        self.video_encoder = encoder
        probs = dict(text_video=0.7, text=0.1, video=0.1, none=0.1)
        if modality_dropout is not None:
            unknown = sorted(set(modality_dropout) - set(MODALITY_MODES))
            if unknown:
                raise ValueError(f'unknown modality_dropout mode(s) {unknown}; valid: '
                                 f'{", ".join(MODALITY_MODES)}')
            probs = {m: float(modality_dropout.get(m, 0.0)) for m in MODALITY_MODES}
        if any(p < 0 for p in probs.values()) or abs(sum(probs.values()) - 1.0) > 1e-6:
            raise ValueError(f'modality_dropout probabilities must be >= 0 and sum to 1, got '
                             f'{probs}')
        self.modality_dropout = probs
        if align_source not in ('hidden', 'x0'):
            raise ValueError(f"align_source must be 'hidden' or 'x0', got {align_source!r}")
        self.align_source = align_source
        num_layers = int(getattr(self.denoiser, 'num_layers', 0))
        if align_source == 'hidden' and not -num_layers <= align_layer < num_layers:
            raise ValueError(f'align_layer={align_layer} is outside the denoiser\'s '
                             f'{num_layers} layers')
        self.align_layer = int(align_layer)
        in_dim = self.denoiser.width if align_source == 'hidden' else self.codec.dim
        self.align_loss = _build(align_loss, MODELS,
                                 default_args=dict(in_dim=in_dim, out_dim=video_dim))
        bad = sorted(set(predict_modalities) - {'text', 'video'})
        if bad or 'text' not in predict_modalities:
            raise ValueError(f"predict_modalities must be ('text',) or ('text', 'video'), got "
                             f'{predict_modalities!r}')
        self.predict_modalities = tuple(predict_modalities)

    # -- video ---------------------------------------------------------------------------
    def encode_video(self, data_samples, mask: torch.Tensor) -> dict:
        """Video features of a batch, cropped and timed like the motion it holds.

        Args:
            data_samples (list[MotionDataSample]): With ``video_feat`` or a
                ``sample_id`` the video encoder knows.
            mask (Tensor): (B, T) valid motion frames.

        Returns:
            dict: ``video_tokens`` (B, F, Cv), ``video_mask`` (B, F),
            ``video_times`` (B, F) motion frames, ``video_present`` (B,).
        """
        device, b = mask.device, mask.shape[0]
        dim = int(self.video_encoder.out_dim)
        known = getattr(self.video_encoder, 'meta', {}).get('samples', {})
        lookup = [i for i, s in enumerate(data_samples) if 'video_feat' not in s
                  and str(s.metainfo.get('sample_id')) in known]
        # one encoder call for every sample whose video is looked up by id
        cached = (self.video_encoder([str(data_samples[i].metainfo['sample_id'])
                                      for i in lookup]) if lookup else None)
        row = {i: r for r, i in enumerate(lookup)}
        feats, times = [], []
        for i, s in enumerate(data_samples):
            n = int(mask[i].sum())
            if 'video_feat' in s:  # user-given, already aligned to the sample's frames
                f = s.video_feat.to(device, torch.float32)
                if f.shape[-1] != dim:
                    raise ValueError(f'sample {i}: video_feat has width {f.shape[-1]}, the video '
                                     f'encoder gives {dim}')
                tau = (torch.arange(len(f), device=device) + 0.5) * n / max(len(f), 1) - 0.5
            elif i in row:
                r = row[i]
                start = int(s.metainfo.get('crop_start', 0) or 0)
                tau = cached['time_positions'][r].to(device, torch.float32) - start
                f = cached['features'][r].to(device, torch.float32)
                keep = cached['mask'][r].to(device) & (tau > -1.0) & (tau < n)
                f, tau = f[keep], tau[keep]
            else:  # no video for this sample
                f = tau = torch.zeros(0, device=device)
            feats.append(f if len(f) else None)
            times.append(tau if len(f) else None)
        length = max([len(f) for f in feats if f is not None] or [1])
        tokens = torch.zeros(b, length, dim, device=device)
        vmask = torch.zeros(b, length, dtype=torch.bool, device=device)
        vtimes = torch.zeros(b, length, device=device)
        for i, (f, tau) in enumerate(zip(feats, times)):
            if f is not None:
                tokens[i, :len(f)], vmask[i, :len(f)], vtimes[i, :len(f)] = f, True, tau
        return dict(video_tokens=tokens, video_mask=vmask, video_times=vtimes,
                    video_present=vmask.any(1))

    def live_video_encoder(self, weights: str | None = None):
        """The encoder for videos outside the feature cache (e.g. a user's clip at generation).

        The configured encoder when it encodes frames; for a
        ``PrecomputedVideoEncoder`` the encoder that wrote its cache, rebuilt
        and checked against the cache's config hash (``weights`` overrides the
        recorded weights folder). Built once and kept out of the state dict.
        """
        if not hasattr(self.video_encoder, 'live_encoder'):
            return self.video_encoder
        key = weights or ''
        cache = self.__dict__.setdefault('_live_video_encoders', {})
        if key not in cache:
            cache[key] = self.video_encoder.live_encoder(weights)
        return cache[key].to(self.video_encoder.device)

    def video_features(self, videos, motion_lengths, weights: str | None = None) -> list:
        """Features of new videos, each aligned to the motion it conditions.

        Args:
            videos (list): ``(F, H, W, 3)`` frames per video (uint8 or float in
                [0, 1]), at the encoder's ``video_fps``.
            motion_lengths (list[int]): Motion frames each video spans.
            weights (str | None): See :meth:`live_video_encoder`.

        Returns:
            list[Tensor]: (S_i, Cv) per video, to set as a sample's ``video_feat``.
        """
        encoder = self.live_video_encoder(weights)
        out = encoder(list(videos), motion_lengths=[int(n) for n in motion_lengths])
        return [out['features'][i][out['mask'][i]].float().cpu() for i in range(len(videos))]

    def _conditions(self, data_samples, mask, video: dict, keep_text=None, keep_video=None):
        cond = self.encode_text(self._texts(data_samples),
                                None if keep_text is None else ~keep_text)
        cond.update(video)
        if keep_video is not None:
            cond['video_present'] = cond['video_present'] & keep_video
        return cond

    def predict_conditions(self, data_samples, mask: torch.Tensor) -> dict:
        """Text, plus video when ``'video'`` is in ``predict_modalities``."""
        video = self.encode_video(data_samples, mask)
        if 'video' not in self.predict_modalities:
            video['video_present'] = torch.zeros_like(video['video_present'])
        return self._conditions(data_samples, mask, video)

    def _sample_modalities(self, b: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,) keep-text and keep-video flags drawn from ``modality_dropout``."""
        modes = list(MODALITY_MODES)
        probs = torch.tensor([self.modality_dropout[m] for m in modes])
        pick = torch.multinomial(probs, b, replacement=True)
        keep = torch.tensor([MODALITY_MODES[m] for m in modes], dtype=torch.bool)[pick]
        return keep[:, 0].to(device), keep[:, 1].to(device)

    # -- training --------------------------------------------------------------------------
    def loss(self, inputs: dict, data_samples) -> dict:
        """Diffusion/geometric losses, the alignment loss and the weak model's losses.

        Returns:
            dict[str, Tensor]: ``loss_<name>`` per configured loss,
            ``loss_align`` (with ``align_loss``) plus ``align_<term>`` values
            for logging, and ``weak_loss_*`` while a weak model trains.
        """
        if inputs.get('motion') is None:
            raise ValueError('loss() needs ground-truth motion in inputs["motion"]')
        x0, mask, t, noise, x_t = self._noised(inputs)
        video = self.encode_video(data_samples, mask)
        keep_text, keep_video = self._sample_modalities(x0.shape[0], x0.device)
        cond = self._conditions(data_samples, mask, video, keep_text, keep_video)
        want_hidden = self.align_loss is not None and self.align_source == 'hidden'
        out = self.denoiser(x_t, t, mask, cond, return_hidden=want_hidden)
        pred, hidden = out if want_hidden else (out, None)
        target = self.train_scheduler.get_target(x0, noise, t)
        losses = self._losses(pred, target, x0, x_t, t, mask)
        if self.align_loss is not None:
            if want_hidden:
                feat = hidden[self.align_layer]
            else:
                feat = self.train_scheduler.pred_to_x0_eps(pred, x_t, t)[0]
            losses['loss_align'] = self.align_loss(feat, video['video_tokens'], mask,
                                                   video['video_present'], video['video_mask'])
            for name, value in (getattr(self.align_loss, 'last_terms', None) or {}).items():
                losses[f'align_{name}'] = value
        losses.update(self._weak_losses(x_t, t, mask, cond, target, x0))
        return losses

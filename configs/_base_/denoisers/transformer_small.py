# Small transformer denoiser (1.6M params): trains in minutes and samples in < 1 s on 2 CPU cores.
# No dropout on the self-attention weights: on CPU it triples the cost of attention
# (benchmarks/bench_train.py); residual and FFN dropout stay at 0.1.
# proj_kernel_size=5: the input and output projections read 5 frames (0.25 s at 20 fps). With
# per-frame projections (1) the denoiser passes the frame-to-frame noise of its input into its
# x0 estimates and the CMU baseline generates jitter 2x that of real motion; see
# docs/text_to_motion.md, "Temporal projections".
denoiser = dict(
    type='MotionTransformerDenoiser', width=128, num_layers=4, num_heads=4, ff_dim=512,
    dropout=0.1, attn_dropout=0.0, timestep_conditioning='adaln', prediction_type='sample',
    proj_kernel_size=5)

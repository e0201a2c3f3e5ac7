# Small transformer denoiser (1.6M params): trains in minutes and samples in < 1 s on 2 CPU cores.
# No dropout on the self-attention weights: on CPU it triples the cost of attention
# (benchmarks/bench_train.py); residual and FFN dropout stay at 0.1.
denoiser = dict(
    type='MotionTransformerDenoiser', width=128, num_layers=4, num_heads=4, ff_dim=512,
    dropout=0.1, attn_dropout=0.0, timestep_conditioning='adaln', prediction_type='sample')

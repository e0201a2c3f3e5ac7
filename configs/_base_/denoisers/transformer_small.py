# Small transformer denoiser (1.6M params): trains in minutes and samples in < 1 s on 2 CPU cores.
denoiser = dict(
    type='MotionTransformerDenoiser', width=128, num_layers=4, num_heads=4, ff_dim=512,
    dropout=0.1, timestep_conditioning='adaln', prediction_type='sample')

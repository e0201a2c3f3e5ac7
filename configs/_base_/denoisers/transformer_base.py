# HumanML3D-scale transformer denoiser (8 layers, width 512) for GPU training.
denoiser = dict(
    type='MotionTransformerDenoiser', width=512, num_layers=8, num_heads=8, ff_dim=2048,
    dropout=0.1, timestep_conditioning='adaln', prediction_type='sample')

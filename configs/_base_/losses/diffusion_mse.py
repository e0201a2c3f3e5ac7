# Masked MSE on the denoiser's prediction only.
losses = dict(diffusion=dict(type='MaskedDiffusionLoss', loss_type='mse', loss_weight=1.0))

# Weak model for auto-guidance: main denoiser at half depth, trained on the same batches
# for the first quarter of the run, with its own EMA.
weak_model = dict(denoiser=dict(num_layers=2), stop_fraction=0.25, ema_momentum=0.01)

# Training noise schedule: 1000-step DDPM with linear betas, the network predicts x0.
train_scheduler = dict(type='DDPMScheduler', num_train_timesteps=1000, beta_schedule='linear',
                       prediction_type='sample')

# Masked MSE plus joint position, velocity and foot-contact losses through the codec.
losses = dict(
    diffusion=dict(type='MaskedDiffusionLoss', loss_type='mse', loss_weight=1.0),
    joints=dict(type='JointPositionLoss', loss_weight=1.0),
    velocity=dict(type='JointVelocityLoss', loss_weight=1.0),
    foot=dict(type='FootContactLoss', loss_weight=1.0))

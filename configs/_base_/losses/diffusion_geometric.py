# Masked MSE plus joint position, velocity and foot-contact losses through the codec.
# Velocities and foot displacements are in metres per frame (about 0.01-0.05), so their squared
# errors are ~1e-4; the weights of 100 bring them to the scale of the diffusion term. With weight 1
# they barely act, and the small CMU baseline then generates visibly jerkier motion.
losses = dict(
    diffusion=dict(type='MaskedDiffusionLoss', loss_type='mse', loss_weight=1.0),
    joints=dict(type='JointPositionLoss', loss_weight=1.0),
    velocity=dict(type='JointVelocityLoss', loss_weight=100.0),
    foot=dict(type='FootContactLoss', loss_weight=100.0))

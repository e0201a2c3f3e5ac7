# DUET: joint text-video encoding, per-layer timestep/presence-gated attention
# with temporal alignment.
fusion = dict(type='DUETFusion', encoder_layers=1, temporal_bias=True, dynamic_gates=True)

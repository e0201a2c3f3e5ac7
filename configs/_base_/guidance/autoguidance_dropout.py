# Auto-guidance without a second model: reference = the main network with dropout 0.2 on.
guidance = dict(type='AutoGuidance', reference='dropout', dropout=0.2, scale=2.0)

# Auto-guidance: reference = the weak model's conditional prediction (needs a weak_model).
guidance = dict(type='AutoGuidance', scale=2.0)

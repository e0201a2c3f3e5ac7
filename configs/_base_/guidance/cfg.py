# Classifier-free guidance: reference = same network without text.
guidance = dict(type='ClassifierFreeGuidance', scale=2.5)

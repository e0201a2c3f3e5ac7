# Classifier-free guidance: reference = same network without text and without video.
guidance = dict(type='ClassifierFreeGuidance', scale=2.5, null=('text', 'video'))

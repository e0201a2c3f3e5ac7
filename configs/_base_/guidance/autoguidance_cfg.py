# Auto-guidance and classifier-free guidance together:
# main + (1.5-1)(main-weak) + (1.5-1)(main-no_text).
guidance = dict(type='CombinedGuidance', guidances=[
    dict(type='AutoGuidance', scale=1.5),
    dict(type='ClassifierFreeGuidance', scale=1.5)])

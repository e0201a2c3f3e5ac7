# Auto-guidance plus per-modality CFG: main + .5(main-weak) + .5(main-no_text) + .2(main-no_video).
guidance = dict(type='CombinedGuidance', guidances=[
    dict(type='AutoGuidance', scale=1.5),
    dict(type='ClassifierFreeGuidance', modality_scales=dict(text=1.5, video=1.2))])

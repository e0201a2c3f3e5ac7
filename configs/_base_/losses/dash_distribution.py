# DASH alignment, distribution terms only: moment matching + MMD (in/out dims from the generator).
align_loss = dict(
    type='DASHLoss',
    distribution=dict(moment=1.0, mmd=1.0),
    structure=dict(gram=0.0, cka=0.0),
    cosine=0.0,
    num_slots=16,
    loss_weight=0.5)

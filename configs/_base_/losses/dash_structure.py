# DASH alignment, structure terms only: temporal Gram + CKA (in/out dims from the generator).
align_loss = dict(
    type='DASHLoss',
    distribution=dict(moment=0.0, mmd=0.0),
    structure=dict(gram=1.0, cka=1.0),
    cosine=0.0,
    num_slots=16,
    loss_weight=0.5)

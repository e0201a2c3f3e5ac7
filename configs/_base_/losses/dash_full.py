# DASH alignment: moment + MMD distribution and Gram + CKA structure terms (dims set by generator).
align_loss = dict(
    type='DASHLoss',
    distribution=dict(moment=1.0, mmd=1.0),
    structure=dict(gram=1.0, cka=1.0),
    cosine=0.0,
    num_slots=16,
    loss_weight=0.5)

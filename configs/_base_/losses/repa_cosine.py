# REPA-style baseline: per-slot cosine, projected motion vs video features (dims set by generator).
align_loss = dict(type='CosineAlignmentLoss', num_slots=16, loss_weight=0.5)

# No video alignment loss (video acts only as a condition, if the fusion reads it).
align_loss = None

# Additive text fusion: the pooled text embedding is added to every motion token.
fusion = dict(type='AdditiveFusion')

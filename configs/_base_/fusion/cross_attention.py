# Text fusion by per-layer cross-attention from motion tokens to text tokens.
fusion = dict(type='CrossAttentionFusion')

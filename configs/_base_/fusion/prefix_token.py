# MDM-style text fusion: the pooled text is one prefix token seen by self-attention.
fusion = dict(type='PrefixTokenFusion')

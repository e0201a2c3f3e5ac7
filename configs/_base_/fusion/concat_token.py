# Concat baseline: text token and time-embedded video slots prepended to the motion tokens.
fusion = dict(type='ConcatTokenFusion')

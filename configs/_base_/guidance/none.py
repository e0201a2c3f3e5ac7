# No guidance: the conditional prediction as is.
guidance = dict(type='NoGuidance')

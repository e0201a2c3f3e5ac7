# Ancestral DDPM sampler on the (respaced) training schedule.
sampler = dict(type='DDPMSampler')

# Deterministic DDIM sampler on the training schedule (steps: model.num_inference_steps).
sampler = dict(type='DDIMSampler', eta=0.0)

# Deterministic DPM-Solver++(2M) sampler, good at 10-25 steps (steps: model.num_inference_steps).
sampler = dict(type='DPMSolverMultistepSampler')

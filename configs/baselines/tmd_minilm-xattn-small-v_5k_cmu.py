# The 5k small baseline with v-prediction: the denoiser predicts
# v = sqrt(ab) * eps - sqrt(1 - ab) * x0 instead of x0. Its x0 estimate is then
# sqrt(ab) * x_t - sqrt(1 - ab) * v, so at low noise the noisy input passes straight through and
# the network only supplies a correction. The x0-predicting width-128 denoiser cannot give back
# clean input (normalised MSE 0.29 at t = 0, limbs at half speed; tools/analysis/denoiser_probe.py),
# and its samples carry frame-to-frame noise; see docs/text_to_motion.md.
_base_ = ['./tmd_minilm-xattn-small_5k_cmu.py']
model = dict(
    denoiser=dict(prediction_type='v_prediction'),
    train_scheduler=dict(prediction_type='v_prediction'))

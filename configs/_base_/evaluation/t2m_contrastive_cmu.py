# Test metrics on the CMU dataset: the standard T2M metrics in the space of mdkit's contrastive
# evaluator, plus physical plausibility. Train the evaluator first:
#   python tools/train_evaluator.py configs/evaluators/contrastive_minilm-tf3-128_2k_cmu.py \
#       --work-dir work_dirs/evaluator_cmu
evaluator_checkpoint = 'work_dirs/evaluator_cmu/evaluator.pth'
test_evaluator = [
    dict(type='TextMotionMetric',
         evaluator=dict(type='ContrastiveEvaluator', checkpoint=evaluator_checkpoint)),
    dict(type='MotionPlausibilityMetric'),
]

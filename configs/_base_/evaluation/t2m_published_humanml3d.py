# Test metrics on HumanML3D with the published evaluator of Guo et al. (CVPR 2022), for numbers
# comparable with papers. Users bring the files (they cannot be downloaded by mdkit):
#   data/t2m_evaluator/t2m/text_mot_match/model/finest.tar   evaluator weights
#   data/t2m_evaluator/t2m/Comp_v6_KLD01/meta/{mean,std}.npy  its normalisation statistics
#   data/t2m_evaluator/glove/our_vab_{data.npy,words.pkl,idx.pkl}  word vectors
evaluator_root = 'data/t2m_evaluator'
test_evaluator = [
    dict(type='TextMotionMetric',
         evaluator=dict(type='T2MEvaluator', dataset='humanml3d',
                        checkpoint=evaluator_root + '/t2m/text_mot_match/model/finest.tar',
                        glove_dir=evaluator_root + '/glove')),
    dict(type='MotionPlausibilityMetric'),
]

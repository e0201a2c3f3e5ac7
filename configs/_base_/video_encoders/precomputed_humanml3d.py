# Cached VideoMAE features of rendered HumanML3D clips (tools/extract_video_features.py).
video_encoder = dict(
    type='PrecomputedVideoEncoder',
    feature_dir='data/humanml3d/video_feats/videomae',
    expected_encoder='VideoMAEVideoEncoder',
    expected_hash=None,
    motion_fps=20.0)

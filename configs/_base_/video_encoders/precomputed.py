# Cached VideoMAE features from tools/extract_video_features.py (same outputs, no network).
video_encoder = dict(
    type='PrecomputedVideoEncoder',
    feature_dir='data/cmu_humanml3d/video_feats/videomae_cmu',
    expected_encoder='VideoMAEVideoEncoder',
    expected_hash=None,
    motion_fps=20.0)

# Frozen VideoMAE pretrained on rendered CMU clips (tools/pretrain_video_encoder.py): 192-d slots.
video_encoder = dict(
    type='VideoMAEVideoEncoder',
    pretrained='work_dirs/videomae_cmu',
    resize_mode='center_crop',
    window_stride=None,
    window_batch_size=8,
    video_fps=20.0,
    motion_fps=20.0)

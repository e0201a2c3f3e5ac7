"""Networks and model parts: encoders, fusion, denoisers, schedulers, losses, generators."""
from . import (  # noqa: F401
    data_preprocessors,
    denoisers,
    diffusion_schedulers,
    fusion,
    generators,
    guidance,
    losses,
    text_encoders,
    video_encoders,
)

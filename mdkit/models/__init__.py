"""Networks and model parts: encoders, fusion, denoisers, schedulers, losses, generators."""
from . import data_preprocessors, denoisers, fusion, generators, guidance, text_encoders  # noqa: F401

"""Networks and model parts: encoders, fusion, denoisers, schedulers, losses, generators."""

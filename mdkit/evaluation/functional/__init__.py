"""Pure numpy (float64) metric functions, independent of models and mmengine."""
from .t2m_metrics import (
    activation_statistics,
    diversity,
    euclidean_distance_matrix,
    fid,
    frechet_distance,
    matching_score,
    multimodality,
    protocol_batches,
    r_precision,
)

__all__ = [
    'activation_statistics', 'frechet_distance', 'fid', 'euclidean_distance_matrix',
    'protocol_batches', 'r_precision', 'matching_score', 'diversity', 'multimodality'
]

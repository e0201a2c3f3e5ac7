"""Evaluation: metrics and evaluator networks."""
from .evaluators import BaseMotionEvaluator, file_sha256
from .functional import (
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
from .metrics import MotionPlausibilityMetric, TextMotionMetric, plausibility_stats

__all__ = ['BaseMotionEvaluator', 'MotionPlausibilityMetric', 'file_sha256',
           'plausibility_stats', 'TextMotionMetric', 'activation_statistics',
           'frechet_distance', 'fid', 'euclidean_distance_matrix', 'protocol_batches',
           'r_precision', 'matching_score', 'diversity', 'multimodality']

"""Evaluation: metrics and evaluator networks."""
from .evaluators import BaseMotionEvaluator, file_sha256
from .metrics import MotionPlausibilityMetric, plausibility_stats

__all__ = ['BaseMotionEvaluator', 'MotionPlausibilityMetric', 'file_sha256',
           'plausibility_stats']

"""Evaluation: metrics and evaluator networks."""
from .metrics import MotionPlausibilityMetric, plausibility_stats

__all__ = ['MotionPlausibilityMetric', 'plausibility_stats']

"""Metrics (mmengine ``BaseMetric``s in ``METRICS``)."""
from .physical import MotionPlausibilityMetric, plausibility_stats

__all__ = ['MotionPlausibilityMetric', 'plausibility_stats']

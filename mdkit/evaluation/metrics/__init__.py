"""Metrics (mmengine ``BaseMetric``s in ``METRICS``)."""
from .physical import MotionPlausibilityMetric, plausibility_stats
from .retrieval import RetrievalMetric, retrieval_recall

__all__ = ['MotionPlausibilityMetric', 'RetrievalMetric', 'plausibility_stats',
           'retrieval_recall']

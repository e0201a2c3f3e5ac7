"""Metrics (mmengine ``BaseMetric``s in ``METRICS``)."""
from .physical import MotionPlausibilityMetric, plausibility_stats
from .retrieval import RetrievalMetric, retrieval_recall
from .text_motion_metric import TextMotionMetric

__all__ = ['MotionPlausibilityMetric', 'RetrievalMetric', 'TextMotionMetric',
           'plausibility_stats', 'retrieval_recall']

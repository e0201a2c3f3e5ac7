"""Guidance objects (``GUIDANCE`` registry): ``guided = ref + w * (main - ref)``."""
from .base import SCALE_SCHEDULES, BaseGuidance, GuidanceTerm, NoGuidance, dropout_perturbed
from .guidance import AutoGuidance, ClassifierFreeGuidance, CombinedGuidance

__all__ = [
    'BaseGuidance', 'NoGuidance', 'ClassifierFreeGuidance', 'AutoGuidance', 'CombinedGuidance',
    'GuidanceTerm', 'SCALE_SCHEDULES', 'dropout_perturbed'
]

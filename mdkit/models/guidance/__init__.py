"""Guidance objects (plain objects in the ``GUIDANCE`` registry)."""
from .base import BaseGuidance, ClassifierFreeGuidance, NoGuidance

__all__ = ['BaseGuidance', 'ClassifierFreeGuidance', 'NoGuidance']

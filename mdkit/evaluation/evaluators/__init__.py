"""Text-motion evaluator networks (registered in ``MODELS``)."""
from .base import BaseMotionEvaluator, file_sha256
from .contrastive import (
    ContrastiveEvaluator,
    ContrastiveEvaluatorModel,
    dataset_fingerprint,
    load_evaluator_checkpoint,
)
from .t2m import (
    MotionEncoderBiGRUCo,
    MovementConvEncoder,
    T2MEvaluator,
    TextEncoderBiGRUCo,
    load_t2m_checkpoint,
)
from .word_vectorizer import POS_ENUMERATOR, VIP_WORDS, WordVectorizer, simple_tokenize

__all__ = [
    'BaseMotionEvaluator', 'file_sha256', 'ContrastiveEvaluator', 'ContrastiveEvaluatorModel',
    'dataset_fingerprint', 'load_evaluator_checkpoint', 'T2MEvaluator', 'MovementConvEncoder',
    'MotionEncoderBiGRUCo', 'TextEncoderBiGRUCo', 'load_t2m_checkpoint', 'WordVectorizer',
    'POS_ENUMERATOR', 'VIP_WORDS', 'simple_tokenize'
]

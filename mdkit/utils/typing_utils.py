"""Type aliases shared across mdkit (shapes: B batch, T frames, D feature dim)."""
from collections.abc import Sequence

from mmengine.config import ConfigDict
from mmengine.structures import BaseDataElement
from torch import Tensor

__all__ = [
    'ConfigType', 'OptConfigType', 'MultiConfig', 'OptMultiConfig', 'SampleList',
    'OptSampleList', 'TensorDict', 'ForwardResults', 'LossDict'
]

#: A config: plain dict or mmengine ConfigDict.
ConfigType = ConfigDict | dict
#: An optional config.
OptConfigType = ConfigType | None
#: One config or a list of configs (e.g. ``init_cfg``).
MultiConfig = ConfigType | list[ConfigType]
#: An optional config or list of configs.
OptMultiConfig = MultiConfig | None

#: One data sample per batch element (``MotionDataSample`` in practice).
SampleList = Sequence[BaseDataElement]
#: Optional data samples (``mode='tensor'`` may pass None).
OptSampleList = SampleList | None

#: Named tensors, e.g. the outputs of a network.
TensorDict = dict[str, Tensor]
#: Named loss terms summed by the generator and logged one by one.
LossDict = dict[str, Tensor]
#: What ``BaseModel.forward`` returns: losses, predictions, or raw tensors.
ForwardResults = LossDict | SampleList | Tensor | tuple[Tensor, ...]

"""The parts of a safe model file stored outside the estimator graph.

Each network's weights (safetensors) and training history (JSON), each
XGBoost booster in its own UBJSON model format and each LightGBM booster as
its model string: formats the libraries keep loadable across versions, read
without unpickling anything.
"""

import json
import sys

from ._io_format import (
    _json_scalar,
)
from ._sequence_base import _SequenceClassifierBase


# -- part handlers ------------------------------------------------------------
class _TorchPart:
    """A sequence classifier's network: safetensors weights + JSON history."""

    kind = "torch"
    detached = ("net_", "module_")

    @staticmethod
    def owns(obj):
        return isinstance(obj, _SequenceClassifierBase) and "net_" in obj.__dict__

    @staticmethod
    def dump(obj):
        from safetensors.torch import save as save_tensors

        weights = {
            key: _compact(value.detach().to("cpu", copy=True).contiguous())
            for key, value in obj.net_.module_.state_dict().items()
        }
        history = json.dumps(obj.net_.history.to_list(), default=_json_scalar)
        return [(".safetensors", save_tensors(weights)), (".history.json", history)]

    @staticmethod
    def restore(obj, read, device):
        from safetensors.torch import load as load_tensors
        from skorch.history import History

        weights = load_tensors(read(".safetensors"))
        history = History(json.loads(read(".history.json")))
        if device is not None:
            obj.device_ = str(device)
        # The pickling path of the classifier rebuilds the net from its
        # parameters and loads CPU weights: one code path for both formats.
        state = dict(obj.__dict__)
        state["_net_state"] = {"weights": weights, "history": history}
        obj.__setstate__(state)


def _compact(tensor):
    """float32 copy of a float64 tensor that holds float32 values, else itself.

    Networks train and predict in float32; a model unpickled from a version
    that predicted in float64 may still hold float64 weights of float32
    values: storing the float32 values loses nothing and halves the file.
    """
    import torch

    if tensor.dtype == torch.float64:
        single = tensor.float()
        if torch.equal(single.double(), tensor):
            return single
    return tensor


class _XGBoostPart:
    """An ``xgboost`` sklearn model's booster, in XGBoost's UBJSON format."""

    kind = "xgboost"
    detached = ("_Booster",)

    @staticmethod
    def owns(obj):
        xgboost = sys.modules.get("xgboost")
        return (
            xgboost is not None
            and isinstance(obj, xgboost.XGBModel)
            and obj.__dict__.get("_Booster") is not None
        )

    @staticmethod
    def dump(obj):
        return [(".ubj", bytes(obj.get_booster().save_raw(raw_format="ubj")))]

    @staticmethod
    def restore(obj, read, device):
        import xgboost

        obj._Booster = xgboost.Booster(model_file=bytearray(read(".ubj")))


class _LightGBMPart:
    """A ``lightgbm`` sklearn model's booster, as a LightGBM model string."""

    kind = "lightgbm"
    detached = ("_Booster",)

    @staticmethod
    def owns(obj):
        lightgbm = sys.modules.get("lightgbm")
        return (
            lightgbm is not None
            and isinstance(obj, lightgbm.LGBMModel)
            and obj.__dict__.get("_Booster") is not None
        )

    @staticmethod
    def dump(obj):
        booster = obj._Booster
        extra = {"best_iteration": int(getattr(booster, "best_iteration", 0))}
        return [
            (".txt", booster.model_to_string(num_iteration=-1).encode()),
            (".json", json.dumps(extra)),
        ]

    @staticmethod
    def restore(obj, read, device):
        import lightgbm

        booster = lightgbm.Booster(model_str=read(".txt").decode())
        booster.best_iteration = json.loads(read(".json"))["best_iteration"]
        obj._Booster = booster


_HANDLERS = (_TorchPart, _XGBoostPart, _LightGBMPart)
_HANDLERS_BY_KIND = {handler.kind: handler for handler in _HANDLERS}

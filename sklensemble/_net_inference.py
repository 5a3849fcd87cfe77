"""Prediction of the sequence networks: fixed-shape float32 batches and int8 copies."""

import copy
import warnings

import numpy as np
import torch

# Memory budget of one forward pass at predict time on the CPU (float32
# activations, estimated by _predict_batch_rows), and the most rows per pass.
_PREDICT_BATCH_BYTES = 32 * 2**20
_PREDICT_BATCH_ROWS = 1024
# Rows per pass are a multiple of this. With a fixed batch shape, a row's
# float32 result does not depend on its neighbours or its position in the
# batch for batches of 12 rows or more (measured with 1 to 16 threads); the
# kernels for fewer rows round by position.
_PREDICT_ROW_MULTIPLE = 16
# Activation tensors of the widest layer assumed alive at once in a forward
# pass (input, output and the attention's intermediates); calibrated so that
# the estimate exceeds the measured peak (benchmarks/bench_windowing_memory.py).
_LIVE_TENSORS = 4
# Layers replaced by int8 dynamically quantized ones in quantize().
_QUANTIZED_LAYERS = {torch.nn.LSTM, torch.nn.Linear}


def _place_module(module, device):
    """Move ``module`` to ``device`` in float32, ready for inference."""
    module.to(device)
    module.float()
    return module.eval()


def _predict_batch_rows(module, sequence_length, device):
    """Rows in every forward pass of ``predict_proba``: a fixed batch shape.

    On the CPU, as many windows as fit ``_PREDICT_BATCH_BYTES``, in
    multiples of ``_PREDICT_ROW_MULTIPLE``: a window's float32 activations
    are estimated from the widest layer (a weight matrix's output width,
    plus one attention score per head and step), with ``_LIVE_TENSORS`` such
    tensors alive at once. On CUDA the GPU's memory is not the process's:
    ``_PREDICT_BATCH_ROWS``.
    """
    if device != "cpu":
        return _PREDICT_BATCH_ROWS
    widest = max((p.shape[0] for p in module.parameters() if p.ndim == 2), default=1)
    heads = max(
        (m.num_heads for m in module.modules() if hasattr(m, "num_heads")), default=0
    )
    steps = sequence_length
    per_window = 4 * _LIVE_TENSORS * steps * (widest + heads * steps)
    rows = _PREDICT_BATCH_BYTES // per_window // _PREDICT_ROW_MULTIPLE
    return int(
        np.clip(
            rows * _PREDICT_ROW_MULTIPLE, _PREDICT_ROW_MULTIPLE, _PREDICT_BATCH_ROWS
        )
    )


def _quantized_module(module):
    """A CPU copy of ``module`` with int8 dynamically quantized LSTM/Linear layers.

    Weights are quantized once; activations are quantized on the fly from
    each forward pass's own range. The attention's projections stay float32
    (PyTorch does not quantize them dynamically). A Transformer encoder
    layer's fused fast path reads its linear weights as tensors, which
    quantized layers hold packed: the copy runs the layer's regular path.
    """
    float_copy = _place_module(copy.deepcopy(module), "cpu")
    with warnings.catch_warnings():
        # torch.ao announces the migration of eager quantization to torchao.
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(
            float_copy, _QUANTIZED_LAYERS, dtype=torch.qint8
        )
    for layer in quantized.modules():
        if isinstance(layer, torch.nn.TransformerEncoderLayer):
            layer.activation_relu_or_gelu = 0  # the flag that selects the fast path
    return quantized.eval()

"""int8 dynamic quantization of the networks: accuracy and latency against float.

Each network (the fast preset's sizes) learns the planted sequence task
(``make_planted_sequences``: the label is the sign of feature 0 summed over
the 3 rows before, so only a look-back model can learn it), then its
``quantize()`` copy is compared with it on held-out windows: accuracy,
agreement of the predicted classes, largest probability difference, and the
latency of one window (the serving path ``_predict_proba_last``) in
round-robin calls. ``--sizes default`` adds the design's sizes (LSTM 3 x 128,
Transformer d_model 256 x 4 layers), trained 10 epochs (``--default-epochs``)
to keep a CPU run short.

    python benchmarks/bench_quantization.py
    python benchmarks/bench_quantization.py --sizes fast default
"""

import argparse
import os
import time

import numpy as np
import torch

from sklensemble import AttentionLSTMClassifier, SequenceWindower, TransformerClassifier
from sklensemble.datasets import make_planted_sequences

SIZES = {
    "fast": {
        AttentionLSTMClassifier: dict(hidden_size=16, num_layers=1, num_heads=2),
        TransformerClassifier: dict(d_model=16, num_layers=1, num_heads=2),
    },
    "default": {
        AttentionLSTMClassifier: dict(hidden_size=128, num_layers=3, num_heads=8),
        TransformerClassifier: dict(d_model=256, num_layers=4, num_heads=8),
    },
}


def latencies(models, window, n_calls):
    for model in models:
        for _ in range(20):
            model._predict_proba_last(window)
    times = np.empty((len(models), n_calls))
    for i in range(n_calls):
        for j, model in enumerate(models):
            start = time.perf_counter()
            model._predict_proba_last(window)
            times[j, i] = time.perf_counter() - start
    return 1e3 * times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["fast"], choices=list(SIZES))
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--sequence-length", type=int, default=20)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--default-epochs", type=int, default=10)
    args = parser.parse_args()
    X, y = make_planted_sequences(args.rows, seed=0)
    windows = SequenceWindower(args.sequence_length).fit_transform(X)
    split = int(0.8 * len(y))
    print(
        f"planted sequences: {args.rows} rows x {X.shape[1]}, windows of "
        f"{args.sequence_length}, train {split} / test {len(y) - split}; "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}, load average "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    print(
        "| network | sizes | accuracy float | accuracy int8 | agreement | "
        "max abs proba diff | p50 ms float | p50 ms int8 | p99 ms float | "
        "p99 ms int8 |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for sizes in args.sizes:
        for cls, params in SIZES[sizes].items():
            epochs = dict(max_epochs=40, lr=5e-3) if sizes == "fast" else {}
            if sizes == "default":
                epochs = dict(max_epochs=args.default_epochs)
            clf = cls(**params, **epochs, device="cpu", random_state=0)
            clf.fit(windows[:split], y[:split])
            quantized = clf.quantize()
            test = windows[split:]
            p_float, p_int8 = clf.predict_proba(test), quantized.predict_proba(test)
            acc_float = (p_float.argmax(1) == y[split:]).mean()
            acc_int8 = (p_int8.argmax(1) == y[split:]).mean()
            agree = (p_float.argmax(1) == p_int8.argmax(1)).mean()
            ms = latencies([clf, quantized], test[-1:], args.calls)
            p50, p99 = np.percentile(ms, 50, axis=1), np.percentile(ms, 99, axis=1)
            print(
                f"| {cls.__name__} | {sizes} | {acc_float:.3f} | {acc_int8:.3f} | "
                f"{agree:.3f} | {np.abs(p_float - p_int8).max():.4f} | "
                f"{p50[0]:.2f} | {p50[1]:.2f} | {p99[0]:.2f} | {p99[1]:.2f} |"
            )
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

"""make_ensemble_pipeline: fit time and single-step prediction latency.

Fit time of a preset on n rows x 20 features of synthetic data (3 classes),
then the latency of what a downstream service does for each new bar: the
newest row's probabilities from the last ``sequence_length`` rows, with the
fast path ``predict_proba_last`` and with plain ``predict_proba``.

    python benchmarks/bench_pipeline.py                       # fast preset, 5,000 rows
    python benchmarks/bench_pipeline.py --rows 5000 10000 20000 40000
    python benchmarks/bench_pipeline.py --preset default --max-epochs 2
"""

import argparse
import platform
import time

import numpy as np
import pandas as pd
import torch

from sklensemble import make_ensemble_pipeline, predict_proba_last


def make_rows(n_rows, n_features=20, seed=0):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(
        rng.normal(size=(n_rows, n_features)),
        columns=[f"f{i}" for i in range(n_features)],
    )
    signal = X["f0"].rolling(5, min_periods=1).mean().shift(1).fillna(0)
    y = np.digitize(signal + 0.5 * rng.normal(size=n_rows), [-0.3, 0.3])
    return X, y


def fit_pipeline(n_rows, args):
    X, y = make_rows(n_rows)
    pipe = make_ensemble_pipeline(
        preset=args.preset,
        sequence_length=args.sequence_length,
        random_state=0,
        n_jobs=args.n_jobs,
    )
    if args.max_epochs:
        pipe.set_params(
            ensemble__lstm__net__max_epochs=args.max_epochs,
            ensemble__transformer__net__max_epochs=args.max_epochs,
        )
    start = time.perf_counter()
    pipe.fit(X, y)
    seconds = time.perf_counter() - start
    members = pipe.named_steps["ensemble"].fit_times_
    detail = ", ".join(f"{name} {t:.1f}" for name, t in members.items())
    print(f"fit {args.preset:7s} {n_rows:6d} rows x 20: {seconds:7.1f} s   ({detail})")
    return pipe, X, seconds


def _percentiles(call, n_calls):
    for _ in range(20):  # warm-up
        call()
    times = np.empty(n_calls)
    for i in range(n_calls):
        start = time.perf_counter()
        call()
        times[i] = time.perf_counter() - start
    return times * 1e3


def latency(pipe, X, sequence_length, n_calls):
    """p50/p99 of the two ways to get the newest bar's prediction."""
    window = X.iloc[-sequence_length:]
    results = {
        "predict_proba_last(pipe, rows)": _percentiles(
            lambda: predict_proba_last(pipe, window), n_calls
        ),
        "pipe.predict_proba(rows)[-1]": _percentiles(
            lambda: pipe.predict_proba(window)[-1], n_calls
        ),
    }
    print(
        f"single-step prediction from the last {sequence_length} rows, {n_calls} calls:"
    )
    for name, ms in results.items():
        p50, p99 = np.percentile(ms, [50, 99])
        print(f"  {name:34s} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    return results["predict_proba_last(pipe, rows)"]


def plot(path, rows, fit_seconds, latencies_ms, preset):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.plot(rows, fit_seconds, "o-")
    left.set(
        xlabel="rows (x 20 features)",
        ylabel="fit seconds",
        title=f"make_ensemble_pipeline(preset={preset!r}) fit time",
    )
    if latencies_ms is not None:
        right.hist(latencies_ms, bins=50)
        for q in (50, 99):
            right.axvline(np.percentile(latencies_ms, q), color="k", ls="--")
        right.set(
            xlabel="ms per call",
            ylabel="calls",
            title="predict_proba_last latency (p50, p99)",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", choices=["fast", "default"])
    parser.add_argument("--rows", type=int, nargs="+", default=[5000])
    parser.add_argument("--sequence-length", type=int, default=60)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--plot", default=None, help="PNG of fit times and latencies")
    args = parser.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"torch threads, torch {torch.__version__}, CUDA {torch.cuda.is_available()}"
    )
    fit_seconds = []
    for n_rows in args.rows:
        pipe, X, seconds = fit_pipeline(n_rows, args)
        fit_seconds.append(seconds)
    # Latency of the last fit's model: the model size, not the rows, sets it.
    latencies = (
        latency(pipe, X, args.sequence_length, args.calls) if args.calls else None
    )
    if args.plot:
        plot(args.plot, args.rows, fit_seconds, latencies, args.preset)


if __name__ == "__main__":
    main()

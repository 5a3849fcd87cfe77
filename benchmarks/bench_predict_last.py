"""Where the time of predict_proba_last goes, against a plain-torch reference.

Fits ``make_ensemble_pipeline(preset="fast")`` (60-row windows) on synthetic
rows x 8 features, then times, call after call in round-robin (so that load
from other processes spreads evenly over them), the serving fast path and
each of its parts on the last 60 rows:

- the whole ``predict_proba_last(pipe, rows)`` (rows: a DataFrame);
- its input check and scaling (the DataFrame's columns, time order and
  values checked once, the scaler's centre and scale applied);
- the ensemble's share, and each member's: a booster's one-row call into
  its library, a network's last window in one forward pass, and inside that
  the torch forward pass alone;
- the general route (the scaler's ``transform`` and the ensemble's
  ``predict_proba_last``, each with its own checks), which any other
  Pipeline takes, for comparison;
- the plain-torch reference: the same two torch modules, float32, one window
  each, ``torch.inference_mode``, torch's default threads: what a service
  written directly in torch would run for the networks.

The ratio to the reference, measured in the same run, is the figure to
compare across machines and loads. Round-robin timing runs every other part
between two calls of the whole path, which leaves its caches cold; the
script then times the whole call alone, back to back, as a service calls
it.

    python benchmarks/bench_predict_last.py
    python benchmarks/bench_predict_last.py --rows 5000 --calls 2000
    taskset -c 0 python benchmarks/bench_predict_last.py --threads 1
"""

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
import torch

from sklensemble import make_ensemble_pipeline, predict_proba_last
from sklensemble._serving import _checked_rows


def make_rows(n_rows, n_features, seed=0):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(
        rng.normal(size=(n_rows, n_features)),
        columns=[f"f{i}" for i in range(n_features)],
    )
    signal = X["f0"].rolling(5, min_periods=1).mean().shift(1).fillna(0)
    y = np.digitize(signal + 0.5 * rng.normal(size=n_rows), [-0.3, 0.3])
    return X, y


def parts(pipe, window):
    """name -> zero-argument callable, for the whole path and its parts."""
    ensemble = pipe.named_steps["ensemble"]
    rows = _checked_rows(pipe.steps, window)
    assert rows is not None, "the fast route does not apply"
    calls = {
        "predict_proba_last(pipe, rows)": lambda: predict_proba_last(pipe, window),
        "  input check and scaling": lambda: _checked_rows(pipe.steps, window),
        "  ensemble (all members, weighted)": lambda: ensemble._serve_last(rows),
        "general route, for comparison": lambda: general_route(pipe, window),
    }
    modules = []
    for name, member in ensemble.named_estimators_.items():
        if not hasattr(member, "steps"):
            calls[f"    {name}: one-row call"] = lambda m=member: m._serve_row(
                rows[-1:]
            )
            continue
        windower, net = member.steps[0][1], member.steps[-1][1]
        window_rows = windower._last_window(rows)
        tensor = torch.from_numpy(window_rows[np.newaxis].astype(np.float32))
        calls[f"    {name}: last window, one pass"] = lambda n=net, w=window_rows: (
            n._serve_window(w)
        )
        calls[f"      {name}: torch forward alone"] = lambda n=net, t=tensor: forward(
            n.module_, t
        )
        modules.append((net.module_, tensor))
    calls["plain-torch reference (both networks)"] = lambda: reference(modules)
    return calls


def general_route(pipe, window):
    """The route every other model takes: each step's own checks."""
    scaled = pipe.named_steps["scaler"].transform(window)
    return pipe.named_steps["ensemble"].predict_proba_last(scaled)


def forward(module, tensor):
    with torch.inference_mode():
        return module(tensor)


def reference(modules):
    with torch.inference_mode():
        return [module(tensor) for module, tensor in modules]


def time_round_robin(calls, n_calls):
    for call in calls.values():  # warm-up
        for _ in range(20):
            call()
    times = {name: np.empty(n_calls) for name in calls}
    for i in range(n_calls):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name][i] = time.perf_counter() - start
    return {name: 1e3 * t for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--sequence-length", type=int, default=60)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument(
        "--threads", type=int, help="torch threads, as a serving process sets them"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    X, y = make_rows(args.rows, args.features)
    pipe = make_ensemble_pipeline(
        preset="fast", sequence_length=args.sequence_length, random_state=0
    ).fit(X, y)
    window = X.iloc[-args.sequence_length :]
    np.testing.assert_allclose(
        predict_proba_last(pipe, window), pipe.predict_proba(window)[-1], atol=1e-5
    )
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} "
        f"torch threads, torch {torch.__version__}; fast preset fitted on "
        f"{args.rows} rows x {args.features}; {args.calls} calls each on the last "
        f"{args.sequence_length} rows; load average "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    times = time_round_robin(parts(pipe, window), args.calls)
    ref = np.median(times["plain-torch reference (both networks)"])
    print(f"| {'part':55s} | p50 ms | p99 ms | p50 / reference |")
    print(f"|{'-' * 57}|-------:|-------:|----------------:|")
    for name, ms in times.items():
        p50, p99 = np.percentile(ms, [50, 99])
        label = name.replace(" ", "&nbsp;", len(name) - len(name.lstrip()))
        print(f"| {label:55s} | {p50:6.2f} | {p99:6.2f} | {p50 / ref:15.2f} |")
    # The service pattern: one call after another, caches warm from the last.
    alone = time_round_robin(
        {"alone": lambda: predict_proba_last(pipe, window)}, args.calls
    )["alone"]
    p50, p90, p99 = np.percentile(alone, [50, 90, 99])
    print(
        f"predict_proba_last(pipe, rows) back to back, {args.calls} calls: "
        f"p50 {p50:.2f} ms, p90 {p90:.2f} ms, p99 {p99:.2f} ms"
    )
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

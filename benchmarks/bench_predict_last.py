"""Where the time of predict_proba_last goes, against a plain-torch reference.

Fits ``make_ensemble_pipeline(preset="fast")`` (60-row windows) on synthetic
rows x 8 features, then times, call after call in round-robin (so that load
from other processes spreads evenly over them), the serving fast path and
each of its parts on the last 60 rows:

- the whole ``predict_proba_last(pipe, rows)`` (rows: a DataFrame);
- the scaler's ``transform``; the ensemble's input check;
- each member's share (a booster's one-row prediction; a network's
  SequenceWindower and its one-window prediction, and inside that the torch
  forward pass alone);
- the plain-torch reference: the same two torch modules, float32, one window
  each, ``torch.inference_mode``, torch's default threads: what a service
  written directly in torch would run for the networks.

The ratio to the reference, measured in the same run, is the figure to
compare across machines and loads.

    python benchmarks/bench_predict_last.py
    python benchmarks/bench_predict_last.py --rows 5000 --calls 2000
"""

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
import torch

from sklensemble import make_ensemble_pipeline, predict_proba_last
from sklensemble._ensemble import _last_row_proba


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
    scaler, ensemble = pipe.named_steps["scaler"], pipe.named_steps["ensemble"]
    scaled = scaler.transform(window)
    checked = ensemble._validate_X(scaled, reset=False)
    calls = {
        "predict_proba_last(pipe, rows)": lambda: predict_proba_last(pipe, window),
        "  scaler.transform": lambda: scaler.transform(window),
        "  ensemble input check": lambda: ensemble._validate_X(scaled, reset=False),
    }
    modules = []
    for name, member in ensemble.named_estimators_.items():
        if not hasattr(member, "steps"):
            calls[f"  {name}: one-row predict_proba"] = lambda m=member: (
                _last_row_proba(m, checked)
            )
            continue
        windower, net = member.steps[0][1], member.steps[-1][1]
        windows = windower.transform(checked)
        tensor = torch.from_numpy(np.array(windows[-1:]))
        calls[f"  {name}: whole member"] = lambda m=member: _last_row_proba(m, checked)
        calls[f"    {name}: SequenceWindower.transform"] = lambda w=windower: (
            w.transform(checked)
        )
        calls[f"    {name}: _predict_proba_last (checks + torch)"] = (
            lambda n=net, w=windows: n._predict_proba_last(w)
        )
        calls[f"      {name}: torch forward, 1 thread"] = lambda n=net, t=tensor: (
            forward_one_thread(n.module_, t)
        )
        modules.append((net.module_, tensor))
    calls["plain-torch reference (both networks)"] = lambda: reference(modules)
    return calls


def forward_one_thread(module, tensor):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            return module(tensor)
    finally:
        torch.set_num_threads(before)


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
    args = parser.parse_args()
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
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

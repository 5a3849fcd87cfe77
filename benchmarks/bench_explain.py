"""How long explain_ensemble takes for N rows, member by member.

Fits ``make_ensemble_pipeline(preset="fast")`` on synthetic rows x 8
features, then times ``explain_ensemble(pipe, X, last=N)`` for several N
(the windows' context rows come from before the explained rows), and the
plain ``predict_proba`` of the same rows for comparison. The networks'
integrated gradients dominate: ``n_steps`` forward and
``n_steps x n_classes`` backward passes per batch of rows.

    python benchmarks/bench_explain.py
    python benchmarks/bench_explain.py --rows 100 1000 --n-steps 16
"""

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd

from sklensemble import make_ensemble_pipeline
from sklensemble.explain import explain_ensemble


def _data(n_rows, n_features=8, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        rng.normal(size=(n_rows, n_features)),
        columns=[f"f{j}" for j in range(n_features)],
    )
    signal = X["f1"].shift(2).fillna(0.0) + 0.5 * X["f0"]
    y = np.select([signal < -0.5, signal > 0.5], [-1, 1], 0)
    return X, y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--train-rows", type=int, default=3000)
    parser.add_argument("--sequence-length", type=int, default=20)
    parser.add_argument("--n-steps", type=int, default=32)
    args = parser.parse_args()

    print(
        f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}"
        f", OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    X, y = _data(args.train_rows)
    pipe = make_ensemble_pipeline(
        preset="fast", sequence_length=args.sequence_length, random_state=0
    ).fit(X, y)
    print(f"fitted on {len(X)} rows x {X.shape[1]} features, weights equal")
    print(f"{'rows':>6} {'explain s':>10} {'per row ms':>11} {'predict s':>10}")
    for n in args.rows:
        start = time.perf_counter()
        explanation = explain_ensemble(pipe, X, last=n, n_steps=args.n_steps)
        took = time.perf_counter() - start
        start = time.perf_counter()
        pipe.predict_proba(X.iloc[-n:])
        predict = time.perf_counter() - start
        print(f"{n:>6} {took:>10.2f} {1000 * took / n:>11.2f} {predict:>10.2f}")
    top = explanation.mean_abs().sum(axis=1).sort_values(ascending=False)
    print("top features:", ", ".join(top.index[:3]))


if __name__ == "__main__":
    main()

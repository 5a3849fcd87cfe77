"""Calibration in time order on the S&P 500 walk-forward: ECE before and after.

Same data, labels and folds as ``bench_walk_forward_sp500.py`` (fewer folds
by default). Two comparisons:

1. The plain pipeline's walk-forward test predictions, per member and for
   the ensemble, as predicted and calibrated by
   :func:`sklensemble.calibrate_walk_forward` (each fold calibrated on the
   earlier folds' test predictions only; folds after the first).
2. The whole pipeline wrapped in
   :class:`sklensemble.TimeOrderedCalibratedClassifier` (calibrated on the
   tail of each fold's training rows, purged by the horizon), with
   ``refit=True`` and ``refit=False``, against the plain pipeline.

Usage::

    python benchmarks/bench_calibration.py              # fast preset, CPU
    python benchmarks/bench_calibration.py --n-splits 5
"""

import argparse
import platform
import time

import numpy as np
import sklearn
import torch
from bench_walk_forward_sp500 import sp500_dataset
from sklearn.metrics import balanced_accuracy_score, log_loss

from sklensemble import (
    PurgedWalkForwardSplit,
    TimeOrderedCalibratedClassifier,
    calibrate_walk_forward,
    expected_calibration_error,
    make_ensemble_pipeline,
)
from sklensemble.evaluate import walk_forward


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="fast", choices=["fast", "default"])
    parser.add_argument("--sequence-length", type=int, default=20)
    parser.add_argument("--horizon", type=int, default=1)
    parser.add_argument("--multiplier", type=float, default=0.4)
    parser.add_argument("--n-splits", type=int, default=3)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def scores(frame, classes):
    """Top-label ECE, mean per-class ECE, log-loss, balanced accuracy."""
    proba = frame[[f"proba_{c}" for c in classes]].to_numpy()
    y = frame["y_true"].to_numpy()
    return (
        expected_calibration_error(y, proba, classes=classes),
        float(
            np.mean(expected_calibration_error(y, proba, classes=classes, kind="class"))
        ),
        log_loss(y, np.clip(proba, 1e-15, 1), labels=classes),
        balanced_accuracy_score(y, classes[proba.argmax(axis=1)]),
    )


def main(argv=None):
    args = parse_args(argv)
    X, y, _ = sp500_dataset(args.horizon, args.multiplier)
    classes = np.unique(y)
    pipe = make_ensemble_pipeline(
        preset=args.preset,
        sequence_length=args.sequence_length,
        device=args.device,
        random_state=args.seed,
        horizon=args.horizon,
    ).set_params(ensemble__importance=None)
    cv = PurgedWalkForwardSplit(
        n_splits=args.n_splits, test_size=args.test_size, purge=args.horizon
    )
    print(
        f"S&P 500 daily, {len(y)} rows x {X.shape[1]} features; preset={args.preset}, "
        f"sequence_length={args.sequence_length}, horizon={args.horizon}, "
        f"{args.n_splits} folds x {args.test_size} days, purge={args.horizon}"
    )
    print(
        f"{platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}"
    )
    start = time.perf_counter()
    _, plain = walk_forward(pipe, X, y, cv, return_predictions=True)
    print(f"plain walk-forward: {time.perf_counter() - start:.0f}s")

    print("\n1. walk-forward test predictions, folds after the first, calibrated")
    print("   on the earlier folds only (top-label ECE / mean class ECE / log-loss)")
    after = {
        m: calibrate_walk_forward(plain, method=m, gap=args.horizon)
        for m in ("sigmoid", "isotonic")
    }
    later = plain[plain["fold"] > plain["fold"].min()]
    print(f"{'model':12s} {'as predicted':>26s} {'sigmoid':>26s} {'isotonic':>26s}")
    for model in ("xgboost", "lightgbm", "lstm", "transformer", "ensemble"):
        cells = [scores(later[later["model"] == model], classes)]
        cells += [scores(a[a["model"] == model], classes) for a in after.values()]
        print(
            f"{model:12s} "
            + " ".join(f"{c[0]:.4f} / {c[1]:.4f} / {c[2]:.4f}" for c in cells)
        )

    print("\n2. the whole pipeline calibrated on the tail of each fold's rows")
    print("   (all folds; top-label ECE / mean class ECE / log-loss / bal. acc.)")
    row = scores(plain[plain["model"] == "ensemble"], classes)
    print(f"{'ensemble as is':34s} " + " / ".join(f"{v:.4f}" for v in row))
    for method, refit in (("sigmoid", True), ("sigmoid", False), ("isotonic", True)):
        model = TimeOrderedCalibratedClassifier(
            pipe, method=method, validation_gap=args.horizon, refit=refit
        )
        start = time.perf_counter()
        _, pred = walk_forward(model, X, y, cv, return_predictions=True)
        elapsed = time.perf_counter() - start
        row = scores(pred[pred["model"] == "ensemble"], classes)
        label = f"calibrated {method}, refit={refit}"
        print(
            f"{label:34s} "
            + " / ".join(f"{v:.4f}" for v in row)
            + f"   ({elapsed:.0f}s)"
        )


if __name__ == "__main__":
    main()

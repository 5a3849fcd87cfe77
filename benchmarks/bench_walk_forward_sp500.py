"""Walk-forward evaluation of the ensemble pipeline on daily S&P 500 bars.

Features: :class:`~sklensemble.MarketFeatures` with its defaults (14
causal indicators). Labels: the next day's return against a hold band of
``--multiplier`` x the 20-day volatility of daily returns (known at the bar),
which splits the 1999-2018 days into roughly equal thirds (sell 30%, hold
36%, buy 34% with 0.4). Folds: :class:`~sklensemble.PurgedWalkForwardSplit`
with ``purge`` equal to the label horizon, expanding training window, the
last ``--n-splits`` blocks of ``--test-size`` days as test blocks.

The table reports, per model, the mean over the folds of the scores returned
by :func:`sklensemble.evaluate.walk_forward`, and the backtest of the
predicted labels (position taken at each close, earning the next day's
return, ``--costs`` per unit of turnover).

Usage::

    python benchmarks/bench_walk_forward_sp500.py            # fast preset, CPU
    python benchmarks/bench_walk_forward_sp500.py --preset default --device cuda
"""

import argparse
import platform
import time

import numpy as np
import pandas as pd
import sklearn
import torch

from sklensemble import (
    LightGBMClassifier,
    MarketFeatures,
    PurgedStackingClassifier,
    PurgedWalkForwardSplit,
    make_ensemble_pipeline,
)
from sklensemble.datasets import load_sp500
from sklensemble.evaluate import summarize, walk_forward
from sklensemble.labels import drop_unlabeled, return_labels

_COLUMNS = [
    "log_loss",
    "balanced_accuracy",
    "accuracy",
    "f1_macro",
    "hit_rate",
    "cumulative_return",
    "sharpe",
    "max_drawdown",
    "turnover",
    "fit_time",
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="fast", choices=["fast", "default"])
    parser.add_argument("--sequence-length", type=int, default=20)
    parser.add_argument(
        "--weights",
        default="equal",
        choices=["equal", "auto", "stack"],
        help="equal: the pipeline's default (weights=None); auto: learned on the "
        "tail; stack: a PurgedStackingClassifier over the same members",
    )
    parser.add_argument(
        "--stack-splits",
        type=int,
        default=3,
        help="--weights stack: walk-forward folds within each training fold "
        "that predict the meta-learner's rows",
    )
    parser.add_argument("--horizon", type=int, default=1)
    parser.add_argument("--multiplier", type=float, default=0.4)
    parser.add_argument("--n-splits", type=int, default=5)
    parser.add_argument("--test-size", type=int, default=500)
    parser.add_argument("--costs", type=float, default=0.0001)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-fold", action="store_true", help="print every fold")
    parser.add_argument(
        "--no-refit-full",
        dest="refit_full",
        action="store_false",
        help="members keep the model early stopping chose instead of refitting "
        "on all rows with its epochs/trees (the pipeline's refit_full=False)",
    )
    parser.add_argument(
        "--previous-training",
        action="store_true",
        help="networks train as the fast preset did before min_epochs: "
        "patience 3, early stopping free from the first epoch",
    )
    return parser.parse_args(argv)


def sp500_dataset(horizon, multiplier):
    """Features, labels and closes of the bundled S&P 500 bars."""
    bars = load_sp500()
    features = MarketFeatures().fit_transform(bars)
    labels = return_labels(
        bars["close"],
        horizon=horizon,
        volatility_window=20,
        volatility_multiplier=multiplier,
    )
    X, y = drop_unlabeled(features, labels, drop_nan_features=True)
    return X, y, bars["close"]


def main(argv=None):
    args = parse_args(argv)
    X, y, close = sp500_dataset(args.horizon, args.multiplier)
    pipe = make_ensemble_pipeline(
        preset=args.preset,
        sequence_length=args.sequence_length,
        weights=None if args.weights == "equal" else args.weights,
        device=args.device,
        n_jobs=args.n_jobs,
        random_state=args.seed,
    )
    # Importances are not used here; skip the networks' permutation passes.
    pipe.set_params(ensemble__importance=None)
    if args.weights == "stack":
        pipe.set_params(ensemble=_stacking(pipe, args))
    pipe.set_params(**_training_params(args))
    cv = PurgedWalkForwardSplit(
        n_splits=args.n_splits, test_size=args.test_size, purge=args.horizon
    )
    shares = y.value_counts(normalize=True).round(3).to_dict()
    print(
        f"S&P 500 daily, {len(y)} labelled rows x {X.shape[1]} features "
        f"({X.index[0].date()} .. {X.index[-1].date()}); classes {shares}"
    )
    print(
        f"preset={args.preset}, sequence_length={args.sequence_length}, "
        f"weights={args.weights}"
        + (f" ({args.stack_splits} inner folds)" if args.weights == "stack" else "")
        + f", horizon={args.horizon}, multiplier="
        f"{args.multiplier}, {args.n_splits} folds x {args.test_size} days, "
        f"purge={args.horizon}, costs={args.costs}, refit_full={args.refit_full}, "
        f"previous_training={args.previous_training}"
    )
    print(
        f"{platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"scikit-learn {sklearn.__version__}, "
        f"CUDA {'yes' if torch.cuda.is_available() else 'no'}"
    )
    start = time.perf_counter()
    results, predictions = walk_forward(
        pipe,
        X,
        y,
        cv,
        prices=close,
        costs=args.costs,
        return_predictions=True,
        verbose=True,
    )
    print(f"walk-forward: {time.perf_counter() - start:.0f}s")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        if args.per_fold:
            print(results.round(4).to_string())
        table = summarize(results)[_COLUMNS]
        print(table.round(4).to_markdown() if _has_tabulate() else table.round(4))
    by_fold = results.pivot(index="fold", columns="model", values="log_loss")
    better = int((by_fold["ensemble"] < by_fold["prior"]).sum())
    print(
        f"ensemble log-loss below the prior's in {better} of {len(by_fold)} folds; "
        "per fold (ensemble / prior): "
        + ", ".join(
            f"{e:.4f} / {p:.4f}"
            for e, p in zip(by_fold["ensemble"], by_fold["prior"], strict=True)
        )
    )
    # The overconfident reference: the fast preset's LightGBM with all its
    # trees, no early stopping, on the same folds.
    plain = LightGBMClassifier(
        n_estimators=200, learning_rate=0.1, validation_fraction=None, random_state=0
    )
    plain = summarize(walk_forward(plain, X, y, cv)).loc["ensemble"]
    print(
        "LightGBM, 200 trees, no early stopping: log-loss "
        f"{plain['log_loss']:.4f}, balanced accuracy "
        f"{plain['balanced_accuracy']:.4f}"
    )
    ensemble = predictions[predictions["model"] == "ensemble"]
    confusion = pd.crosstab(ensemble["y_true"], ensemble["y_pred"], normalize="index")
    print("ensemble, share of each true class predicted as (rows sum to 1):")
    print(confusion.round(3).to_string())
    return results


def _stacking(pipe, args):
    """The pipeline's members under a meta-learner, purged by the label horizon."""
    return PurgedStackingClassifier(
        pipe.named_steps["ensemble"].estimators,
        n_splits=args.stack_splits,
        validation_gap=args.horizon,
        n_jobs=args.n_jobs,
    )


def _training_params(args):
    """Pipeline parameters of the --no-refit-full and --previous-training options."""
    params = {}
    for member in ("xgboost", "lightgbm", "lstm__net", "transformer__net"):
        if not args.refit_full:
            params[f"ensemble__{member}__refit_full"] = False
        if args.previous_training and member.endswith("net"):
            params[f"ensemble__{member}__patience"] = 3
            params[f"ensemble__{member}__min_epochs"] = 1
    return params


def _has_tabulate():
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()

"""The jobs behind the command line: demo, fit, predict, tune.

Files and tables are in ``_cli_io``, the demo's plots and MLflow run in
``_cli_outputs``.

Each job reads its options from an ``argparse.Namespace`` and reports through
``say`` (``print``, or a no-op with ``--quiet``). User errors raise
:class:`JobError` with a one-line message naming the fix.
"""

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ._cli_io import (
    JobError,
    _check_missing,
    _n_periods,
    _numeric,
    check_output,
    load_model,
    read_table,
    save_model,
    write_atomically,
)
from ._cli_outputs import log_to_mlflow, write_explanation, write_plots

# Labels used by the demo and by `fit --target-from`: the next bar's return,
# with a hold band of 0.4 x the rolling 20-bar volatility (times sqrt(horizon)
# for longer horizons). On the S&P 500 this gives sell 30%, hold 35%, buy 35%;
# the multiplier was chosen from the class shares alone (docs/market.md).
LABELS = dict(horizon=1, volatility_window=20, volatility_multiplier=0.4)
# Sequence length on the CPU preset (the GPU preset keeps the design's 60).
FAST_SEQUENCE_LENGTH = 20
# Walk-forward test blocks: about two trading years each.
TEST_BLOCK_ROWS = 500


# -- data -------------------------------------------------------------------
def features_and_labels(bars, price_column="close", horizon=None, threshold=None):
    """MarketFeatures and forward-return labels of price bars, unlabeled dropped.

    ``bars`` need a close column; high, low and volume add the features that
    need them (see :class:`~sklensemble.MarketFeatures`).
    """
    from . import MarketFeatures
    from .labels import drop_unlabeled, return_labels

    columns = {c.lower(): c for c in bars.columns}
    if price_column.lower() not in columns:
        raise JobError(
            f"price column {price_column!r} not found; the columns are "
            f"{list(bars.columns)}"
        )
    close = bars[columns[price_column.lower()]]
    horizon = LABELS["horizon"] if horizon is None else horizon
    if threshold is None:
        label_kwargs = dict(
            volatility_window=LABELS["volatility_window"],
            volatility_multiplier=LABELS["volatility_multiplier"] * np.sqrt(horizon),
        )
    else:
        label_kwargs = dict(threshold=threshold)
    X = MarketFeatures().fit_transform(bars)
    y = return_labels(close, horizon, **label_kwargs)
    X, y = drop_unlabeled(X, y, drop_nan_features=True)
    return X, y, close


# -- model ------------------------------------------------------------------
def resolve_preset(preset, device, say):
    import torch

    if preset != "auto":
        return preset
    on_gpu = device != "cpu" and torch.cuda.is_available()
    chosen = "default" if on_gpu else "fast"
    if not on_gpu:
        say("No CUDA device: using the 'fast' preset (small networks, few epochs).")
    return chosen


def build_pipeline(args, say):
    """The ensemble pipeline; ``--horizon`` purges every validation tail."""
    from . import make_ensemble_pipeline

    preset = resolve_preset(args.preset, args.device, say)
    length = args.sequence_length
    if length is None:
        length = 60 if preset == "default" else FAST_SEQUENCE_LENGTH
    pipe = make_ensemble_pipeline(
        preset=preset,
        sequence_length=length,
        device=args.device,
        random_state=args.seed,
        horizon=args.horizon,
    )
    return pipe, preset, length


def _check_rows(X, length, n_splits):
    needed = max(2 * length, 50) * (n_splits + 1)
    if _n_periods(X) < needed:
        unit = "rows" if _n_periods(X) == len(X) else "dates"
        raise JobError(
            f"{_n_periods(X)} labelled {unit} are too few for "
            f"sequence_length={length} and "
            f"{n_splits} folds (need at least {needed}); pass more rows, a "
            "smaller --sequence-length or fewer --cv folds"
        )


def evaluate(pipe, X, y, close, args, say):
    """Walk-forward evaluation; returns (results, predictions) or (None, None)."""
    from . import PurgedWalkForwardSplit
    from .evaluate import summarize, walk_forward

    if not args.cv:
        return None, None
    test_size = min(TEST_BLOCK_ROWS, _n_periods(X) // (args.cv + 1))
    cv = PurgedWalkForwardSplit(
        n_splits=args.cv, test_size=test_size, purge=args.horizon
    )
    say(f"Walk-forward evaluation: {args.cv} folds, purge {args.horizon} bars ...")
    results, predictions = walk_forward(
        pipe,
        X,
        y,
        cv,
        prices=close,
        return_predictions=True,
        verbose=args.verbose,
        progress=not args.quiet,
    )
    summary = summarize(results)
    columns = [
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "log_loss",
        "sharpe",
        "cumulative_return",
        "max_drawdown",
    ]
    say(summary[[c for c in columns if c in summary]].round(3).to_string())
    return results, predictions


# -- jobs -------------------------------------------------------------------
def demo(args, say):
    from .datasets import load_sp500
    from .evaluate import summarize

    start = time.perf_counter()
    out = Path(args.out)
    check_output(out, "--out", folder=True)
    bars = load_sp500()
    say(
        f"S&P 500 daily bars {bars.index[0]:%Y-%m-%d} .. {bars.index[-1]:%Y-%m-%d} "
        f"({len(bars)} rows), bundled with the package."
    )
    X, y, close = features_and_labels(bars, "close", args.horizon, args.threshold)
    counts = y.value_counts(normalize=True).round(2).to_dict()
    say(f"{X.shape[1]} causal features, {len(y)} labelled rows; classes {counts}")
    pipe, preset, length = build_pipeline(args, say)
    _check_rows(X, length, args.cv)
    results, predictions = evaluate(pipe, X, y, close, args, say)

    say("Fitting the final model on every labelled row ...")
    # The importance plot needs the networks' permutation importances: measured
    # during this fit, so that the saved model holds numbers, never rows.
    pipe.set_params(ensemble__importance="fit").fit(X, y)
    model_path = out / "model.skens"
    kind = save_model(pipe, model_path)
    artifacts = [model_path]
    if results is not None:
        write_atomically(
            out / "walk_forward.csv", lambda t: results.to_csv(t, index=False)
        )
        write_atomically(out / "predictions.csv", predictions.to_csv)
        artifacts += [out / "walk_forward.csv"]
        artifacts += write_plots(out, predictions, pipe, y, say, args.horizon)
    artifacts += write_explanation(out, pipe, X, say)
    uri = args.tracking_uri or f"sqlite:///{(out / 'mlflow.db').resolve()}"
    params = dict(
        preset=preset,
        sequence_length=length,
        horizon=args.horizon,
        cv=args.cv,
        seed=args.seed,
        device=args.device,
    )
    summary = summarize(results) if results is not None else None
    run_id = log_to_mlflow(uri, params, summary, artifacts, say)
    say(f"Done in {time.perf_counter() - start:.0f} s. Wrote to {out}/:")
    for path in artifacts:
        say(f"  {path.name}")
    say(f"  model format: {kind}")
    if run_id:
        say(
            f"MLflow run {run_id} in {uri} "
            f"(browse: mlflow ui --backend-store-uri {uri})"
        )


def training_data(args):
    """X, y and (for OHLCV input) the close prices of the fit/tune commands."""
    table = read_table(args.data, args.instrument)
    if args.target_from:
        X, y, close = features_and_labels(
            table, args.target_from, args.horizon, args.threshold
        )
    else:
        if args.label_column not in table:
            raise JobError(
                f"label column {args.label_column!r} not found; the columns are "
                f"{list(table.columns)}"
            )
        y = table[args.label_column]
        X = _numeric(table.drop(columns=args.label_column), args.data)
        keep = y.notna()
        X, y, close = X[keep], y[keep], None
    return X, y, close


def fit(args, say):
    check_output(args.out, "--out", [("data", args.data)])
    X, y, close = training_data(args)
    pipe, _, length = build_pipeline(args, say)
    _check_rows(X, length, args.cv)
    if close is not None:
        evaluate(pipe, X, y, close, args, say)
    pipe.fit(X, y)
    kind = save_model(pipe, args.out)
    say(f"Model ({kind} format) written to {args.out}")


def predict(args, say):
    if args.out:
        inputs = [("model", args.model), ("data", args.data)]
        check_output(args.out, "--out", inputs)
    pipe = load_model(args.model, args.allow_pickle)
    table = read_table(args.data, args.instrument)
    expected = getattr(pipe, "feature_names_in_", None)
    if expected is not None and set(expected) - set(table.columns):
        from . import MarketFeatures

        # Price input (OHLCV bars, or closes alone) for a model fitted on
        # MarketFeatures: build them.
        table = MarketFeatures().fit_transform(table)
        missing = [name for name in expected if name not in table.columns]
        if missing:
            raise JobError(
                f"{args.data}: the model reads the features {missing}, which "
                "need price columns this file lacks (high and low, or volume); "
                "pass the columns the model was fitted on"
            )
    X = _numeric(table[list(expected)] if expected is not None else table, args.data)
    complete = X.notna().all(axis=1).to_numpy()
    if not complete.any():
        raise JobError(f"{args.data}: no row has every feature; pass more history")
    # Feature warm-up rows (NaN) get no prediction; every row stays in the
    # output. A gap further on is refused: windows would step over it.
    _check_missing(X, args.data)
    frame = pd.DataFrame(
        np.nan, index=X.index, columns=[f"proba_{c}" for c in pipe.classes_]
    )
    proba = pipe.predict_proba(X[complete])
    frame.loc[complete] = proba
    frame["label"] = pd.Series(
        pipe.classes_[proba.argmax(axis=1)], index=X.index[complete]
    ).reindex(X.index)
    if not complete.all():
        say(
            f"{(~complete).sum()} leading rows lack feature history: no prediction "
            "(empty cells).",
            file=sys.stderr,
        )
    if args.out:
        write_atomically(args.out, frame.to_csv)
        say(f"{len(frame)} predictions written to {args.out}")
    else:
        frame.to_csv(sys.stdout)


def tune(args, say):
    try:
        from .tuning import tune as run_study
    except ImportError as exc:
        raise JobError(
            f"{exc}; install the tuning extra: pip install 'sklensemble[tuning]'"
        ) from exc
    from . import PurgedWalkForwardSplit

    X, y, _ = training_data(args)
    pipe, _, length = build_pipeline(args, say)
    n_splits = args.cv
    _check_rows(X, length, n_splits)
    objectives = args.objectives
    cv = PurgedWalkForwardSplit(n_splits=n_splits, purge=args.horizon)
    say(f"Tuning: {args.trials} trials, objectives {objectives}, {n_splits} folds ...")
    result = run_study(
        pipe,
        X,
        y,
        cv=cv,
        n_trials=args.trials,
        timeout=args.timeout,
        objectives=objectives,
        storage=args.storage,
        study_name=args.study,
        random_state=args.seed,
        refit=False,
        show_progress_bar=not args.quiet and sys.stderr.isatty(),
    )
    trials = result.trials_dataframe()
    values = ", ".join(f"{k} {v:.4f}" for k, v in result.best_values_.items())
    say(
        f"{len(trials)} trials in the study; Pareto front of "
        f"{len(result.pareto_front_)}; chosen trial: {values}"
    )
    for name, value in result.best_params_.items():
        say(f"  {name} = {value!r}")

"""The jobs behind the command line: demo, fit, predict, tune.

Each job reads its options from an ``argparse.Namespace`` and reports through
``say`` (``print``, or a no-op with ``--quiet``). User errors raise
:class:`JobError` with a one-line message naming the fix.
"""

import os
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

# Labels used by the demo and by `fit --target-from`: the next bar's return,
# with a hold band of 0.4 x the rolling 20-bar volatility (times sqrt(horizon)
# for longer horizons). On the S&P 500 this gives sell 30%, hold 35%, buy 35%;
# the multiplier was chosen from the class shares alone (docs/market.md).
LABELS = dict(horizon=1, volatility_window=20, volatility_multiplier=0.4)
# Sequence length on the CPU preset (the GPU preset keeps the design's 60).
FAST_SEQUENCE_LENGTH = 20
# Walk-forward test blocks: about two trading years each.
TEST_BLOCK_ROWS = 500


class JobError(Exception):
    """A user error, reported as one line."""


# -- output paths -------------------------------------------------------------
def check_output(path, option, inputs=(), folder=False):
    """Refuse an output path before any work: the job must be able to write it.

    Refused: one of the job's ``inputs`` (real paths compared, so symlinks and
    hard links count), an existing directory (or, with ``folder``, an existing
    file), a missing parent directory, and a place where no file can be
    created (probed by creating and removing one).

    Parameters
    ----------
    path : str or os.PathLike
        The output path given on the command line.
    option : str
        The option that named it, e.g. ``"--out"``, for the message.
    inputs : sequence of (option, path), default=()
        The job's input files, each with the name of its argument.
    folder : bool, default=False
        The output is a folder (the demo's), created here if missing.
    """
    path = Path(path)
    for name, source in inputs:
        if _same_file(path, source):
            raise JobError(
                f"{option} {path} is the {name} file {source}: writing there "
                f"would destroy it; choose another {option} path"
            )
    if folder and path.exists() and not path.is_dir():
        raise JobError(f"{option} {path} is a file, not a folder; choose a folder")
    if not folder and path.is_dir():
        raise JobError(
            f"{option} {path} is a directory; give a file name inside it, "
            f"e.g. {path / 'model.skens'}"
        )
    parent = path.absolute().parent
    if not parent.is_dir():
        raise JobError(
            f"{option} {path}: the folder {parent} does not exist; create it "
            "first or choose another path"
        )
    if folder:
        path.mkdir(exist_ok=True)
    _probe_writable(path if folder else parent, option, path)


def _same_file(path, other):
    other = Path(other)
    if path.resolve() == other.resolve():
        return True
    try:
        return path.exists() and other.exists() and os.path.samefile(path, other)
    except OSError:
        return False


def _probe_writable(folder, option, path):
    probe = folder / f".{uuid.uuid4().hex}.probe"
    try:
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        raise JobError(
            f"{option} {path}: cannot write in {folder} ({exc.strerror}); "
            "choose a writable place"
        ) from None


def write_atomically(path, write):
    """Write ``path`` through ``write(temporary_path)``, then move it into place.

    The temporary file sits beside ``path`` (so ``os.replace`` is atomic) and
    keeps its suffix (writers choose the format from it). An error or an
    interrupt removes it, and leaves any previous file at ``path`` as it was.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


# -- data -------------------------------------------------------------------
_DATE_COLUMNS = {"date", "datetime", "time", "timestamp"}


def read_table(path, instrument=None):
    """Read a CSV or Parquet file; a leading date column becomes the index.

    With ``instrument`` (``--instrument``), the table is a panel of many
    instruments: it comes back indexed by ``(instrument, date)``, rows in
    the file's order.
    """
    table = _read(path)
    return table if instrument is None else _as_panel(table, instrument, path)


def _read(path):
    path = Path(path)
    if not path.exists():
        raise JobError(f"no such file: {path}")
    if path.suffix.lower() in {".parquet", ".pq"}:
        table = pd.read_parquet(path)
    else:
        table = pd.read_csv(path)
    if table.empty:
        raise JobError(f"{path} holds no rows")
    first = table.columns[0]
    if str(first).lower() in _DATE_COLUMNS:
        table = table.set_index(pd.to_datetime(table[first])).drop(columns=first)
    return table


def _as_panel(table, instrument, path):
    from . import to_panel

    if instrument not in table.columns:
        raise JobError(
            f"{path}: instrument column {instrument!r} not found; the columns "
            f"are {list(table.columns)}"
        )
    dates = [c for c in table.columns if str(c).lower() in _DATE_COLUMNS]
    if dates:
        table = table.assign(**{dates[0]: pd.to_datetime(table[dates[0]])})
        return to_panel(table, instrument, date=dates[0])
    if not isinstance(table.index, pd.DatetimeIndex):
        raise JobError(
            f"{path}: a panel needs a date column (named one of "
            f"{sorted(_DATE_COLUMNS)}) to order each instrument's rows"
        )
    return to_panel(table, instrument)


def _n_periods(X):
    """Rows of one instrument, or dates of a panel (folds count dates)."""
    from ._panel import panel_keys

    keys = panel_keys(X)
    return len(X) if keys is None else keys.n_dates


def _numeric(table, path):
    bad = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if bad:
        raise JobError(f"{path}: columns {bad} are not numeric; convert or drop them")
    return table


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


def save_model(pipe, path):
    """Safe format (no pickle) when available, else joblib; both atomically."""
    try:
        from . import save
    except ImportError:
        import joblib

        write_atomically(path, lambda temporary: joblib.dump(pipe, temporary))
        return "joblib"
    save(pipe, path)  # replaces the file atomically itself
    return "safe"


def load_model(path, allow_pickle=False):
    """The model in ``path``: the safe format, or a pickle only if allowed.

    A pickle runs code when it is loaded, so one is refused unless the user
    passed ``--allow-pickle``; every other failure of the safe loader is its
    one-line ``ValueError``.
    """
    path = Path(path)
    if not path.is_file():
        raise JobError(f"no such model file: {path}")
    from ._io import _one_line, is_pickle, load

    with open(path, "rb") as file:
        is_zip = file.read(2) == b"PK"  # the safe format, even when damaged
    if is_zip or not (allow_pickle or is_pickle(path)):
        try:
            return load(path)  # a ValueError says what is wrong with the file
        except ImportError as exc:  # skops or safetensors missing
            raise JobError(str(exc)) from exc
    if not allow_pickle:
        raise JobError(
            f"{path} is a pickle: loading it can run arbitrary code; pass "
            "--allow-pickle only for files you trust"
        )
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:
        raise JobError(
            f"{path}: the pickle could not be loaded ({_one_line(exc)})"
        ) from exc


# -- outputs ----------------------------------------------------------------
def write_plots(out, predictions, pipe, y, say, horizon=0):
    """Equity curve vs buy-and-hold, confusion matrix, reliability diagram
    (purged by the label ``horizon``), feature importance (PNG)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        say("matplotlib is not installed: plots skipped (pip install matplotlib).")
        return []
    from sklearn.metrics import ConfusionMatrixDisplay

    paths = []
    ens = predictions[predictions["model"] == "ensemble"]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(
        (1 + ens["strategy_return"].fillna(0)).cumprod(),
        label="ensemble long/short/flat",
    )
    ax.plot((1 + ens["next_return"].fillna(0)).cumprod(), label="buy and hold")
    ax.set_title("Walk-forward equity (test blocks)")
    ax.legend()
    paths.append(_save(fig, out / "equity_curve.png"))

    fig, ax = plt.subplots(figsize=(5, 4))
    ConfusionMatrixDisplay.from_predictions(
        ens["y_true"], ens["y_pred"], labels=sorted(set(y)), ax=ax, colorbar=False
    )
    ax.set_title("Ensemble, walk-forward test rows")
    paths.append(_save(fig, out / "confusion_matrix.png"))

    fig = _reliability_figure(plt, predictions, horizon)
    paths.append(_save(fig, out / "reliability.png"))

    importance = pipe.named_steps["ensemble"].get_feature_importance()
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(importance) + 1))
    importance.sort_values().plot.barh(ax=ax)
    ax.set_title("Feature importance (ensemble weights)")
    paths.append(_save(fig, out / "feature_importance.png"))
    plt.close("all")
    return paths


# Rows explained in the demo's plot: the latest bars, with the look-back
# windows of the networks built from the rows before them.
_EXPLAINED_ROWS = 250


def write_explanation(out, pipe, X, say):
    """Mean |attribution| per feature and class of the latest rows (PNG)."""
    from .explain import explain_ensemble, plot_explanation

    explanation = explain_ensemble(pipe, X, last=_EXPLAINED_ROWS)
    try:
        fig = plot_explanation(explanation)
    except ImportError:
        say(
            "matplotlib is not installed: explanation plot skipped "
            "(pip install 'sklensemble[explain]')."
        )
        return []
    # The figure lays itself out (constrained layout): saved as it is.
    path = out / "explanation.png"
    return [write_atomically(path, lambda temporary: fig.savefig(temporary, dpi=110))]


def _reliability_figure(plt, predictions, horizon):
    """Members and ensemble on the walk-forward test rows after the first
    fold: as predicted, and calibrated on the earlier folds only (sigmoid)."""
    from . import calibrate_walk_forward, plot_reliability

    after = calibrate_walk_forward(predictions, gap=horizon)
    after = after[after["model"] != "prior"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    if after.empty:  # too few earlier rows to calibrate on
        return fig
    columns = [c for c in after.columns if str(c).startswith("proba_")]
    before = predictions[predictions["fold"].isin(after["fold"].unique())]
    classes = np.unique(predictions["y_true"])
    for ax, frame, title in (
        (axes[0], before, "as predicted"),
        (axes[1], after, "calibrated on earlier folds"),
    ):
        probas = {
            model: rows[columns].to_numpy()
            for model, rows in frame.groupby("model", sort=False)
            if model in set(after["model"])
        }
        y_true = frame[frame["model"] == "ensemble"]["y_true"].to_numpy()
        plot_reliability(y_true, probas, classes=classes, ax=ax, title=title)
    return fig


def _save(fig, path):
    fig.tight_layout()
    return write_atomically(path, lambda temporary: fig.savefig(temporary, dpi=110))


def log_to_mlflow(uri, params, summary, artifacts, say):
    """One MLflow run with parameters, mean walk-forward scores and artifacts.

    Written through an explicit client: the process's global MLflow state
    (tracking URI, active experiment) is left as it was. Tracking is the
    demo's last, optional output: a store that cannot be reached or written
    costs one line on stderr (the other outputs are already written) and
    the run, if one was created, ends FAILED. MLflow's retries are bounded
    (see :func:`sklensemble.tracking.autolog`), so a dead server costs
    seconds. Returns the run id, or None if nothing was logged.
    """
    try:
        from mlflow.tracking import MlflowClient

        from .tracking.http import _bounded_requests, _unreachable
    except ImportError:
        say(
            "MLflow is not installed: run not logged "
            "(pip install 'sklensemble[tracking]')."
        )
        return None
    client = run_id = None
    try:
        reason = _unreachable(uri)
        if reason is not None:
            raise ConnectionError(reason)
        with _bounded_requests():
            client = MlflowClient(tracking_uri=uri)
            run_id = _create_demo_run(client)
            _log_demo_run(client, run_id, params, summary, artifacts)
            client.set_terminated(run_id)
    except Exception as exc:  # tracking must never cost the demo's results
        reason = " ".join(str(exc).split()).split(". ")[0][:300]
        say(
            f"warning: MLflow run not logged to {uri}: {type(exc).__name__}: {reason}",
            file=sys.stderr,
        )
        _end_failed(client, run_id)
        return None
    return run_id


def _create_demo_run(client):
    experiment = client.get_experiment_by_name("sklensemble-demo")
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment("sklensemble-demo")
    )
    return client.create_run(experiment_id, run_name="demo").info.run_id


def _log_demo_run(client, run_id, params, summary, artifacts):
    for key, value in params.items():
        client.log_param(run_id, key, value)
    if summary is not None:
        for model, row in summary.iterrows():
            for metric, value in row.items():
                if pd.notna(value) and metric != "n_folds":
                    client.log_metric(run_id, f"{model}.{metric}", float(value))
    for path in artifacts:
        client.log_artifact(run_id, str(path))


def _end_failed(client, run_id):
    """Mark a half-logged run FAILED, if the store still answers."""
    if run_id is None:
        return
    from .tracking.http import _bounded_requests

    try:
        with _bounded_requests():
            client.set_terminated(run_id, status="FAILED")
    except Exception:  # the store that failed may well fail again
        pass


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


def _check_missing(X, path):
    """JobError naming the rows with a missing value after the warm-up rows."""
    from ._panel import panel_keys
    from ._validation import check_missing_values

    try:
        check_missing_values(X, panel_keys(X), allow_leading=True, name="the input")
    except ValueError as exc:
        raise JobError(f"{path}: {exc}") from None


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

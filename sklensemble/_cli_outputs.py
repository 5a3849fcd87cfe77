"""What the demo writes besides its table: plots, the explanation, the
reliability diagram, and its MLflow run (bounded, never fatal)."""

import sys

import numpy as np
import pandas as pd

from ._cli_io import write_atomically

# Rows explained in the demo's plot: the latest bars, with the look-back
# windows of the networks built from the rows before them.
_EXPLAINED_ROWS = 250


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

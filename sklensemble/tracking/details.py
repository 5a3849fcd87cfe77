"""The ensemble's own details, logged to the active MLflow run after its fit.

Per-member fit times, weights and held-out log-losses, the networks'
per-epoch losses and the boosters' per-round validation loss (stepped
metrics), reproducibility tags (see :mod:`.reproducibility`), a
confusion-matrix and a feature-importance plot, and the importance table.
A tracking failure never fails the fit: one :class:`TrackingWarning` says
what was not logged.
"""

import io
import os
import sys
import time

import numpy as np

from .._utils import _rows as _weights
from ._common import _OPTIONS, _key, _warn_from_fit
from ._fits import _is_logged_fit
from .http import _bounded_requests, _unreachable
from .reproducibility import _reproducibility_tags

_ARTIFACT_DIR = "sklensemble"
# Features shown in the importance plot (the CSV has all of them).
_MAX_PLOTTED_FEATURES = 30


def _log_ensemble_fit(ensemble, X, y, sample_weight):
    """Log what the generic autologger cannot to the active run; never raises.

    Called after :meth:`SoftVotingEnsemble.fit` (through the fit hook) only
    when ``mlflow`` is already imported and a run is active. ``X`` is the
    validated array the members were fitted on, ``y`` the labels encoded as
    ``0..n_classes-1``.
    """
    try:
        mlflow = sys.modules["mlflow"]
        run = mlflow.active_run()
        if run is None or not _OPTIONS["log_ensemble_details"]:
            return
        if not _is_logged_fit(ensemble):
            return  # one of many fits inside the logged one
        run_id, uri = run.info.run_id, mlflow.get_tracking_uri()
    except Exception:  # tracking must never cost the fit
        return
    payload = _Payload()
    held_out = payload.collect(
        "member metrics", _member_metrics, ensemble, X, y, sample_weight
    )
    payload.collect("learning curves", _learning_curves, ensemble)
    payload.collect("reproducibility tags", _reproducibility_tags, ensemble, X, y)
    if held_out is not None and _OPTIONS["log_plots"]:
        payload.collect("confusion matrix", _confusion_matrix_png, ensemble, *held_out)
    table = payload.collect(
        "feature importances",
        _importance_table,
        ensemble,
        X,
        y,
        sample_weight,
        _OPTIONS["log_importances"],
    )
    if table is not None and _OPTIONS["log_plots"]:
        payload.collect("feature importance plot", _importance_png, table)
    payload.send(run_id, uri)


class _Payload:
    """Metrics, tags and files to log, and what could not be prepared."""

    def __init__(self):
        self.metrics = []  # (key, value, step)
        self.tags = {}
        self.files = {}  # path relative to the artifact folder -> bytes
        self.failures = []  # (what, reason)
        self.sections = []  # names of the sections prepared

    def collect(self, what, build, *args):
        """Run ``build(self, *args)``; a failure is recorded, never raised."""
        try:
            result = build(self, *args)
        except Exception as exc:
            self.failures.append((what, f"{type(exc).__name__}: {exc}"))
            return None
        self.sections.append(what)
        return result

    def metric(self, key, value, step=0):
        self.metrics.append((key, float(value), int(step)))

    def send(self, run_id, uri):
        """Log everything prepared; warn once about whatever was not logged."""
        files = [s for s in self.sections if s in _ARTIFACT_SECTIONS]
        unsent = [s for s in self.sections if s not in _ARTIFACT_SECTIONS] + files
        try:
            reason = _unreachable(uri)
            if reason is not None:
                raise ConnectionError(reason)
            with _bounded_requests():
                _send_batch(run_id, self.metrics, self.tags)
                unsent = files
                if self.files:
                    _send_files(run_id, self.files)
            unsent = []
        except Exception as exc:
            self.failures.extend((what, None) for what in unsent)
            self.failures.append((None, f"{type(exc).__name__}: {exc}"))
        if self.failures:
            _warn_not_logged(run_id, uri, self.failures)


_ARTIFACT_SECTIONS = (
    "confusion matrix",
    "feature importances",
    "feature importance plot",
)


def _member_metrics(payload, ensemble, X, y, sample_weight):
    """Fit times, weights, iterations and held-out log-losses.

    "val" is each member's own early-stopping tail: the last
    ``validation_fraction`` of the rows, which the final member never trained
    on (nor on the ``validation_gap`` rows before them). The ensemble's val
    metrics use the rows every member held out.
    Returns ``(y_true, proba)`` on those rows, or None if there are none.
    """
    from .._panel import panel_keys
    from .._utils import _final_step, _log_loss, _nonzero_weights

    keys = panel_keys(X)
    dates = None if keys is None else keys.date
    n_rows = X.shape[0]
    tails = {}
    for name, est in zip(ensemble.weights_, ensemble.estimators_, strict=True):
        prefix = f"member.{_key(name)}"
        final = _final_step(est)
        payload.metric(f"{prefix}.fit_time_s", ensemble.fit_times_[name])
        payload.metric(f"{prefix}.weight", ensemble.weights_[name])
        iterations = getattr(final, "n_epochs_", getattr(final, "n_estimators_", None))
        if iterations is not None:
            payload.metric(f"{prefix}.n_iterations", iterations)
        valid = _held_out_rows(final, n_rows, dates)
        if valid is None:
            continue
        proba = ensemble._tail_proba(est, X, valid)
        mask = np.zeros(n_rows, dtype=bool)
        mask[valid] = True
        tails[name] = (mask, proba)
        loss = _log_loss(
            proba, y[mask], _nonzero_weights(_weights(sample_weight, mask))
        )
        payload.metric(f"{prefix}.val_log_loss", loss)
        payload.metric(f"{prefix}.val_rows", int(mask.sum()))
    if not tails or len(tails) < len(ensemble.estimators_):
        return None
    common = np.logical_and.reduce([mask for mask, _ in tails.values()])
    proba = sum(
        ensemble.weights_[name] * member[common[mask]]
        for name, (mask, member) in tails.items()
    )
    y_true = y[common]
    payload.metric(
        "ensemble.val_log_loss",
        _log_loss(proba, y_true, _nonzero_weights(_weights(sample_weight, common))),
    )
    payload.metric("ensemble.val_accuracy", float(np.mean(proba.argmax(1) == y_true)))
    payload.metric("ensemble.val_rows", int(common.sum()))
    return y_true, proba


def _held_out_rows(final, n_rows, dates):
    """The member's own validation rows (the last rows, or a panel's last
    dates), or None if it had none."""
    from .._validation import tail_rows

    fraction = getattr(final, "validation_fraction", None)
    if fraction is None:
        return None
    net = getattr(final, "net_", None)
    if net is not None:
        held_out = bool(net.history) and "valid_loss" in net.history[-1]
    else:
        held_out = bool(_booster_evals(final))
    if not held_out:
        return None
    return tail_rows(n_rows, fraction, dates, getattr(final, "validation_gap", 0))[1]


def _booster_evals(final):
    """``{dataset: {metric: [per-round values]}}`` of a booster member, or {}."""
    try:
        evals = final.model_.evals_result_
    except Exception:  # not a booster, or fitted without an eval set
        return {}
    return evals if isinstance(evals, dict) else {}


def _learning_curves(payload, ensemble):
    """Per-epoch losses of the networks, per-round validation loss of boosters."""
    from .._utils import _final_step

    for name, est in zip(ensemble.weights_, ensemble.estimators_, strict=True):
        prefix = f"member.{_key(name)}"
        final = _final_step(est)
        net = getattr(final, "net_", None)
        if net is not None:
            for row in net.history:
                for key in ("train_loss", "valid_loss"):
                    if key in row:
                        payload.metric(f"{prefix}.{key}", row[key], step=row["epoch"])
            continue
        for values in _booster_evals(final).values():
            for metric, curve in values.items():
                for step, value in enumerate(curve, start=1):
                    payload.metric(f"{prefix}.valid_{_key(metric)}", value, step=step)


def _confusion_matrix_png(payload, ensemble, y_true, proba):
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    labels = np.arange(len(ensemble.classes_))
    matrix = confusion_matrix(y_true, proba.argmax(1), labels=labels)
    fig = _figure(5, 4.5)
    ax = fig.subplots()
    ConfusionMatrixDisplay(matrix, display_labels=ensemble.classes_).plot(
        ax=ax, colorbar=False
    )
    ax.set_title(f"Ensemble on the held-out tail ({len(y_true)} rows)")
    payload.files["confusion_matrix_val.png"] = _png(fig)


def _importance_table(payload, ensemble, X, y, sample_weight, measure):
    """Each member's importances and their combination, as CSV; the table.

    With ``measure``, permutation importances the fit did not measure
    (``importance="auto"``) are measured on the tail of the training rows at
    hand: the ensemble keeps no rows to measure them later. Without, a
    member lacking importances has an empty column, and the combination is
    left out.
    """
    from .._panel import panel_keys

    importances = ensemble._importances
    if measure and ensemble.importance is not None:
        keys = panel_keys(X)
        dates = None if keys is None else keys.date
        importances = ensemble._tail_importances(
            importances, X, y, sample_weight, dates
        )
    table = ensemble._importance_frame(importances, by_member=True)
    try:
        table["ensemble"] = ensemble._importance_frame(importances)
    except ValueError:  # a weighted member has none (importance=None)
        pass
    payload.files["feature_importance.csv"] = table.to_csv().encode()
    return table


def _importance_png(payload, table):
    order = table["ensemble" if "ensemble" in table else table.columns[0]]
    shown = table.loc[order.sort_values(ascending=False).index[:_MAX_PLOTTED_FEATURES]]
    fig = _figure(7, 1.5 + 0.3 * len(shown) * max(1, len(shown.columns) / 3))
    ax = fig.subplots()
    shown.iloc[::-1].plot.barh(ax=ax, width=0.8)
    ax.set_xlabel("normalised importance")
    ax.set_title("Feature importance by member")
    payload.files["feature_importance.png"] = _png(fig)


def _figure(width, height):
    # A bare Figure renders with Agg and leaves pyplot's global state alone.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _send_batch(run_id, metrics, tags):
    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    MlflowClient().log_batch(
        run_id,
        metrics=[Metric(key, value, now, step) for key, value, step in metrics],
        tags=[RunTag(key, value) for key, value in tags.items()],
        synchronous=True,
    )


def _send_files(run_id, files):
    import tempfile

    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as folder:
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
        MlflowClient().log_artifacts(run_id, folder, artifact_path=_ARTIFACT_DIR)


def _warn_not_logged(run_id, uri, failures):
    missing = [what for what, _ in failures if what is not None]
    reasons = sorted({reason for _, reason in failures if reason is not None})
    _warn_from_fit(
        f"sklensemble could not log {', '.join(missing) or 'its details'} to "
        f"MLflow run {run_id} (tracking URI {uri}): {'; '.join(reasons)}. The "
        "model was fitted normally; only its tracking is incomplete."
    )

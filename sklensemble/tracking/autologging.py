"""Autologging: MLflow's scikit-learn autologging, extended to sklensemble.

:func:`autolog` turns on :func:`mlflow.sklearn.autolog` and records its
configuration. sklensemble's estimators are not among the classes MLflow
patches, so they log themselves: after each successful fit, the fit hook
(:func:`_after_fit`, registered with :mod:`sklensemble._hooks` when this
package is imported) gives a bare sklensemble estimator fitted under
:func:`autolog` a run of its own, and lets an ensemble log its details
(:mod:`.details`) to the active run, autologged or manual.
"""

import inspect
import sys

import numpy as np
from scipy.sparse import issparse

from . import details
from ._common import _OPTIONS, _import_mlflow, _warn_from_fit
from ._fits import _outermost_fit
from ._mlflow_private import _sklearn_autolog_config, _sklearn_autolog_disabled
from .http import _bounded_requests, _hold_http_limits, _unreachable

# The configuration of the last autolog() call (mlflow.sklearn.autolog's
# parameters), or empty when it was turned off.
_AUTOLOG = {}
# Rows of the training data stored as the model's input example.
_EXAMPLE_ROWS = 5
# MLflow's limits: characters of a parameter value, parameters per request.
_MAX_PARAM_LENGTH = 6000
_PARAMS_PER_BATCH = 100


def autolog(
    *,
    log_input_examples=True,
    log_ensemble_details=True,
    log_importances=False,
    log_plots=True,
    disable=False,
    **kwargs,
):
    """Turn on MLflow's scikit-learn autologging, extended to sklensemble.

    Calls :func:`mlflow.sklearn.autolog`, which logs scikit-learn's classes
    (a :class:`~sklearn.pipeline.Pipeline` around the ensemble included),
    and has sklensemble log its own estimators fitted on their own
    (:class:`~sklensemble.SoftVotingEnsemble`,
    :class:`~sklensemble.AttentionLSTMClassifier`,
    :class:`~sklensemble.TransformerClassifier`,
    :class:`~sklensemble.XGBoostClassifier` and
    :class:`~sklensemble.LightGBMClassifier`), which MLflow does not patch:
    after such a fit succeeds, one run gets their parameters, training
    metrics (``training_score``, ``training_accuracy_score``,
    ``training_log_loss``, ...), model, input example and training data, as
    MLflow's autologging would. Fits nested in a logged fit (the ensemble
    inside a Pipeline, the members inside the ensemble) are not logged
    again.

    Read more in ``docs/tracking.md``.

    Parameters
    ----------
    log_input_examples : bool, default=True
        Store the first rows of the training data with the model (MLflow's
        own default is False). Together with the signature, this is what
        ``mlflow models serve`` uses to validate requests.
    log_ensemble_details : bool, default=True
        Let :class:`~sklensemble.SoftVotingEnsemble` log its details
        (member metrics, learning curves, reproducibility tags, plots) to
        the active run; applies to manual runs too.
    log_importances : bool, default=False
        Measure the permutation importances the fit did not (network
        members, see the ensemble's ``importance``) for the
        feature-importance table and plot: ``3 x n_features`` predictions
        of each network on the validation tail, which can cost more than
        the rest of the tracking together. When False, the table holds the
        importances the fit already has (the boosters' own, and any
        measured with ``importance="fit"``); the others are empty.
    log_plots : bool, default=True
        Render the confusion-matrix (and importance) plots; rendering with
        matplotlib costs a fraction of a second per fit.
    disable : bool, default=False
        Turn autologging off again (the ensemble's details for manual runs
        follow ``log_ensemble_details``), and MLflow's HTTP settings with it.
    **kwargs
        Passed to :func:`mlflow.sklearn.autolog` (``log_models``,
        ``log_datasets``, ``registered_model_name``, ``silent``, ...). Leave
        ``serialization_format`` at ``"cloudpickle"``: skops cannot store
        torch networks (log the safe format with :func:`log_model`).

    Notes
    -----
    Calling :func:`mlflow.sklearn.autolog` or :func:`mlflow.autolog`
    afterwards replaces this configuration with MLflow's own, which leaves
    bare sklensemble estimators out again.

    A bare sklensemble estimator's run is created once its fit has
    succeeded (MLflow creates a scikit-learn estimator's run before the
    fit): an interrupted or failed fit leaves no run, and the run's start
    and end times span the logging, not the fit. If the tracking server
    cannot be reached, one :class:`TrackingWarning` says that nothing of the
    fit was logged.

    While autologging is on, MLflow's HTTP requests retry once (back-off
    factor 1) and time out after 10 seconds (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``,
    ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``, ``MLFLOW_HTTP_REQUEST_TIMEOUT``),
    so that a dead tracking server costs each fit seconds rather than
    MLflow's minutes of retries. MLflow creates each autologged run before
    any sklensemble code runs, so these settings hold for the process until
    ``autolog(disable=True)``; a value you set in the environment wins.

    Examples
    --------
    >>> import mlflow  # doctest: +SKIP
    >>> from sklensemble import make_ensemble_pipeline, tracking
    >>> mlflow.set_tracking_uri("sqlite:///mlflow.db")  # doctest: +SKIP
    >>> tracking.autolog()  # doctest: +SKIP
    >>> pipe = make_ensemble_pipeline(preset="fast").fit(X, y)  # doctest: +SKIP
    >>> mlflow.last_active_run().data.metrics["member.lstm.val_log_loss"]
    ... # doctest: +SKIP
    1.07...
    """
    _import_mlflow()
    import mlflow.sklearn

    _OPTIONS.update(
        log_ensemble_details=bool(log_ensemble_details),
        log_importances=bool(log_importances),
        log_plots=bool(log_plots),
    )
    _hold_http_limits("autolog", not disable)
    # A dict of our own: while MLflow's configuration holds this very object,
    # it is the one set here (see _autolog_in_force).
    extra_tags = dict(kwargs.pop("extra_tags", None) or {})
    mlflow.sklearn.autolog(
        log_input_examples=log_input_examples,
        disable=disable,
        extra_tags=extra_tags,
        **kwargs,
    )
    _AUTOLOG.clear()
    if not disable:
        defaults = {
            name: param.default
            for name, param in inspect.signature(
                mlflow.sklearn.autolog
            ).parameters.items()
        }
        _AUTOLOG.update(
            defaults,
            **kwargs,
            log_input_examples=log_input_examples,
            extra_tags=extra_tags,
        )


def _after_fit(estimator, X, y, sample_weight=None, **fitted):
    """The fit hook: a run for a bare fit under autolog, the ensemble's details.

    ``X``, ``y`` and ``sample_weight`` are what ``fit`` was given; an
    ensemble adds ``X_fit``, ``y_fit`` and ``sample_weight_fit`` (the
    validated rows and encoded labels its members saw). Never raises.
    """
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:  # tracking is optional: never import MLflow here
        return
    try:
        bare = (
            _autolog_in_force()
            and mlflow.active_run() is None
            and _outermost_fit() is estimator
        )
    except Exception:  # tracking must never cost the fit
        return
    if bare:
        _log_bare_fit(estimator, X, y, sample_weight, fitted)
    elif "X_fit" in fitted:
        details._log_ensemble_fit(
            estimator, fitted["X_fit"], fitted["y_fit"], fitted["sample_weight_fit"]
        )


def _autolog_in_force():
    """True while MLflow's scikit-learn autologging runs with autolog()'s settings.

    Turned off by ``autolog(disable=True)``, and by a later call of
    :func:`mlflow.sklearn.autolog` or :func:`mlflow.autolog`, which replaces
    the configuration (and with it the ``extra_tags`` object set here).
    """
    if not _AUTOLOG:
        return False
    return (
        not _sklearn_autolog_disabled()
        and _sklearn_autolog_config("extra_tags") is _AUTOLOG["extra_tags"]
    )


def _log_bare_fit(estimator, X, y, sample_weight, fitted):
    """One run for a sklensemble estimator fitted on its own; never raises.

    The run ends FINISHED, or FAILED when logging is interrupted; what
    could not be logged is reported in one :class:`TrackingWarning`.
    """
    mlflow = sys.modules["mlflow"]
    uri = mlflow.get_tracking_uri()
    try:
        reason = _unreachable(uri)
        if reason is not None:
            raise ConnectionError(reason)
        with _bounded_requests():
            run = mlflow.start_run(tags=_run_tags(estimator))
    except Exception as exc:
        _warn_no_run(uri, f"{type(exc).__name__}: {exc}")
        return
    failures = []
    with run, _bounded_requests():
        for what, log in (
            ("parameters", _log_params),
            ("training metrics", _log_training_metrics),
            ("model", _log_model),
            ("training data", _log_dataset),
        ):
            try:
                log(mlflow, estimator, X, y, sample_weight)
            except Exception as exc:
                failures.append((what, f"{type(exc).__name__}: {exc}"))
        if "X_fit" in fitted:
            details._log_ensemble_fit(
                estimator,
                fitted["X_fit"],
                fitted["y_fit"],
                fitted["sample_weight_fit"],
            )
    if failures:
        details._warn_not_logged(run.info.run_id, uri, failures)


def _run_tags(estimator):
    cls = type(estimator)
    return {
        "estimator_name": cls.__name__,
        "estimator_class": f"{cls.__module__}.{cls.__qualname__}",
        **_AUTOLOG["extra_tags"],
    }


def _log_params(mlflow, estimator, X, y, sample_weight):
    """``get_params(deep=True)``, as text cut to MLflow's length limit."""
    params = [
        (key, str(value)[:_MAX_PARAM_LENGTH])
        for key, value in estimator.get_params(deep=True).items()
    ]
    for start in range(0, len(params), _PARAMS_PER_BATCH):
        mlflow.log_params(dict(params[start : start + _PARAMS_PER_BATCH]))


def _log_training_metrics(mlflow, estimator, X, y, sample_weight):
    """MLflow's training metrics of a classifier, from one prediction.

    The predicted class is the most probable one, as every sklensemble
    classifier predicts; ``training_score`` is ``score``'s accuracy.
    """
    from sklearn import metrics

    proba = estimator.predict_proba(X)
    classes = estimator.classes_
    predicted = classes[proba.argmax(axis=1)]
    weighted = {"sample_weight": sample_weight}
    average = {"average": "weighted", "zero_division": 0, **weighted}
    values = {
        "training_score": metrics.accuracy_score(y, predicted, **weighted),
        "training_accuracy_score": metrics.accuracy_score(y, predicted, **weighted),
        "training_precision_score": metrics.precision_score(y, predicted, **average),
        "training_recall_score": metrics.recall_score(y, predicted, **average),
        "training_f1_score": metrics.f1_score(y, predicted, **average),
        "training_log_loss": metrics.log_loss(y, proba, labels=classes, **weighted),
    }
    if len(np.unique(y)) == len(classes):  # ROC AUC needs every class present
        scores = proba[:, 1] if len(classes) == 2 else proba
        values["training_roc_auc"] = metrics.roc_auc_score(
            y, scores, multi_class="ovr", average="weighted", **weighted
        )
    mlflow.log_metrics({key: float(value) for key, value in values.items()})


def _log_model(mlflow, estimator, X, y, sample_weight):
    """The model as MLflow's scikit-learn flavour, with example and signature."""
    if not _AUTOLOG.get("log_models", True):
        return
    import mlflow.sklearn
    from mlflow.models import infer_signature

    rows = _first_rows(X)
    signature = None
    if rows is not None and _AUTOLOG.get("log_model_signatures", True):
        signature = infer_signature(rows, estimator.predict(rows))
    mlflow.sklearn.log_model(
        estimator,
        name="model",
        serialization_format=_AUTOLOG.get("serialization_format", "cloudpickle"),
        input_example=rows if _AUTOLOG.get("log_input_examples") else None,
        signature=signature,
        registered_model_name=_AUTOLOG.get("registered_model_name"),
    )


def _log_dataset(mlflow, estimator, X, y, sample_weight):
    """The training data's description (digest, schema) as the run's input."""
    if not _AUTOLOG.get("log_datasets", True) or issparse(X):
        return
    import mlflow.data
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        dataset = mlflow.data.from_pandas(X)
    else:
        dataset = mlflow.data.from_numpy(np.asarray(X), targets=np.asarray(y))
    mlflow.log_input(dataset, context="train")


def _first_rows(X):
    """The first rows of ``X`` as an input example, or None (sparse input)."""
    if issparse(X):
        return None
    if hasattr(X, "iloc"):
        return X.iloc[:_EXAMPLE_ROWS]
    return np.asarray(X)[:_EXAMPLE_ROWS]


def _warn_no_run(uri, reason):
    _warn_from_fit(
        f"sklensemble.tracking.autolog() is on, but no MLflow run could be "
        f"started for this fit (tracking URI {uri}: {reason}). Nothing of "
        "this fit was logged: no parameters, metrics, model or ensemble "
        "details. The model was fitted normally; check the URI "
        "(mlflow.set_tracking_uri or MLFLOW_TRACKING_URI)."
    )

"""MLflow tracking for sklensemble: autologging, ensemble details, model logging.

MLflow is optional: importing this module does not import it, and fitting
never imports it. What this module adds to MLflow:

* :func:`autolog` -- MLflow's scikit-learn autologging, extended to
  sklensemble's own estimators fitted on their own (MLflow patches only
  scikit-learn's classes; a bare :class:`~sklensemble.SoftVotingEnsemble`
  would otherwise be skipped silently).
* Ensemble details: at the end of :meth:`SoftVotingEnsemble.fit`, when
  ``mlflow`` is already imported and a run is active (autologging or
  ``mlflow.start_run()``), the ensemble logs per-member fit times, weights
  and held-out log-losses, the networks' per-epoch losses and the boosters'
  per-round validation loss (stepped metrics), reproducibility tags, a
  confusion-matrix and a feature-importance plot, and the importance table.
  A tracking failure never fails the fit: one :class:`TrackingWarning`
  says what was not logged.
* :func:`log_model` / :func:`load_model` -- log (and register) a model as
  a pickle (MLflow's scikit-learn flavour) or in sklensemble's safe format
  (see :func:`sklensemble.save`), which MLflow serves through this module's
  pyfunc loader without unpickling anything.

Read more in ``docs/tracking.md``.
"""

import contextlib
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from importlib import metadata

import numpy as np
from scipy.sparse import issparse

__all__ = [
    "FLAVOR_NAME",
    "TrackingWarning",
    "autolog",
    "data_digest",
    "load_model",
    "log_model",
    "save_model",
]

FLAVOR_NAME = "sklensemble"
_MODEL_FILE = "model.sklensemble"
_ARTIFACT_DIR = "sklensemble"
# Seconds to wait for an HTTP tracking server before giving up on logging.
_PROBE_TIMEOUT_S = 5
# MLflow's HTTP settings (mlflow.environment_variables) for the requests
# sklensemble makes or switches on: a dead server then costs seconds, not
# MLflow's defaults of 7 retries with back-off and a 120 s timeout (minutes).
# A value the user set in the environment wins.
_HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
# What the pyfunc model's predict returns, chosen per request through the
# "predict_method" param of its signature (default chosen at log time).
_PREDICT_METHODS = ("predict", "predict_proba", "predict_proba_last")
# Features shown in the importance plot (the CSV has all of them).
_MAX_PLOTTED_FEATURES = 30
_VERSIONED = (
    "sklensemble",
    "scikit-learn",
    "numpy",
    "pandas",
    "scipy",
    "torch",
    "skorch",
    "xgboost",
    "lightgbm",
    "mlflow",
)
# Set by autolog(); read by the hook in SoftVotingEnsemble.fit.
_OPTIONS = {"log_ensemble_details": True, "log_importances": False, "log_plots": True}
# The git state per working directory, read once per process: two git
# processes per fit cost more than the rest of the tags together.
_GIT_STATES = {}


@contextlib.contextmanager
def _details_suspended():
    """Fits inside the block log no ensemble details; the setting is restored after."""
    before = _OPTIONS["log_ensemble_details"]
    _OPTIONS["log_ensemble_details"] = False
    try:
        yield
    finally:
        _OPTIONS["log_ensemble_details"] = before


class TrackingWarning(UserWarning):
    """Something could not be logged to MLflow; the model itself is unaffected.

    Examples
    --------
    >>> import warnings
    >>> from sklensemble.tracking import TrackingWarning
    >>> issubclass(TrackingWarning, UserWarning)
    True
    """


# -- autologging ---------------------------------------------------------------
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

    Calls :func:`mlflow.sklearn.autolog` so that, in addition to
    scikit-learn's classes (a :class:`~sklearn.pipeline.Pipeline` around the
    ensemble included), :class:`~sklensemble.SoftVotingEnsemble`,
    :class:`~sklensemble.AttentionLSTMClassifier`,
    :class:`~sklensemble.TransformerClassifier`,
    :class:`~sklensemble.XGBoostClassifier` and
    :class:`~sklensemble.LightGBMClassifier` fitted on their own each get a
    run with their parameters, training metrics and model. Fits nested in a
    logged fit (the ensemble inside a Pipeline, the members inside the
    ensemble) are not logged again.

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
    import mlflow.sklearn as mlflow_sklearn

    _OPTIONS.update(
        log_ensemble_details=bool(log_ensemble_details),
        log_importances=bool(log_importances),
        log_plots=bool(log_plots),
    )
    _hold_http_limits("autolog", not disable)
    generate = getattr(mlflow_sklearn, "_gen_estimators_to_patch", None)
    if generate is None or not callable(generate):
        warnings.warn(
            "This MLflow version does not expose the list of estimators that "
            "autologging patches; sklensemble estimators fitted on their own "
            "will not be autologged (Pipelines still are).",
            TrackingWarning,
            stacklevel=2,
        )
        mlflow_sklearn.autolog(
            log_input_examples=log_input_examples, disable=disable, **kwargs
        )
        return

    def with_sklensemble():
        classes = list(generate())
        return classes + [cls for cls in _own_estimators() if cls not in classes]

    # MLflow reads the list once per autolog() call: extend it for this call.
    mlflow_sklearn._gen_estimators_to_patch = with_sklensemble
    try:
        mlflow_sklearn.autolog(
            log_input_examples=log_input_examples, disable=disable, **kwargs
        )
    finally:
        mlflow_sklearn._gen_estimators_to_patch = generate


def _own_estimators():
    from . import (
        AttentionLSTMClassifier,
        LightGBMClassifier,
        SoftVotingEnsemble,
        TransformerClassifier,
        XGBoostClassifier,
    )

    return [
        SoftVotingEnsemble,
        AttentionLSTMClassifier,
        TransformerClassifier,
        XGBoostClassifier,
        LightGBMClassifier,
    ]


# -- model logging, the safe flavour and its pyfunc loader --------------------
def log_model(
    model,
    name="model",
    registered_model_name=None,
    *,
    format="pickle",
    input_example=None,
    signature=None,
    predict_method="predict",
    **kwargs,
):
    """Log a model to the active MLflow run, optionally registering a version.

    Read more in ``docs/tracking.md`` ("Model registry").

    Parameters
    ----------
    model : estimator
        Fitted model, e.g. the Pipeline of :func:`make_ensemble_pipeline`.
    name : str, default="model"
        Name of the logged model (``runs:/<run_id>/<name>``).
    registered_model_name : str or None, default=None
        Also create a new version of this registered model (created if
        absent); load it with ``models:/<registered_model_name>/<version>``.
    format : {"pickle", "safe"}, default="pickle"
        ``"pickle"``: MLflow's scikit-learn flavour with cloudpickle, as
        autologging logs it; :func:`mlflow.sklearn.load_model` loads it, and
        loading runs code from the file. ``"safe"``: the
        :func:`sklensemble.save` format under an ``sklensemble`` flavour with
        a pyfunc loader; :func:`load_model`, :func:`mlflow.pyfunc.load_model`
        and ``mlflow models serve`` load it without unpickling anything.
    input_example : DataFrame or ndarray, default=None
        A few rows of input, stored with the model (and used to infer the
        signature when ``signature`` is None).
    signature : mlflow.models.ModelSignature or None, default=None
        Input and output schema; inferred from ``input_example`` if None.
    predict_method : {"predict", "predict_proba", "predict_proba_last"}, \
            default="predict"
        Safe format only: what the served model (``mlflow.pyfunc`` and
        ``mlflow models serve``) returns when a request does not choose:
        class labels, a table of probabilities with one ``proba_<class>``
        column per class, or that table's row for the last input row alone
        (see :func:`save_model`). A request chooses with
        ``params={"predict_method": ...}``.
    **kwargs
        Passed to :func:`mlflow.sklearn.log_model` (pickle) or
        :meth:`mlflow.models.Model.log` (safe), e.g. ``pip_requirements``.

    Returns
    -------
    model_info : mlflow.models.model.ModelInfo
        Its ``model_uri`` loads the model; ``registered_model_version`` is
        set when registering.

    Examples
    --------
    >>> from sklensemble import tracking
    >>> info = tracking.log_model(pipe, "model", "market-ensemble",
    ...                           format="safe", input_example=X[:5])
    ... # doctest: +SKIP
    >>> model = tracking.load_model("models:/market-ensemble/1")  # doctest: +SKIP
    """
    if format not in ("pickle", "safe"):
        raise ValueError(f"format must be 'pickle' or 'safe', got {format!r}.")
    _check_predict_method(predict_method)
    if format == "pickle" and predict_method != "predict":
        raise ValueError(
            "predict_method applies to format='safe' only: MLflow's scikit-learn "
            "flavour serves class labels. Log with format='safe' to serve "
            "probabilities."
        )
    _import_mlflow()
    if format == "pickle":
        import mlflow.sklearn

        return mlflow.sklearn.log_model(
            model,
            name=name,
            serialization_format="cloudpickle",
            registered_model_name=registered_model_name,
            input_example=input_example,
            signature=signature,
            **kwargs,
        )
    from mlflow.models import Model

    return Model.log(
        artifact_path=None,
        name=name,
        flavor=sys.modules[__name__],
        registered_model_name=registered_model_name,
        model=model,
        input_example=input_example,
        signature=signature,
        predict_method=predict_method,
        **kwargs,
    )


def save_model(
    model,
    path,
    *,
    mlflow_model=None,
    signature=None,
    input_example=None,
    metadata=None,
    pip_requirements=None,
    extra_pip_requirements=None,
    predict_method="predict",
):
    """Save a model as an MLflow model directory in the safe format.

    The directory holds ``model.sklensemble`` (see :func:`sklensemble.save`),
    an ``MLmodel`` file with an ``sklensemble`` flavour and a
    ``python_function`` flavour whose loader is this module, the input
    example, and pip/conda/python environment files.

    The pyfunc model answers each request with what its ``predict_method``
    param asks for (declared in the signature's params, with
    ``predict_method`` as its default):

    * ``"predict"``: the class labels, one per row;
    * ``"predict_proba"``: a DataFrame with one column per class, in the
      order of ``classes_``, named ``proba_<class>`` (``proba_buy``,
      ``proba_hold``, ``proba_sell``), one row per input row;
    * ``"predict_proba_last"``: the same columns, one row: the last input
      row's probabilities, computed for that row alone (see
      :func:`sklensemble.predict_proba_last`).

    Parameters
    ----------
    model : estimator
        Fitted model.
    path : str or os.PathLike
        Directory to create; it must not exist.
    mlflow_model : mlflow.models.Model or None, default=None
        Model configuration to add the flavours to (set by
        :meth:`mlflow.models.Model.log`).
    signature : mlflow.models.ModelSignature or None, default=None
        Input/output schema; inferred from ``input_example`` when None.
    input_example : DataFrame or ndarray, default=None
        A few rows of input stored with the model.
    metadata : dict or None, default=None
        Free-form metadata stored in ``MLmodel``.
    pip_requirements, extra_pip_requirements : list of str, default=None
        Override or extend the default requirements (the installed versions
        of sklensemble and its dependencies).
    predict_method : {"predict", "predict_proba", "predict_proba_last"}, \
            default="predict"
        What a request that does not choose gets (see above). The inferred
        output schema is that method's; a ``signature`` without params
        gets the ``predict_method`` param added.

    Examples
    --------
    >>> from sklensemble import tracking
    >>> tracking.save_model(pipe, "exported_model")  # doctest: +SKIP
    >>> served = mlflow.pyfunc.load_model("exported_model")  # doctest: +SKIP
    >>> served.predict(X[-60:])[-1]  # doctest: +SKIP
    'buy'
    >>> served.predict(X[-60:], params={"predict_method": "predict_proba_last"})
    ... # doctest: +SKIP
       proba_buy  proba_hold  proba_sell
    0   0.412...    0.301...    0.286...
    """
    _import_mlflow()
    import yaml
    from mlflow import pyfunc
    from mlflow.models import Model
    from mlflow.models.signature import _infer_signature_from_input_example
    from mlflow.models.utils import _save_example
    from mlflow.utils.environment import (
        _CONDA_ENV_FILE_NAME,
        _CONSTRAINTS_FILE_NAME,
        _PYTHON_ENV_FILE_NAME,
        _REQUIREMENTS_FILE_NAME,
        _process_pip_requirements,
        _PythonEnv,
    )

    from . import __version__
    from ._io import save

    _check_predict_method(predict_method)
    path = os.fspath(path)
    if os.path.exists(path):
        raise FileExistsError(f"{path} already exists; choose a new directory.")
    os.makedirs(path)
    mlflow_model = Model() if mlflow_model is None else mlflow_model
    save(model, os.path.join(path, _MODEL_FILE))
    example = _save_example(mlflow_model, input_example, path)
    if signature is None and example is not None:
        signature = _infer_signature_from_input_example(
            example, _PyfuncModel(model, predict_method)
        )
    mlflow_model.signature = _with_predict_method_param(signature, predict_method)
    if metadata is not None:
        mlflow_model.metadata = metadata
    pyfunc.add_to_model(
        mlflow_model,
        loader_module=__name__,
        data=_MODEL_FILE,
        conda_env=_CONDA_ENV_FILE_NAME,
        python_env=_PYTHON_ENV_FILE_NAME,
        model_config={"predict_method": predict_method},
    )
    mlflow_model.add_flavor(
        FLAVOR_NAME, data=_MODEL_FILE, format="safe", sklensemble_version=__version__
    )
    mlflow_model.save(os.path.join(path, "MLmodel"))
    conda_env, requirements, constraints = _process_pip_requirements(
        _default_requirements(), pip_requirements, extra_pip_requirements
    )
    with open(os.path.join(path, _CONDA_ENV_FILE_NAME), "w") as f:
        yaml.safe_dump(conda_env, stream=f, default_flow_style=False)
    if constraints:
        with open(os.path.join(path, _CONSTRAINTS_FILE_NAME), "w") as f:
            f.write("\n".join(constraints))
    with open(os.path.join(path, _REQUIREMENTS_FILE_NAME), "w") as f:
        f.write("\n".join(requirements))
    _PythonEnv.current().to_yaml(os.path.join(path, _PYTHON_ENV_FILE_NAME))


def load_model(model_uri, *, device=None, allow_pickle=False):
    """Load a model logged by :func:`log_model` (or autologging).

    Parameters
    ----------
    model_uri : str
        ``runs:/<run_id>/<name>``, ``models:/<name>/<version>``, a
        ``models:/<model_id>`` URI or a local directory.
    device : str or None, default=None
        Device of the networks of a safe-format model (see
        :func:`sklensemble.load`).
    allow_pickle : bool, default=False
        Also load pickle-format models (MLflow's scikit-learn flavour, what
        autologging logs). Loading a pickle runs code stored in the file:
        allow it only for artifacts from a trusted source.

    Returns
    -------
    model : estimator

    Raises
    ------
    ValueError
        If the model is in pickle format and ``allow_pickle`` is False, or
        is not a scikit-learn/sklensemble model.

    Examples
    --------
    >>> from sklensemble import tracking
    >>> model = tracking.load_model("models:/market-ensemble/1")  # doctest: +SKIP
    """
    _import_mlflow()
    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    from ._io import load

    local = download_artifacts(artifact_uri=model_uri)
    flavors = Model.load(os.path.join(local, "MLmodel")).flavors
    if FLAVOR_NAME in flavors:
        return load(os.path.join(local, flavors[FLAVOR_NAME]["data"]), device=device)
    if "sklearn" in flavors:
        if not allow_pickle:
            raise ValueError(
                f"{model_uri} is stored as a pickle, which runs code when it is "
                "loaded. Pass allow_pickle=True if you trust its source, or log "
                "it with sklensemble.tracking.log_model(..., format='safe')."
            )
        import mlflow.sklearn

        return mlflow.sklearn.load_model(model_uri)
    raise ValueError(
        f"{model_uri} has no sklensemble or sklearn flavour (it has "
        f"{sorted(flavors)}); it was not logged by sklensemble or scikit-learn."
    )


class _PyfuncModel:
    """What ``mlflow.pyfunc`` serves: labels or named probabilities.

    ``predict`` answers with the method the request's ``predict_method``
    param names, else with the one chosen when the model was logged.
    """

    def __init__(self, model, predict_method="predict"):
        self.model = model
        self.predict_method = predict_method

    def get_raw_model(self):
        """The sklensemble model (for ``predict_proba`` and the rest)."""
        return self.model

    def predict(self, data, params=None):
        method = (params or {}).get("predict_method") or self.predict_method
        if method not in _PREDICT_METHODS:
            from mlflow.exceptions import MlflowException

            raise MlflowException.invalid_parameter_value(
                f"predict_method must be one of {', '.join(_PREDICT_METHODS)}; "
                f"got {method!r}."
            )
        if method == "predict":
            return self.model.predict(data)
        if method == "predict_proba":
            proba = self.model.predict_proba(data)
        else:
            from ._serving import predict_proba_last

            proba = predict_proba_last(self.model, data)[np.newaxis]
        return _proba_frame(proba, self.model.classes_)


def _proba_frame(proba, classes):
    """Probabilities as a DataFrame with one ``proba_<class>`` column per class."""
    import pandas as pd

    return pd.DataFrame(proba, columns=[f"proba_{c}" for c in classes])


def _check_predict_method(predict_method):
    if predict_method not in _PREDICT_METHODS:
        raise ValueError(
            f"predict_method must be one of {', '.join(_PREDICT_METHODS)}; "
            f"got {predict_method!r}."
        )


def _with_predict_method_param(signature, predict_method):
    """``signature`` with the ``predict_method`` param (default: the given one).

    A signature that declares params of its own is kept as it is.
    """
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ParamSchema, ParamSpec

    params = ParamSchema([ParamSpec("predict_method", "string", predict_method)])
    if signature is None:
        return ModelSignature(params=params)
    if signature.params is None:
        signature.params = params
    return signature


def _load_pyfunc(path, model_config=None):
    """pyfunc loader of the safe format (``loader_module`` in ``MLmodel``)."""
    from ._io import load

    method = (model_config or {}).get("predict_method", "predict")
    return _PyfuncModel(load(path), method)


def _default_requirements():
    requirements = []
    for dist in (
        "sklensemble",
        "numpy",
        "pandas",
        "scipy",
        "scikit-learn",
        "torch",
        "skorch",
        "xgboost",
        "lightgbm",
        "skops",
        "safetensors",
    ):
        version = _version(dist)
        requirements.append(dist if version is None else f"{dist}=={version}")
    return requirements


# -- the ensemble's details (called from SoftVotingEnsemble.fit) ---------------
def _log_ensemble_fit(ensemble, X, y, sample_weight):
    """Log what the generic autologger cannot to the active run; never raises.

    Called at the end of :meth:`SoftVotingEnsemble.fit` only when ``mlflow``
    is already imported. ``X`` is the validated array the members were fitted
    on, ``y`` the labels encoded as ``0..n_classes-1``.
    """
    try:
        mlflow = sys.modules["mlflow"]
        run = mlflow.active_run()
        lost = run is None and _autolog_lost_its_run()
        if (run is None and not lost) or not _is_logged_fit(ensemble):
            return  # no run, or one of many fits inside the logged one
        if lost:
            _warn_no_run(mlflow.get_tracking_uri())
        if lost or not _OPTIONS["log_ensemble_details"]:
            return
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


def _is_logged_fit(ensemble):
    """True when this fit is the outermost fit in progress, or its refit.

    A run belongs to the outermost fit: the ensemble logs its details when
    it is that estimator, the final step of that Pipeline, or the refit of
    that search (scikit-learn sets ``best_estimator_`` before refitting
    it), not when it is one of the many fits inside a search or another
    estimator.
    """
    from sklearn.pipeline import Pipeline

    est = _outermost_fit()
    while est is not None and est is not ensemble:
        if isinstance(est, Pipeline):
            est = est.steps[-1][1]
        else:
            est = getattr(est, "best_estimator_", None)
    return est is ensemble


def _outermost_fit():
    """The estimator whose fit, in progress, encloses all others.

    Under autologging, MLflow's training sessions know it: the stack of
    patched fits, which also covers a search's fits in worker threads.
    ``mlflow.sklearn`` has no public way to read it, so its private name is
    read here and nowhere else. Without autologging (a manual run), the fits
    on this thread's call stack tell.
    """
    session = getattr(
        sys.modules.get("mlflow.sklearn"), "_SklearnTrainingSession", None
    )
    stack = getattr(session, "_session_stack", None)
    if stack:
        return getattr(stack[0], "estimator", None)
    from sklearn.base import BaseEstimator

    outermost = None
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "fit":
            owner = frame.f_locals.get("self")
            if isinstance(owner, BaseEstimator):
                outermost = owner
        frame = frame.f_back
    return outermost


@contextlib.contextmanager
def _member_fits(ensemble):
    """Fits of the ensemble's members within, never logged as runs of their own.

    Under ``mlflow.sklearn.autolog()`` a bare ensemble's fit is not patched
    (only :func:`autolog` adds sklensemble's classes), so each member that is
    a scikit-learn Pipeline would be an outermost patched fit and get a run
    of its own. Within this block the ensemble is the outermost training
    session, with no logged children, as a patched fit would be. MLflow has
    no public way to open one: its private session class is used here and
    in :func:`_outermost_fit` only. Nothing happens when scikit-learn
    autologging is off or a patched fit already encloses this one.
    """
    module = sys.modules.get("mlflow.sklearn")
    session = getattr(module, "_SklearnTrainingSession", None)
    try:
        from mlflow.utils.autologging_utils import autologging_is_disabled

        needed = (
            session is not None
            and not session._session_stack
            and not autologging_is_disabled("sklearn")
        )
    except Exception:  # tracking must never cost the fit
        needed = False
    if not needed:
        yield
        return
    with session(ensemble, allow_children=False):
        yield


def _member_metrics(payload, ensemble, X, y, sample_weight):
    """Fit times, weights, iterations and held-out log-losses.

    "val" is each member's own early-stopping tail: the last
    ``validation_fraction`` of the rows, which the final member never trained
    on (nor on the ``validation_gap`` rows before them). The ensemble's val
    metrics use the rows every member held out.
    Returns ``(y_true, proba)`` on those rows, or None if there are none.
    """
    from ._ensemble import _final_step, _log_loss, _nonzero_weights
    from ._panel import panel_keys

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


def _weights(sample_weight, rows):
    return None if sample_weight is None else sample_weight[rows]


def _held_out_rows(final, n_rows, dates):
    """The member's own validation rows (the last rows, or a panel's last
    dates), or None if it had none."""
    from ._validation import tail_rows

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
    from ._ensemble import _final_step

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


def _reproducibility_tags(payload, ensemble, X, y):
    """Package versions, seeds, data shape and hashes, git commit."""
    tags = payload.tags
    for dist in _VERSIONED:
        tags[f"sklensemble.version.{dist}"] = str(_version(dist))
    tags["sklensemble.version.python"] = sys.version.split()[0]
    seeds = {
        key: value
        for key, value in ensemble.get_params(deep=True).items()
        if key == "random_state" or key.endswith("__random_state")
    }
    for key, value in seeds.items():
        shown = (
            value if value is None or isinstance(value, int) else type(value).__name__
        )
        tags[f"sklensemble.seed.{key}"] = str(shown)
    reproducible = all(
        isinstance(v, int | np.integer) and not isinstance(v, bool)
        for v in seeds.values()
    )
    tags["sklensemble.reproducible"] = str(reproducible).lower()
    tags["sklensemble.data.n_rows"] = str(X.shape[0])
    tags["sklensemble.data.n_features"] = str(X.shape[1])
    tags["sklensemble.data.X_sha256"] = data_digest(X)
    tags["sklensemble.data.y_sha256"] = data_digest(y, ensemble.classes_)
    tags["sklensemble.data.classes"] = _short_json(ensemble.classes_.tolist())
    if hasattr(ensemble, "feature_names_in_"):
        tags["sklensemble.data.feature_names"] = _short_json(
            ensemble.feature_names_in_.tolist()
        )
    commit, dirty = _git_state()
    if commit is not None:
        tags["sklensemble.git.commit"] = commit
        tags["sklensemble.git.dirty"] = str(dirty).lower()


def data_digest(array, classes=None):
    """SHA-256 of an array's dtype, shape and values (and of class names).

    This is the ``sklensemble.data.X_sha256`` / ``y_sha256`` tag: the hash of
    the rows the ensemble was fitted on (after the Pipeline's earlier steps)
    and of its encoded labels with the class names.

    Parameters
    ----------
    array : ndarray or sparse matrix
    classes : array-like or None, default=None
        Class names the integer labels index, hashed with them.

    Returns
    -------
    digest : str
        64 hexadecimal characters.

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble.tracking import data_digest
    >>> data_digest(np.zeros((2, 3))) == data_digest(np.zeros((2, 3)))
    True
    >>> data_digest(np.zeros((2, 3))) == data_digest(np.zeros((3, 2)))
    False
    """
    h = hashlib.sha256()
    if issparse(array):
        array = array.tocsr()
        h.update(f"csr{array.shape}".encode())
        for part in (array.data, array.indices, array.indptr):
            _hash_array(h, part)
    else:
        _hash_array(h, np.asarray(array))
    if classes is not None:
        h.update(json.dumps(np.asarray(classes).tolist(), default=str).encode())
    return h.hexdigest()


def _hash_array(h, array):
    array = np.ascontiguousarray(array)
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(
        memoryview(array).cast("B")
        if array.dtype != object
        else repr(array.tolist()).encode()
    )


def _git_state():
    """(commit, dirty) of the git work tree around the current directory.

    Read once per process and directory (see ``_GIT_STATES``): a later
    commit or edit in the same process is not seen.
    """
    cwd = os.getcwd()
    if cwd not in _GIT_STATES:
        _GIT_STATES[cwd] = _read_git_state()
    return _GIT_STATES[cwd]


def _read_git_state():
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return (commit or None), bool(status.strip())


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
    from ._panel import panel_keys

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


# -- sending -----------------------------------------------------------------
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


def _unreachable(uri):
    """Why an HTTP tracking server cannot be reached, or None.

    A quick probe, so that a stopped server costs seconds rather than
    MLflow's retries with back-off (minutes with its defaults).
    """
    if not str(uri).startswith(("http://", "https://")):
        return None
    try:
        urllib.request.urlopen(
            f"{str(uri).rstrip('/')}/health", timeout=_PROBE_TIMEOUT_S
        )
    except urllib.error.HTTPError:
        return None  # it answered (e.g. 401/404 on servers without /health)
    except (urllib.error.URLError, OSError) as exc:
        return f"tracking server unreachable ({getattr(exc, 'reason', exc)})"
    return None


def _autolog_lost_its_run():
    """True when sklensemble's autolog is on yet this fit has no run.

    Under :func:`autolog` the ensemble's fit is patched (plain
    ``mlflow.sklearn.autolog()`` leaves it alone), so a fit without an
    active run means MLflow failed to create one (a wrong or unreachable
    tracking URI): MLflow then fits without logging and reports it only in
    its own log.
    """
    from mlflow.utils.autologging_utils import autologging_is_disabled

    from ._ensemble import _UNPATCHED_FIT, SoftVotingEnsemble

    patched = SoftVotingEnsemble.__dict__["fit"] is not _UNPATCHED_FIT
    return patched and not autologging_is_disabled("sklearn")


def _warn_no_run(uri):
    reason = _unreachable(uri) or "MLflow could not create a run"
    warnings.warn(
        f"sklensemble.tracking.autolog() is on, but no MLflow run could be "
        f"started for this fit (tracking URI {uri}: {reason}). Nothing of "
        "this fit was logged: no parameters, metrics, model or ensemble "
        "details. The model was fitted normally; check the URI "
        "(mlflow.set_tracking_uri or MLFLOW_TRACKING_URI).",
        TrackingWarning,
        stacklevel=3,  # SoftVotingEnsemble.fit, not MLflow's patch
    )


def _warn_not_logged(run_id, uri, failures):
    missing = [what for what, _ in failures if what is not None]
    reasons = sorted({reason for _, reason in failures if reason is not None})
    warnings.warn(
        f"sklensemble could not log {', '.join(missing) or 'its details'} to "
        f"MLflow run {run_id} (tracking URI {uri}): {'; '.join(reasons)}. The "
        "model was fitted normally; only its tracking is incomplete.",
        TrackingWarning,
        # Points at SoftVotingEnsemble.fit: a frame inside MLflow's patch
        # would make MLflow reroute the warning into its own log.
        stacklevel=4,
    )


# -- bounded requests ----------------------------------------------------------
_HTTP_LOCK = threading.Lock()
# Who holds the limits ("autolog", or a count of open _bounded_requests
# blocks), and the variables they set (those the user had not).
_HTTP_HOLDERS = {}
_HTTP_SET = []


def _hold_http_limits(holder, hold):
    """Take (``hold=True``) or release ``holder``'s hold on the HTTP limits.

    The limits are in the environment while anyone holds them; only the
    variables the user had not set are set, and removed again afterwards.
    """
    with _HTTP_LOCK:
        held = bool(_HTTP_HOLDERS)
        count = _HTTP_HOLDERS.get(holder, 0)
        if hold:
            _HTTP_HOLDERS[holder] = 1 if holder == "autolog" else count + 1
        elif count > 1:
            _HTTP_HOLDERS[holder] = count - 1
        else:
            _HTTP_HOLDERS.pop(holder, None)
        if _HTTP_HOLDERS and not held:
            _HTTP_SET[:] = [k for k in _HTTP_LIMITS if k not in os.environ]
            for key in _HTTP_SET:
                os.environ[key] = _HTTP_LIMITS[key]
        elif held and not _HTTP_HOLDERS:
            for key in _HTTP_SET:
                if os.environ.get(key) == _HTTP_LIMITS[key]:
                    del os.environ[key]
            _HTTP_SET.clear()


@contextlib.contextmanager
def _bounded_requests():
    """MLflow's HTTP retries and timeout bounded by ``_HTTP_LIMITS`` within.

    For sklensemble's own calls to MLflow: a dead or hung tracking server
    then costs seconds, not minutes. Variables the user set are left alone.
    """
    _hold_http_limits("requests", True)
    try:
        yield
    finally:
        _hold_http_limits("requests", False)


# -- helpers -----------------------------------------------------------------
def _import_mlflow():
    try:
        import mlflow
    except ImportError as exc:
        raise ImportError(
            "sklensemble.tracking needs MLflow: pip install 'sklensemble[tracking]'."
        ) from exc
    return mlflow


def _key(name):
    """A metric-key-safe version of a member or metric name."""
    return re.sub(r"[^\w\-. /]", "_", str(name))


def _short_json(value, limit=5000):
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None

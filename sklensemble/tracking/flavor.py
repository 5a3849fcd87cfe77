"""The ``sklensemble`` MLflow model flavour and its pyfunc loader.

:func:`log_model` logs a model as a pickle (MLflow's scikit-learn flavour,
as autologging does) or in sklensemble's safe format (see
:func:`sklensemble.save`) under an ``sklensemble`` flavour, which
``mlflow.pyfunc`` and ``mlflow models serve`` load through this module's
``_load_pyfunc`` without unpickling anything. Everything goes through
MLflow's public API: :func:`mlflow.pyfunc.save_model` with
``loader_module``, :meth:`mlflow.models.Model.add_flavor` and
:meth:`mlflow.models.Model.log`.
"""

import os
import sys

import numpy as np

from .._utils import _PACKAGES
from ._common import _import_mlflow, _version

FLAVOR_NAME = "sklensemble"
_MODEL_FILE = "model.sklensemble"
# What the pyfunc model's predict returns, chosen per request through the
# "predict_method" param of its signature (default chosen at log time).
_PREDICT_METHODS = ("predict", "predict_proba", "predict_proba_last")


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
    import tempfile

    from mlflow import pyfunc
    from mlflow.models import Model

    from .. import __version__
    from .._io import save

    _check_predict_method(predict_method)
    path = os.fspath(path)
    if os.path.exists(path):
        raise FileExistsError(f"{path} already exists; choose a new directory.")
    mlflow_model = Model() if mlflow_model is None else mlflow_model
    if signature is None and input_example is not None:
        signature = _inferred_signature(model, input_example, predict_method)
    if pip_requirements is None:
        # Named, not inferred: MLflow would load the model in a subprocess
        # to see what it imports.
        pip_requirements = _default_requirements() + list(extra_pip_requirements or [])
        extra_pip_requirements = None
    mlflow_model.add_flavor(
        FLAVOR_NAME,
        data=f"data/{_MODEL_FILE}",
        format="safe",
        sklensemble_version=__version__,
    )
    with tempfile.TemporaryDirectory() as folder:
        data = os.path.join(folder, _MODEL_FILE)
        save(model, data)
        pyfunc.save_model(
            path,
            loader_module=__name__,
            data_path=data,
            mlflow_model=mlflow_model,
            signature=_with_predict_method_param(signature, predict_method),
            input_example=input_example,
            pip_requirements=pip_requirements,
            extra_pip_requirements=extra_pip_requirements,
            metadata=metadata,
            model_config={"predict_method": predict_method},
        )


def _inferred_signature(model, input_example, predict_method):
    """The signature of ``predict_method``'s answer to ``input_example``."""
    from mlflow.models import infer_signature

    output = _PyfuncModel(model, predict_method).predict(input_example)
    return infer_signature(input_example, output)


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

    from .._io import load

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
            from .._serving import predict_proba_last

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
    from .._io import load

    method = (model_config or {}).get("predict_method", "predict")
    return _PyfuncModel(load(path), method)


def _default_requirements():
    requirements = []
    for dist in _PACKAGES:
        version = _version(dist)
        requirements.append(dist if version is None else f"{dist}=={version}")
    return requirements

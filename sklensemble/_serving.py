"""Serving: one prediction per new bar, and int8 networks for the CPU."""

import copy

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, RobustScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted

from ._ensemble import SoftVotingEnsemble
from ._io import _estimators
from ._sequence_base import _SequenceClassifierBase
from ._utils import _final_step, _is_passthrough
from ._validation import check_time_order


def predict_proba_last(model, X):
    """Class probabilities of the last row of ``X``, computing only that row.

    The serving fast path: a downstream service passes the last
    ``sequence_length`` rows of features for each new bar and needs the
    prediction of the newest one. ``model.predict_proba(X)`` runs the sequence
    members on every window of ``X``; this runs the Pipeline's earlier steps
    (e.g. the scaler, which works row by row) on the rows, then the ensemble's
    members on the last row or the last window only. The result equals
    ``model.predict_proba(X)[-1]`` to 1e-5 (the networks compute in float32;
    see :meth:`SoftVotingEnsemble.predict_proba_last`).

    For a Pipeline of scikit-learn's ``RobustScaler``, ``StandardScaler`` or
    ``MaxAbsScaler`` and a SoftVotingEnsemble (what
    :func:`make_ensemble_pipeline` builds), an array or a single-series
    DataFrame whose columns are the fitted ones in the fitted order takes a
    faster route: the input is checked once (columns, time order, finite
    numbers), the scalers' fitted centre and scale are applied to the rows,
    the boosters predict the last row through their libraries' one-row
    calls and the networks their last window in one forward pass, without
    each step's own input checks. Anything else (other steps, panels,
    sparse input, too few rows for a window, any input the checks refuse)
    takes the general route, whose errors name the problem.

    Parameters
    ----------
    model : fitted Pipeline ending in a SoftVotingEnsemble, or SoftVotingEnsemble
        For example a fitted :func:`make_ensemble_pipeline`. Steps before the
        ensemble must transform rows independently of each other (scalers,
        imputers); any other fitted classifier falls back to
        ``predict_proba(X)[-1]``.
    X : array-like or DataFrame of shape (n_samples, n_features)
        The latest rows in time order; at least ``sequence_length`` of them
        for the sequence members to see their full window.

    Returns
    -------
    proba : ndarray of shape (n_classes,)
        Columns follow ``model.classes_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import RobustScaler
    >>> from sklensemble import SoftVotingEnsemble, predict_proba_last
    >>> rng = np.random.RandomState(0)
    >>> X, y = rng.normal(size=(100, 3)), rng.randint(0, 2, 100)
    >>> pipe = make_pipeline(RobustScaler(), SoftVotingEnsemble(
    ...     [("logreg", LogisticRegression())])).fit(X, y)
    >>> last = predict_proba_last(pipe, X[-10:])
    >>> bool(np.allclose(last, pipe.predict_proba(X[-10:])[-1]))
    True
    """
    steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
    final = _final_step(model)
    if not isinstance(final, SoftVotingEnsemble):
        return model.predict_proba(X)[-1]
    final._check_fitted()  # before any step runs, as predict_proba would
    rows = _checked_rows(steps, X)
    if rows is not None:
        return final._serve_last(rows)[0]
    # Step by step rather than Pipeline.transform, which re-walks every
    # step's tags (a millisecond per call on the four-member pipeline).
    for _, step in steps[:-1]:
        if not _is_passthrough(step):
            X = step.transform(X)
    return final.predict_proba_last(X)[0]


def _scaling(step):
    """(centre, scale) of a row-wise scaler, either None when off; else False.

    The exact types only: a subclass may transform differently.
    """
    if type(step) is RobustScaler:
        return (
            step.center_ if step.with_centering else None,
            step.scale_ if step.with_scaling else None,
        )
    if type(step) is StandardScaler:
        return (
            step.mean_ if step.with_mean else None,
            step.scale_ if step.with_std else None,
        )
    if type(step) is MaxAbsScaler:
        return None, step.scale_
    return False


def _checked_rows(steps, X):
    """The rows, scaled by the Pipeline's scalers, if the fast route applies.

    None sends the call to the general route: its checks raise the errors.
    """
    scalings = [_scaling(step) for _, step in steps[:-1]]
    if False in scalings or not isinstance(X, (np.ndarray, pd.DataFrame)):
        return None
    fitted = steps[0][1]
    names = getattr(fitted, "feature_names_in_", None)
    if isinstance(X, pd.DataFrame):
        if names is None or not np.array_equal(X.columns, names):
            return None
        if isinstance(X.index, pd.MultiIndex):  # a panel
            return None
        check_time_order(X)
        if not all(pd.api.types.is_numeric_dtype(t) for t in X.dtypes):
            return None
        rows = X.to_numpy(dtype=np.float64)
    else:
        if names is not None or X.dtype.kind not in "fiu":
            return None
        rows = np.asarray(X, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != fitted.n_features_in_:
        return None
    if not np.isfinite(rows).all():
        nan_allowed = steps[-1][1]._input_spec["ensure_all_finite"] == "allow-nan"
        if np.isinf(rows).any() or not nan_allowed:
            return None
    for centre, scale in scalings:  # as the scalers' transform computes
        if centre is not None:
            rows = rows - centre
        if scale is not None:
            rows = rows / scale
    return rows


def quantize_networks(model):
    """Copy of a fitted model whose sequence networks run with int8 weights.

    Every fitted :class:`AttentionLSTMClassifier` and
    :class:`TransformerClassifier` in ``model`` (a Pipeline, a
    SoftVotingEnsemble, a network itself) is replaced, in a deep copy, by its
    :meth:`~AttentionLSTMClassifier.quantize` copy: LSTM and Linear layers
    with int8 weights, run on the CPU. Boosters, scalers and the given model
    are unchanged. The copy pickles and saves (:func:`sklensemble.save`) like
    the model; it predicts each window in its own forward pass, so its
    ``predict_proba`` is slower on many rows and its
    :func:`predict_proba_last` is the serving path it is meant for. How its
    accuracy and latency compare with float: ``docs/estimators.md``.

    Parameters
    ----------
    model : fitted estimator
        For example a fitted :func:`make_ensemble_pipeline`.

    Returns
    -------
    quantized : estimator
        The copy.

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble import AttentionLSTMClassifier, quantize_networks
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(100, 5, 3))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = AttentionLSTMClassifier(hidden_size=8, num_layers=1, num_heads=2,
    ...                               max_epochs=2, random_state=0).fit(X, y)
    >>> quantized = quantize_networks(clf)
    >>> quantized.quantized_, quantized.predict_proba(X[:2]).shape
    (True, (2, 2))
    """
    check_is_fitted(model)
    quantized = copy.deepcopy(model)
    for estimator in _estimators(quantized):
        if isinstance(estimator, _SequenceClassifierBase) and hasattr(
            estimator, "module_"
        ):
            estimator._quantize_in_place()
    return quantized

"""Serving: one prediction per new bar, and int8 networks for the CPU."""

import copy

from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._ensemble import SoftVotingEnsemble
from ._io import _estimators
from ._neural import _SequenceClassifierBase


def predict_proba_last(model, X):
    """Class probabilities of the last row of ``X``, computing only that row.

    The serving fast path: a downstream service passes the last
    ``sequence_length`` rows of features for each new bar and needs the
    prediction of the newest one. ``model.predict_proba(X)`` runs the sequence
    members on every window of ``X``; this runs the Pipeline's earlier steps
    (e.g. the scaler, which works row by row) on the rows, then the ensemble's
    members on the last row or the last window only. The result equals
    ``model.predict_proba(X)[-1]`` (to float64 rounding).

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
    final = steps[-1][1]
    if not isinstance(final, SoftVotingEnsemble):
        return model.predict_proba(X)[-1]
    final._check_fitted()  # before any step runs, as predict_proba would
    # Step by step rather than Pipeline.transform, which re-walks every
    # step's tags (a millisecond per call on the four-member pipeline).
    for _, step in steps[:-1]:
        if step is not None and step != "passthrough":
            X = step.transform(X)
    return final.predict_proba_last(X)[0]


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

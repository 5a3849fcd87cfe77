"""predict_proba_last: one prediction per new bar, computing only that bar."""

from sklearn.pipeline import Pipeline

from ._ensemble import SoftVotingEnsemble


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

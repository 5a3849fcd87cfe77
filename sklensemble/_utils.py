"""Small helpers shared across the package: one definition of each.

Members and steps, rows of optional arrays, normalisation, the log-loss that
every score and logged metric uses, seeds for libraries that take integers,
the ``class_weight`` check and the list of runtime packages whose versions
are recorded. This module imports only NumPy and scikit-learn, so that any
module of the package can import it.
"""

import numbers
from importlib import metadata

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state

# Probabilities are clipped here before taking logs (the smallest probability
# a log-loss scores; a true class given 0 costs -log(1e-15), about 34.5).
_EPS = 1e-15

# Runtime packages whose versions a saved model and a tracked run record.
_PACKAGES = (
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
)


# -- members and steps -------------------------------------------------------
def _is_dropped(est):
    """Whether an ensemble member is switched off: ``"drop"``, as in
    scikit-learn's ``VotingClassifier``.

    ``None`` and ``"passthrough"`` are a Pipeline's spellings for a skipped
    *step* (see :func:`_is_passthrough`); as a member they are not a
    classifier, and the ensemble says so.
    """
    return isinstance(est, str) and est == "drop"


def _is_passthrough(step):
    """Whether a Pipeline step is skipped: ``None`` or ``"passthrough"``."""
    return step is None or (isinstance(step, str) and step == "passthrough")


def _final_step(est):
    """The last step of a Pipeline, or the estimator itself."""
    return est.steps[-1][1] if isinstance(est, Pipeline) else est


def _context_rows(est):
    """Rows of history a member looks back over (SequenceWindower steps)."""
    steps = [step for _, step in est.steps] if isinstance(est, Pipeline) else [est]
    lengths = [getattr(step, "sequence_length", 1) for step in steps]
    return sum(n - 1 for n in lengths if isinstance(n, numbers.Integral) and n > 1)


# -- arrays ------------------------------------------------------------------
def _rows(array, rows):
    """``array[rows]``, or None for an absent array (e.g. no sample weights)."""
    return None if array is None else array[rows]


def _normalise(values):
    """Scale to sum 1; all zeros stay zeros."""
    values = np.asarray(values, dtype=np.float64)
    total = values.sum()
    return values / total if total > 0 else values


def _nonzero_weights(weights):
    """The weights, or None when absent or all zero."""
    return weights if weights is not None and weights.sum() > 0 else None


def _log_loss(proba, y, sample_weight=None):
    """Mean negative log-probability of the true classes.

    The one log-loss of the package: the learned weights' objective, the
    permutation importances, the logged ``val_log_loss`` and the
    walk-forward ``log_loss`` all use it, so their values compare.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)
        Probabilities; each row is scaled to sum 1.
    y : ndarray of shape (n_samples,)
        Column of the true class in ``proba`` (labels encoded as indices).
    sample_weight : ndarray of shape (n_samples,) or None, default=None
        Row weights of the mean (not all zero).

    Returns
    -------
    loss : float
        The true class's probability is clipped to ``[1e-15, 1]`` first, so
        a true class given probability 0 costs about 34.5, not infinity.
    """
    proba = np.asarray(proba, dtype=np.float64)
    totals = proba.sum(axis=1)
    picked = proba[np.arange(len(y)), y] / np.where(totals > 0, totals, 1.0)
    picked = np.clip(picked, _EPS, 1.0)
    return float(-np.average(np.log(picked), weights=sample_weight))


# -- parameters --------------------------------------------------------------
def _to_seed(random_state):
    """Integer seed for a library (XGBoost, LightGBM, torch) from an int,
    a RandomState or None."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _check_class_weight(class_weight, classes):
    """Raise when a ``class_weight`` dict names classes that are not in y."""
    if not isinstance(class_weight, dict):
        return
    unknown = set(class_weight) - set(classes.tolist())
    if unknown:
        raise ValueError(
            f"class_weight names classes {sorted(map(str, unknown))} "
            f"that are not in y; the classes are {classes.tolist()}."
        )


def _package_version(dist):
    """Installed version of a distribution, or None when it is absent."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None

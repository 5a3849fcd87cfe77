"""Time-ordered folds: ``cv``'s splits checked and sorted by test start."""

import numbers
import warnings

import numpy as np
from sklearn.model_selection import check_cv

from .._panel import panel_keys
from .._sklearn_private import _num_samples


def _time_ordered_folds(cv, X, y):
    """``cv``'s folds sorted by test start; refuse shuffled splitters."""
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        raise ValueError(
            f"cv={cv} is refused: an integer would make an unpurged "
            "TimeSeriesSplit, whose training labels look into its test rows. "
            f"Pass sklensemble.PurgedWalkForwardSplit(n_splits={cv}, "
            "purge=<label horizon>), as walk_forward takes, or "
            f"TimeSeriesSplit({cv}, gap=<label horizon>)."
        )
    if getattr(cv, "shuffle", False):
        raise ValueError(
            f"cv={cv!r} shuffles rows, which trains on the future of its test "
            "rows; use TimeSeriesSplit or sklensemble.PurgedWalkForwardSplit."
        )
    folds = [
        (np.asarray(train), np.asarray(test))
        for train, test in check_cv(cv, y, classifier=True).split(X, y)
    ]
    if not folds:
        raise ValueError(f"cv={cv!r} produced no folds.")
    for _, test in folds:
        if len(test) == 0 or np.any(np.diff(test) <= 0):
            raise ValueError(
                f"cv={cv!r} yields test rows out of time order (a shuffled "
                "split); use TimeSeriesSplit or sklensemble.PurgedWalkForwardSplit."
            )
    when = _row_times(cv, X)
    if any(len(tr) and when[tr].max() > when[te].min() for tr, te in folds):
        warnings.warn(
            f"cv={cv!r} trains on rows after its test rows (look-ahead on "
            "time series); prefer TimeSeriesSplit or PurgedWalkForwardSplit.",
            UserWarning,
            stacklevel=3,
        )
    return sorted(folds, key=lambda fold: when[fold[1]].min())


def _row_times(cv, X):
    """Each row's place in time: its date rank on a panel, else its position.

    A panel's rows may be grouped by instrument, so row positions do not
    follow time; the panel is read as ``cv`` reads it.
    """
    keys = panel_keys(X, getattr(cv, "instrument", None), getattr(cv, "date", None))
    return np.arange(_num_samples(X)) if keys is None else keys.date

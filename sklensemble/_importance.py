"""Feature importances of the ensemble's members, combined by their weights.

Members with ``feature_importances_`` (trees) use them; the others get
permutation importances: the rise of the log-loss
(:func:`~sklensemble._utils._log_loss`) when a column is shuffled, measured
on the tail at fit (``importance="fit"``) or on rows passed later.
"""

import numpy as np
import pandas as pd
from scipy.sparse import issparse
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import column_or_1d

from ._panel import take_rows
from ._sklearn_private import _check_feature_names_in, _check_sample_weight
from ._utils import (
    _context_rows,
    _final_step,
    _log_loss,
    _nonzero_weights,
    _normalise,
    _rows,
)
from ._validation import tail_split

# Shuffles per feature for permutation importance (cost: this many
# predictions of the validation tail per feature and per member).
_PERMUTATION_REPEATS = 3


class _ImportancesMixin:
    """Importances for :class:`~sklensemble.SoftVotingEnsemble`.

    Uses the fitted ensemble's ``estimators_``, ``weights_``, ``classes_``,
    ``_validate_X`` and ``_aligned_proba``; stores nothing but numbers.
    """

    def _compute_importances(self, X, y, sample_weight, dates=None):
        """Each member's importances as numbers: no training row is kept.

        Native importances always; permutation importances for the other
        members only with ``importance="fit"``, measured here on the tail.
        """
        importances = {
            name: _native_or_none(est, self.n_features_in_)
            for name, est in zip(self.weights_, self.estimators_, strict=True)
        }
        if self.importance == "fit":
            importances = self._tail_importances(
                importances, X, y, sample_weight, dates
            )
        return importances

    def _tail_importances(self, importances, X, y, sample_weight, dates=None):
        """``importances`` completed by permutation importances on the tail.

        ``X`` and ``y`` (encoded) are the rows the ensemble was fitted on; only
        the last ``_MAX_IMPORTANCE_ROWS`` rows of the tail are scored.
        """
        if all(imp is not None for imp in importances.values()):
            return importances
        rows = self._tail_for_importance(X, y, sample_weight, dates)
        return self._permuted(importances, rows)

    def _permuted(self, importances, rows):
        """Permutation importances for the members lacking importances."""
        rng = check_random_state(self.random_state)
        completed = dict(importances)
        for name, est in zip(self.weights_, self.estimators_, strict=True):
            if completed[name] is None:
                completed[name] = _normalise(
                    self._permutation_importances(est, rng, rows)
                )
        return completed

    def _tail_for_importance(self, X, y, sample_weight, dates=None):
        """Scored tail rows (capped), plus the history the longest window needs.

        Returns ``(block, scored, y_scored, w_scored, panel)``: the rows as a
        dense array, which of them are scored, and for a panel the block's
        index and columns (None otherwise). A panel keeps the last dates of
        its tail and, as history, the ``context`` dates before them.
        """
        context = max(_context_rows(est) for est in self.estimators_)
        if dates is None:
            n_train = tail_split(X.shape[0], self.validation_fraction)
            first = max(n_train, X.shape[0] - _MAX_IMPORTANCE_ROWS)
            kept = slice(max(0, first - context), None)
            scored = slice(first - kept.start, None)
            scored_rows = slice(first, None)
        else:
            first = _first_scored_date(dates, self.validation_fraction)
            kept = np.flatnonzero(dates >= first - context)
            scored = np.flatnonzero(dates[kept] >= first)
            scored_rows = kept[scored]
        return _importance_rows(
            take_rows(X, kept),
            scored,
            y[scored_rows],
            _rows(sample_weight, scored_rows),
        )

    def _permutation_importances(self, est, rng, rows):
        """Mean log-loss rise on the scored rows when each column is shuffled.

        ``rows`` comes from :func:`_importance_rows`: the member predicts the
        scored rows together with the rows of history it looks back over
        (``_context_rows``), so that a shuffled column reaches every time
        step of its windows.
        """
        block, scored, y_scored, w_scored, panel = rows
        block = block.copy()

        if panel is not None:
            levels, names, columns = panel
            index = pd.MultiIndex.from_arrays(levels, names=names)

        def loss(block):
            rows = block if panel is None else pd.DataFrame(block, index, columns)
            proba = self._aligned_proba(est, rows)[scored]
            return _log_loss(proba, y_scored, w_scored)

        base = loss(block)
        rises = np.zeros(block.shape[1])
        for j in range(block.shape[1]):
            column = block[:, j].copy()
            for _ in range(_PERMUTATION_REPEATS):
                block[:, j] = column[rng.permutation(len(column))]
                rises[j] += loss(block) - base
            block[:, j] = column
        return np.clip(rises / _PERMUTATION_REPEATS, 0.0, None)

    def _importances_on(self, X, y, sample_weight):
        """Member importances, permutation ones measured on the given rows."""
        if self.importance is None:
            raise ValueError(
                "X and y were given, but this ensemble has importance=None: "
                "permutation importances are off. Set importance='auto' (the "
                "members need no refit) to measure them on these rows."
            )
        Xv = self._validate_X(X, reset=False)
        y = column_or_1d(y, warn=True)
        if len(y) != Xv.shape[0]:
            raise ValueError(
                f"X has {Xv.shape[0]} rows but y has {len(y)} labels; give one "
                "label per row."
            )
        unknown = sorted(set(np.unique(y).tolist()) - set(self.classes_.tolist()))
        if unknown:
            raise ValueError(
                f"y holds labels {unknown} that the ensemble was not fitted on; "
                f"its classes are {self.classes_.tolist()}."
            )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, Xv, dtype=np.float64)
        y_enc = np.searchsorted(self.classes_, y)
        everything = np.arange(Xv.shape[0])
        rows = _importance_rows(Xv, everything, y_enc, sample_weight)
        return self._permuted(self._importances, rows)

    def _importance_frame(self, importances, by_member=False):
        """Per-member importances as a DataFrame, or their weighted combination."""
        index = pd.Index(_check_feature_names_in(self, None), name="feature")
        if by_member:
            return pd.DataFrame(
                {
                    name: np.full(len(index), np.nan) if imp is None else imp
                    for name, imp in importances.items()
                },
                index=index,
            )
        lacking = [
            name
            for name, imp in importances.items()
            if imp is None and self.weights_[name] > 0
        ]
        if lacking:
            raise ValueError(
                f"Members {lacking} have no feature_importances_ and no "
                "permutation importances: pass rows and labels, "
                "get_feature_importance(X, y), to measure them (importance="
                "'auto'), fit with importance='fit', or use by_member=True."
            )
        combined = sum(
            self.weights_[name] * imp
            for name, imp in importances.items()
            if imp is not None
        )
        return pd.Series(_normalise(combined), index=index, name="importance")


def _native_or_none(est, n_features):
    """Normalised native importances of a member, or None if it has none."""
    native = _native_importances(est, n_features)
    return None if native is None else _normalise(native)


def _importance_rows(block, scored, y_scored, w_scored):
    """Rows for permutation importances: a dense array to shuffle in place.

    Returns ``(block, scored, y_scored, w_scored, panel)``: the rows as a
    dense array, which of them are scored, their encoded labels and weights
    (None if absent or all zero), and for a panel the index levels, their
    names and the columns (None otherwise).
    """
    panel = None
    if isinstance(block, pd.DataFrame):
        index = block.index
        levels = [index.get_level_values(i).to_numpy() for i in range(2)]
        panel = (levels, list(index.names), block.columns.to_numpy())
    block = block.toarray() if issparse(block) else np.array(block)
    return block, scored, y_scored, _nonzero_weights(w_scored), panel


def _native_importances(est, n_features):
    """``feature_importances_`` of the final step if it maps to the input columns."""
    try:
        importances = getattr(_final_step(est), "feature_importances_", None)
    except Exception:  # e.g. XGBoost's linear booster raises here
        return None
    if importances is None or len(importances) != n_features:
        return None
    if isinstance(est, Pipeline) and len(est.steps) > 1:
        names_in = np.array([f"x{i}" for i in range(n_features)], dtype=object)
        try:
            names_out = est[:-1].get_feature_names_out(names_in)
        except Exception:
            return None
        if not np.array_equal(np.asarray(names_out, dtype=object), names_in):
            return None
    return np.asarray(importances, dtype=np.float64)


def _first_scored_date(dates, validation_fraction):
    """First date rank scored by permutation importance on a panel: the first
    validation date, or later so that at most ``_MAX_IMPORTANCE_ROWS`` rows
    (and at least one date) are scored."""
    n_dates = int(dates.max()) + 1
    first = tail_split(n_dates, validation_fraction) if n_dates > 1 else n_dates
    rows_from = np.bincount(dates, minlength=n_dates)[::-1].cumsum()[::-1]
    capped = int(np.searchsorted(-rows_from, -_MAX_IMPORTANCE_ROWS, "left"))
    return max(first, min(capped, n_dates - 1))


# Tail rows kept for permutation importances (the last of the tail).
_MAX_IMPORTANCE_ROWS = 2000

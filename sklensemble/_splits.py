"""Walk-forward cross-validation with purging for forward-looking labels."""

import numbers
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import indexable

from ._panel import panel_keys
from ._sklearn_private import _num_samples
from ._validation import check_int

__all__ = ["PurgedWalkForwardSplit"]


class PurgedWalkForwardSplit(BaseCrossValidator):
    """Walk-forward cross-validator that purges overlapping labels.

    Rows must be in time order. The test sets are the last ``n_splits``
    consecutive blocks of ``test_size`` rows; each fold trains only on rows
    *before* its test block, minus a gap:

    ``train (..., s - purge - embargo - 1) | purge | embargo | test [s, s + test_size)``

    * ``purge`` removes the training rows whose labels look into the test
      block. A label over ``h`` bars at row ``i`` uses prices up to
      ``i + h``, so rows ``s - h .. s - 1`` would train on test-period
      prices: set ``purge`` to the label horizon (``horizon`` of
      :func:`~sklensemble.labels.return_labels` or
      :func:`~sklensemble.labels.triple_barrier_labels`, whose ``known_at``
      never exceeds ``t + horizon``). The last training row is then
      ``s - purge - 1`` and its label is known by ``s - 1``.
    * ``embargo`` adds that many more rows to the gap. In López de Prado's
      k-fold scheme the embargo drops training rows that *follow* a test
      block, because features there (rolling windows) overlap the test
      period. A walk-forward fold never trains on rows after its own test
      block, and earlier test blocks inside an expanding window are not
      this fold's test data, so that form would remove nothing. Here the
      embargo is instead the forward-only analogue: extra distance between
      the last training row and the test block, for serial correlation that
      outlasts the label horizon, or to model the delay between the last
      training bar and deployment. With ``embargo=0`` only ``purge`` counts.

    **Panels.** When ``X`` is a panel (many instruments stacked in one
    DataFrame, see :mod:`sklensemble._panel`), the folds are laid out on its
    sorted distinct *dates* instead of its rows: every instrument of a date
    falls on the same side, and ``test_size``, ``purge``, ``embargo`` and
    ``max_train_size`` count dates. The rows may come in any order; the
    yielded positions are those of the rows whose dates fall in each block,
    ascending. In an unbalanced panel a date counts once however many
    instruments trade on it, so blocks of equal dates may hold different
    numbers of rows.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds (>= 1).
    test_size : int or None, default=None
        Rows per test block. ``None`` uses ``n_samples // (n_splits + 1)``,
        as :class:`~sklearn.model_selection.TimeSeriesSplit` does.
    purge : int, default=0
        Training rows dropped right before each test block; set it to the
        label horizon.
    embargo : int, default=0
        Further rows dropped between the purged training rows and each test
        block.
    max_train_size : int or None, default=None
        With ``expanding=True``, keep at most the last ``max_train_size``
        training rows (the window grows until it reaches this size, then
        rolls). With ``expanding=False``, the exact training size of every
        fold.
    expanding : bool, default=True
        ``True``: fold ``k`` trains on all rows available before its gap (or
        the last ``max_train_size`` of them). ``False``: every fold trains on
        the same number of rows, ``max_train_size`` or, if ``None``, the
        rows available to the first fold -- a rolling window.
    instrument : str or None, default=None
        Panels only: the instrument column of a long-form panel, or the
        instrument level of a MultiIndex. None recognises a two-level
        MultiIndex with a level named ``"instrument"`` or exactly one
        datetime level by itself; any other ``X`` is split by rows.
    date : str or None, default=None
        Panels only: the date column of a long-form panel; None reads the
        dates from the index.

    See Also
    --------
    sklearn.model_selection.TimeSeriesSplit : The same layout without purge
        or embargo (its ``gap`` equals ``purge + embargo`` here).

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble import PurgedWalkForwardSplit
    >>> X = np.zeros((12, 1))
    >>> cv = PurgedWalkForwardSplit(n_splits=3, test_size=2, purge=1, embargo=1)
    >>> for train, test in cv.split(X):
    ...     print(train, test)
    [0 1 2 3] [6 7]
    [0 1 2 3 4 5] [8 9]
    [0 1 2 3 4 5 6 7] [10 11]
    >>> rolling = PurgedWalkForwardSplit(n_splits=3, test_size=2, expanding=False)
    >>> [len(train) for train, _ in rolling.split(X)]
    [6, 6, 6]

    On a panel the same layout counts dates; each date's rows stay together:

    >>> import pandas as pd
    >>> index = pd.MultiIndex.from_product(
    ...     [pd.bdate_range("2024-01-01", periods=6), ["AAA", "BBB"]],
    ...     names=["date", "ticker"])
    >>> panel = pd.DataFrame({"x": np.arange(12.0)}, index=index)
    >>> cv = PurgedWalkForwardSplit(n_splits=2, test_size=2, purge=1)
    >>> for train, test in cv.split(panel):
    ...     print(train, test)
    [0 1] [4 5 6 7]
    [0 1 2 3 4 5] [ 8  9 10 11]
    """

    def __init__(
        self,
        n_splits=5,
        *,
        test_size=None,
        purge=0,
        embargo=0,
        max_train_size=None,
        expanding=True,
        instrument=None,
        date=None,
    ):
        self.n_splits = n_splits
        self.test_size = test_size
        self.purge = purge
        self.embargo = embargo
        self.max_train_size = max_train_size
        self.expanding = expanding
        self.instrument = instrument
        self.date = date

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of folds: ``n_splits``.

        Parameters
        ----------
        X, y, groups : object
            Ignored, exist for API compatibility.

        Returns
        -------
        n_splits : int
        """
        return check_int(self.n_splits, "n_splits", 1)

    def split(self, X, y=None, groups=None):
        """Generate train/test row indices, oldest fold first.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or panel DataFrame
            Rows in time order; only their number is used. For a panel, only
            its dates are used, and its rows may be in any order.
        y : array-like of shape (n_samples,), default=None
            Ignored.
        groups : array-like, default=None
            Ignored; a warning is raised if given.

        Yields
        ------
        train : ndarray of int
            Training row positions, all before ``test[0] - purge - embargo``
            (for a panel: on dates that many dates before the test block).
        test : ndarray of int
            Test row positions: consecutive, or for a panel the ascending
            positions of the rows on the block's consecutive dates.

        Raises
        ------
        ValueError
            If the parameters are invalid, the panel keys cannot be read, or
            they leave no training row (date) for the first fold.
        """
        if groups is not None:
            warnings.warn(
                f"The groups parameter is ignored by {type(self).__name__}.",
                UserWarning,
                stacklevel=2,
            )
        keys = panel_keys(X, self.instrument, self.date)
        if keys is not None:
            return self._split_panel(keys)
        (X,) = indexable(X)
        return self._split(_num_samples(X))

    def _split(self, n_samples, unit="rows"):
        n_splits, test_size, gap, train_size = self._layout(n_samples, unit)
        indices = np.arange(n_samples)
        first_test = n_samples - n_splits * test_size
        for test_start in range(first_test, n_samples, test_size):
            train_end = test_start - gap
            train_start = 0 if train_size is None else max(0, train_end - train_size)
            yield (
                indices[train_start:train_end],
                indices[test_start : test_start + test_size],
            )

    def _split_panel(self, keys):
        """The single-series layout on date ranks, mapped back to rows."""
        by_date = np.argsort(keys.date, kind="stable")
        # Rows of date ranks [a, b) are by_date[bounds[a]:bounds[b]].
        bounds = np.searchsorted(keys.date[by_date], np.arange(keys.n_dates + 1))

        def rows(dates):
            return np.sort(by_date[bounds[dates[0]] : bounds[dates[-1] + 1]])

        for train, test in self._split(keys.n_dates, unit="dates"):
            yield rows(train), rows(test)

    def _layout(self, n_samples, unit="rows"):
        """Validate against ``n_samples`` (rows or dates); return
        (n_splits, test_size, gap, cap)."""
        n_splits = self.get_n_splits()
        purge = check_int(self.purge, "purge", 0)
        embargo = check_int(self.embargo, "embargo", 0)
        test_size = check_int(self.test_size, "test_size", 1, allow_none=True)
        max_train = check_int(self.max_train_size, "max_train_size", 1, allow_none=True)
        if not isinstance(self.expanding, bool | np.bool_):
            raise ValueError(
                f"expanding must be True or False, got {self.expanding!r}."
            )
        if test_size is None:
            test_size = n_samples // (n_splits + 1)
            if test_size < 1:
                raise ValueError(
                    f"Too few {unit}: {n_samples} {unit} cannot make {n_splits} "
                    f"test blocks plus a training block (need at least "
                    f"{n_splits + 1}). Pass more {unit} or lower n_splits."
                )
        gap = purge + embargo
        first_train = n_samples - n_splits * test_size - gap
        if first_train < 1:
            raise ValueError(
                f"Too few {unit}: {n_samples} {unit} leave no training {unit[:-1]} "
                f"for the first fold ({n_splits} test blocks of {test_size} "
                f"{unit}, purge={purge}, embargo={embargo}). Need at least "
                f"{n_splits * test_size + gap + 1} {unit}; pass more {unit} or "
                "lower n_splits, test_size, purge or embargo."
            )
        if self.expanding:
            return n_splits, test_size, gap, max_train
        if max_train is None:
            return n_splits, test_size, gap, first_train
        if max_train > first_train:
            raise ValueError(
                f"expanding=False needs max_train_size={max_train} {unit} before "
                f"every fold, but the first fold has only {first_train}. Lower "
                "max_train_size, or use expanding=True to let early folds be "
                "smaller."
            )
        return n_splits, test_size, gap, max_train


def purge_validation_tails(est, cv):
    """``est``, or a clone whose validation tails are purged as ``cv``'s folds are.

    A :class:`PurgedWalkForwardSplit` knows the label horizon: its ``purge``.
    The validation tails inside each fold's fit (early stopping,
    ``weights="auto"``) need the same purge, so every ``validation_gap``
    parameter of ``est`` (nested ones included) below ``purge`` is raised to
    it. Larger gaps are kept; for any other splitter ``est`` is returned
    unchanged.

    Parameters
    ----------
    est : estimator
    cv : splitter

    Returns
    -------
    est : estimator
        ``est`` itself when nothing is raised, else an unfitted clone.

    Examples
    --------
    >>> from sklensemble import PurgedWalkForwardSplit, XGBoostClassifier
    >>> from sklensemble._splits import purge_validation_tails
    >>> cv = PurgedWalkForwardSplit(n_splits=3, purge=5)
    >>> purge_validation_tails(XGBoostClassifier(), cv).validation_gap
    5
    """
    if not isinstance(cv, PurgedWalkForwardSplit):
        return est
    purge = check_int(cv.purge, "purge", 0)
    updates = {
        key: purge
        for key, value in est.get_params(deep=True).items()
        if key.rpartition("__")[2] == "validation_gap"
        and isinstance(value, numbers.Integral)
        and value < purge
    }
    return clone(est).set_params(**updates) if updates else est

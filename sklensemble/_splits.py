"""Walk-forward cross-validation with purging for forward-looking labels."""

import warnings

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import indexable
from sklearn.utils.validation import _num_samples

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
    ):
        self.n_splits = n_splits
        self.test_size = test_size
        self.purge = purge
        self.embargo = embargo
        self.max_train_size = max_train_size
        self.expanding = expanding

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
        X : array-like of shape (n_samples, n_features)
            Rows in time order; only their number is used.
        y : array-like of shape (n_samples,), default=None
            Ignored.
        groups : array-like, default=None
            Ignored; a warning is raised if given.

        Yields
        ------
        train : ndarray of int
            Training row positions, all before ``test[0] - purge - embargo``.
        test : ndarray of int
            Test row positions, consecutive.

        Raises
        ------
        ValueError
            If the parameters are invalid or leave no training row for the
            first fold.
        """
        if groups is not None:
            warnings.warn(
                f"The groups parameter is ignored by {type(self).__name__}.",
                UserWarning,
                stacklevel=2,
            )
        (X,) = indexable(X)
        return self._split(_num_samples(X))

    def _split(self, n_samples):
        n_splits, test_size, gap, train_size = self._layout(n_samples)
        indices = np.arange(n_samples)
        first_test = n_samples - n_splits * test_size
        for test_start in range(first_test, n_samples, test_size):
            train_end = test_start - gap
            train_start = 0 if train_size is None else max(0, train_end - train_size)
            yield (
                indices[train_start:train_end],
                indices[test_start : test_start + test_size],
            )

    def _layout(self, n_samples):
        """Validate against ``n_samples``; return (n_splits, test_size, gap, cap)."""
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
                    f"Too few rows: {n_samples} rows cannot make {n_splits} test "
                    f"blocks plus a training block (need at least {n_splits + 1}). "
                    "Pass more rows or lower n_splits."
                )
        gap = purge + embargo
        first_train = n_samples - n_splits * test_size - gap
        if first_train < 1:
            raise ValueError(
                f"Too few rows: {n_samples} rows leave no training row for the "
                f"first fold ({n_splits} test blocks of {test_size} rows, purge="
                f"{purge}, embargo={embargo}). Need at least "
                f"{n_splits * test_size + gap + 1} rows; pass more rows or lower "
                "n_splits, test_size, purge or embargo."
            )
        if self.expanding:
            return n_splits, test_size, gap, max_train
        if max_train is None:
            return n_splits, test_size, gap, first_train
        if max_train > first_train:
            raise ValueError(
                f"expanding=False needs max_train_size={max_train} rows before "
                f"every fold, but the first fold has only {first_train}. Lower "
                "max_train_size, or use expanding=True to let early folds be "
                "smaller."
            )
        return n_splits, test_size, gap, max_train

"""SequenceWindower: 2D rows to 3D look-back windows, as a zero-copy view."""

import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._panel import panel_keys
from ._sklearn_private import Interval, StrOptions, _check_feature_names_in
from ._validation import check_time_order

# The containers scikit-learn's set_output names; windows keep their 3D form.
_OUTPUT_CONTAINERS = frozenset({"default", "pandas", "polars", None})


def make_windows(X, sequence_length, padding="edge"):
    """Return the look-back windows of ``X`` as a read-only strided view.

    Row ``i`` of the result holds input rows ``i - sequence_length + 1 .. i``,
    oldest first. Rows before the first are padded, so the result has as many
    rows as ``X``. Only the padded float32 copy of ``X`` is allocated:
    ``O(n_samples * n_features)`` memory whatever ``sequence_length`` is.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sequence_length : int
    padding : {"edge", "zero"}

    Returns
    -------
    windows : ndarray of shape (n_samples, sequence_length, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble._windowing import make_windows
    >>> make_windows(np.arange(3.0).reshape(3, 1), 2)[:, :, 0]
    array([[0., 0.],
           [0., 1.],
           [1., 2.]], dtype=float32)
    """
    n_samples, n_features = X.shape
    n_pad = sequence_length - 1
    # One float32 allocation holds the padding and the rows.
    padded = np.empty((n_samples + n_pad, n_features), dtype=np.float32)
    padded[n_pad:] = X
    padded[:n_pad] = X[:1] if padding == "edge" else 0.0
    row_stride, col_stride = padded.strides
    return as_strided(
        padded,
        shape=(X.shape[0], sequence_length, X.shape[1]),
        strides=(row_stride, row_stride, col_stride),
        writeable=False,
    )


def make_panel_windows(X, keys, sequence_length, padding="edge"):
    """Look-back windows of a panel, built within each instrument.

    Each instrument's rows are laid out in date order behind their own
    ``sequence_length - 1`` padding rows, in one float32 array; the window of
    every input row is then a strided view into it, so memory stays
    ``O(n_samples * n_features)``. Row ``i`` of the result is the window of
    input row ``i`` (input order is kept).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    keys : PanelKeys
        The panel keys of ``X``'s rows (see :func:`~sklensemble._panel.panel_keys`).
    sequence_length : int
    padding : {"edge", "zero"}
        ``"edge"`` repeats each instrument's first row.

    Returns
    -------
    windows : PanelWindows of shape (n_samples, sequence_length, n_features)
    """
    n_samples, n_features = X.shape
    n_pad = sequence_length - 1
    order, starts = keys.segments()
    padded = np.empty((n_samples + keys.n_instruments * n_pad, n_features), np.float32)
    ends = np.empty(n_samples, dtype=np.intp)  # padded row of each input row
    for g in range(keys.n_instruments):
        rows = order[starts[g] : starts[g + 1]]
        first = starts[g] + (g + 1) * n_pad  # this instrument's first real row
        padded[first - n_pad : first] = X[rows[0]] if padding == "edge" else 0.0
        padded[first : first + len(rows)] = X[rows]
        ends[rows] = np.arange(first, first + len(rows))
    return PanelWindows(padded, sequence_length, ends - n_pad, keys.date)


class PanelWindows:
    """Windows of a panel: a read-only 3D array-like, gathered batch by batch.

    The windows of a panel cannot be one strided view in input order (each
    instrument has its own padding), so this object holds the padded rows
    and, for every input row, where its window starts. Indexing it with a
    slice or an integer array returns another ``PanelWindows`` (no copy);
    ``np.asarray`` on it, or on a batch of it, materialises those windows
    only. The sequence classifiers of this package read it like the
    ndarray windows of a single series.

    Attributes
    ----------
    shape : tuple (n_samples, sequence_length, n_features)
    dates : ndarray of int of shape (n_samples,)
        Date rank of each row, for time-ordered validation splits.
    """

    ndim = 3

    def __init__(self, padded, sequence_length, starts, dates):
        self.padded = padded
        self.sequence_length = sequence_length
        self.starts = starts
        self.dates = dates

    @property
    def _view(self):
        row_stride, col_stride = self.padded.strides
        n_windows = self.padded.shape[0] - self.sequence_length + 1
        return as_strided(
            self.padded,
            shape=(n_windows, self.sequence_length, self.padded.shape[1]),
            strides=(row_stride, row_stride, col_stride),
            writeable=False,
        )

    @property
    def shape(self):
        return (len(self.starts), self.sequence_length, self.padded.shape[1])

    @property
    def dtype(self):
        return self.padded.dtype

    def __len__(self):
        return len(self.starts)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return np.asarray(self[key[0]])[(slice(None), *key[1:])]
        if isinstance(key, numbers.Integral):
            return self._view[self.starts[key]]
        return PanelWindows(
            self.padded, self.sequence_length, self.starts[key], self.dates[key]
        )

    def __array__(self, dtype=None, copy=None):
        windows = self._view[self.starts]
        return windows if dtype is None else windows.astype(dtype, copy=False)

    def __repr__(self):
        return f"PanelWindows(shape={self.shape}, dtype={self.dtype})"


class SequenceWindower(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Turn rows into look-back windows for sequence models, keeping y aligned.

    Row ``i`` of the output is the window of input rows
    ``i - sequence_length + 1, ..., i``, oldest first and the current row
    last. The first ``sequence_length - 1`` rows lack history and are padded
    rather than dropped, so the output has exactly as many rows as the input
    and ``y`` stays aligned inside a :class:`~sklearn.pipeline.Pipeline`
    (which cannot drop rows).

    The output is a read-only, zero-copy strided view over a padded float32
    copy of the input: memory stays ``O(n_samples * n_features)``, never
    multiplied by ``sequence_length``. The sequence classifiers of this
    package read it one batch at a time; calling ``np.array(windows)`` on it
    would materialise every window.

    Windows only look backwards: row ``i`` never sees rows after ``i``.
    Rows are taken in the order given, so pass them in time order. A
    DataFrame whose DatetimeIndex (or integer index) decreases somewhere is
    rejected with a ``ValueError``; an array carries no time, so its order
    cannot be checked.

    The output is 3D, so ``set_output(transform="pandas")`` and a global
    ``transform_output="pandas"`` are accepted and leave it as it is (see
    :meth:`set_output`).

    **Panels.** Given a panel (a DataFrame with an ``(instrument, date)`` or
    ``(date, instrument)`` MultiIndex, or a long table with an instrument
    column; see :func:`~sklensemble.to_panel`), windows are built within
    each instrument in date order, whatever the row order: a window never
    holds another instrument's rows, each instrument's first rows are
    padded, and output row ``i`` is still the window of input row ``i``.
    The output is then a :class:`~sklensemble._windowing.PanelWindows`, a
    read-only 3D array-like of the same shape and memory bound, which the
    sequence classifiers read batch by batch. The instrument and date keys
    are never features.

    Parameters
    ----------
    sequence_length : int, default=60
        Number of time steps per window, the current row included.
    padding : {"edge", "zero"}, default="edge"
        How rows without enough history are filled: ``"edge"`` repeats the
        first row (of each instrument, for a panel), ``"zero"`` uses zeros.
        Padding never adds NaN, so the classifiers do not mistake it for
        missing data (a NaN in the first row is repeated as it is).
    instrument : str or None, default=None
        Panels only: the instrument column (long form) or index level. None
        recognises a two-level MultiIndex by a level named ``"instrument"``
        or its only datetime level; any other MultiIndex is plain rows.
    date : str or None, default=None
        Long-form panels only: the date column; None reads dates from the
        index.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during :term:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    AttentionLSTMClassifier : Classifier for the windows produced here.
    TransformerClassifier : Classifier for the windows produced here.

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble import SequenceWindower
    >>> X = np.arange(8.0).reshape(4, 2)
    >>> windows = SequenceWindower(sequence_length=3).fit_transform(X)
    >>> windows.shape
    (4, 3, 2)
    >>> windows[0]  # the first row has no history: edge padding repeats it
    array([[0., 1.],
           [0., 1.],
           [0., 1.]], dtype=float32)
    >>> windows[3]
    array([[2., 3.],
           [4., 5.],
           [6., 7.]], dtype=float32)

    On a panel, each instrument's windows hold only its own rows:

    >>> import pandas as pd
    >>> index = pd.MultiIndex.from_product(
    ...     [pd.bdate_range("2024-01-01", periods=3), ["A", "B"]])
    >>> panel = pd.DataFrame({"x": [1.0, 10.0, 2.0, 20.0, 3.0, 30.0]}, index=index)
    >>> np.asarray(SequenceWindower(2).fit_transform(panel))[:, :, 0]
    array([[ 1.,  1.],
           [10., 10.],
           [ 1.,  2.],
           [10., 20.],
           [ 2.,  3.],
           [20., 30.]], dtype=float32)
    """

    _parameter_constraints = {
        "sequence_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "padding": [StrOptions({"edge", "zero"})],
        "instrument": [str, None],
        "date": [str, None],
    }

    def __init__(
        self, sequence_length=60, *, padding="edge", instrument=None, date=None
    ):
        self.sequence_length = sequence_length
        self.padding = padding
        self.instrument = instrument
        self.date = date

    def _features(self, X):
        """(feature rows of X, panel keys or None)."""
        keys = panel_keys(X, self.instrument, self.date)
        if keys is None:
            check_time_order(X)  # a panel is windowed in date order
        elif keys.columns is not None:
            X = X[keys.columns]  # long form: the keys are not features
        return X, keys

    def fit(self, X, y=None):
        """Check X and record its features; the windower learns nothing else.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows in time order.
        y : None
            Ignored.

        Returns
        -------
        self : SequenceWindower
        """
        self._validate_params()
        X, _ = self._features(X)
        validate_data(self, X, dtype=[np.float32, np.float64], ensure_all_finite=False)
        return self

    def transform(self, X):
        """Return the windows of X as a read-only view.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows in time order.

        Returns
        -------
        windows : ndarray or PanelWindows of shape \
                (n_samples, sequence_length, n_features)
            float32 view; row ``i`` ends with input row ``i``. A
            :class:`PanelWindows` for a panel.
        """
        check_is_fitted(self)
        X, keys = self._features(X)
        X = validate_data(
            self,
            X,
            dtype=[np.float32, np.float64],
            ensure_all_finite=False,
            reset=False,
        )
        if keys is not None:
            return make_panel_windows(X, keys, self.sequence_length, self.padding)
        return make_windows(X, self.sequence_length, self.padding)

    def _last_window(self, rows):
        """The window of the last of ``rows`` (a checked 2D array), or None.

        None for a panel windower or fewer rows than a window, whose windows
        :meth:`transform` builds (by instrument; padded).
        """
        if self.instrument is not None or self.date is not None:
            return None
        if rows.shape[0] < self.sequence_length:
            return None
        return rows[-self.sequence_length :]

    def fit_transform(self, X, y=None):
        """Fit to X, then return its windows (see :meth:`transform`)."""
        return self.fit(X, y).transform(X)

    def set_output(self, *, transform=None):
        """Accept an output container setting; the windows stay 3D.

        A DataFrame is 2D, so windows have no DataFrame form: whatever
        ``transform`` (or a global ``sklearn.set_config(transform_output=...)``)
        asks for, :meth:`transform` returns the float32 ndarray view, or a
        :class:`PanelWindows` for a panel. The method exists so that
        ``Pipeline.set_output`` and direct calls work; the steps before the
        windower still give DataFrames, whose feature names it records.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            Accepted and ignored.

        Returns
        -------
        self : SequenceWindower

        Raises
        ------
        ValueError
            If ``transform`` is not one of the values above.
        """
        if transform not in _OUTPUT_CONTAINERS:
            raise ValueError(
                f"transform must be one of {sorted(_OUTPUT_CONTAINERS - {None})} "
                f"or None, got {transform!r}."
            )
        return self

    def get_feature_names_out(self, input_features=None):
        """Names of the last axis of the windows: the input feature names.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; defaults to ``feature_names_in_`` or
            ``x0, x1, ...``.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "n_features_in_")
        return _check_feature_names_in(self, input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Windowing moves values around without reading them: NaN passes
        # through to the classifier, which imputes it (padding is never NaN).
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.requires_fit = True
        return tags

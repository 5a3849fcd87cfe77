"""Checks shared by every sklensemble estimator.

Four mechanisms live here so that each is written once:

* :func:`tail_rows` -- the time-ordered validation split and its purge gap.
  Networks, boosters and the ensemble's learned weights all hold out the
  *last* rows of their training data and drop the ``validation_gap`` rows
  before them, so "validation" means the same rows everywhere, never lies in
  the past of the rows a model trains on, and no training label reaches it.
* :func:`check_time_order` and :func:`check_missing_values` -- rows taken in
  the order given must be in time order, and a missing value in the middle
  of a series is never silently stepped over.
* :func:`check_sequences` -- 2D or 3D input validation that never
  materialises a window view (NaN passes, infinity is refused, chunk by
  chunk).
* :func:`resolve_device` -- ``"auto"`` means CUDA when present, else CPU.
"""

import numbers
import warnings

import numpy as np
import pandas as pd
from scipy.sparse import issparse
from sklearn.utils.validation import (
    check_consistent_length,
    column_or_1d,
    validate_data,
)

# Rows checked per chunk when scanning a 3D array for infinity: the temporary
# boolean mask stays O(chunk x sequence_length x n_features).
_FINITE_CHUNK_ROWS = 2048


def check_int(value, name, minimum, *, allow_none=False):
    """``value`` as an int >= ``minimum`` (or None if allowed); else a ValueError.

    Examples
    --------
    >>> from sklensemble._validation import check_int
    >>> check_int(5, "horizon", 1)
    5
    """
    if value is None and allow_none:
        return None
    if (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool)
        or value < minimum
    ):
        extra = " or None" if allow_none else ""
        raise ValueError(
            f"{name} must be an integer >= {minimum}{extra}, got {value!r}."
        )
    return int(value)


def tail_split(n_samples, validation_fraction):
    """Number of leading rows to train on; the remaining tail validates.

    Parameters
    ----------
    n_samples : int
        Rows in time order.
    validation_fraction : float or None
        Share of the last rows held out, in ``(0, 1)``. ``None`` holds out
        nothing.

    Returns
    -------
    n_train : int
        Rows ``[:n_train]`` train and ``[n_train:]`` validate. Equal to
        ``n_samples`` when nothing is held out.

    Raises
    ------
    ValueError
        If the fraction is outside ``(0, 1)`` or leaves no row on one side.

    Examples
    --------
    >>> from sklensemble._validation import tail_split
    >>> tail_split(100, 0.1)
    90
    >>> tail_split(100, None)
    100
    """
    if validation_fraction is None:
        return n_samples
    if (
        not isinstance(validation_fraction, numbers.Real)
        or isinstance(validation_fraction, bool)
        or not 0.0 < validation_fraction < 1.0
    ):
        raise ValueError(
            "validation_fraction must be a float in (0, 1) or None, got "
            f"{validation_fraction!r}."
        )
    n_valid = int(np.ceil(n_samples * validation_fraction))
    n_train = n_samples - n_valid
    if n_train < 1 or n_valid < 1:
        raise ValueError(
            f"validation_fraction={validation_fraction} leaves no rows to "
            f"train or validate on with {n_samples} samples; pass more rows "
            "or validation_fraction=None."
        )
    return n_train


def resolve_device(device):
    """Return a torch device string: ``"auto"`` picks CUDA when available.

    Examples
    --------
    >>> from sklensemble._validation import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    """
    import torch

    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str | torch.device):
        raise TypeError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}."
        )
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on "
            "this machine; use device='auto' or device='cpu'."
        )
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}."
        )
    return device


def loadable_device(device):
    """Device to restore a pickled model onto: CPU, with a warning, if CUDA is gone."""
    import torch

    if str(device).startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"This model was fitted on {device!r} but CUDA is not available "
            "here; it was loaded onto the CPU instead.",
            UserWarning,
            stacklevel=3,
        )
        return "cpu"
    return str(device)


def _check_no_infinity(X):
    """Raise ValueError on inf without allocating a mask of all of X.

    NaN passes: the sequence classifiers impute missing values themselves.
    """
    for start in range(0, X.shape[0], _FINITE_CHUNK_ROWS):
        if np.isinf(X[start : start + _FINITE_CHUNK_ROWS]).any():
            raise ValueError(
                "Input X contains infinity. Replace infinite values before "
                "fitting or predicting, for example with NaN (the networks "
                "impute missing values) or by clipping them to a finite range."
            )


def _check_3d(estimator, X, reset):
    """Validate a 3D array without copying it; returns it unchanged."""
    if X.dtype.kind not in "fiu":
        raise ValueError(
            f"3D input X must hold real numbers, got dtype {X.dtype}. Convert "
            "the features to numbers before windowing."
        )
    n_samples, n_steps, n_features = X.shape
    if n_samples < 1 or n_steps < 1 or n_features < 1:
        raise ValueError(
            f"Found array with shape {X.shape}: at least one sample, one time "
            "step and one feature are required."
        )
    if reset:
        estimator.n_features_in_ = n_features
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input."
        )
    if X.dtype.kind == "f":
        # Panel windows: every value lives once in the padded rows.
        _check_no_infinity(getattr(X, "padded", X))
    return X


def check_sequences(estimator, X, y=None, *, reset, ensure_min_samples=1):
    """Validate 2D rows or 3D sequences for a sequence classifier.

    2D input ``(n_samples, n_features)`` goes through scikit-learn's
    ``validate_data`` (feature names, sparse and dtype errors, ...) and is
    returned as a ``(n_samples, 1, n_features)`` view: each row is a sequence
    of length one. 3D input ``(n_samples, sequence_length, n_features)`` is
    checked in place and never copied, so window views (and the
    :class:`~sklensemble._windowing.PanelWindows` of a panel) stay views.
    NaN passes (missing values, which the classifiers impute); infinity
    raises a ValueError.

    Returns
    -------
    X : ndarray of shape (n_samples, sequence_length, n_features)
    y : ndarray of shape (n_samples,) or None
    """
    ndim = getattr(X, "ndim", None)
    if ndim == 3 and hasattr(X, "shape") and hasattr(X, "dtype"):
        X = _check_3d(estimator, X, reset)
        if y is not None:
            y = column_or_1d(y, warn=True)
            check_consistent_length(X, y)
        elif reset and estimator.__sklearn_tags__().target_tags.required:
            raise ValueError(
                f"{type(estimator).__name__} requires y to be passed, but the "
                "target y is None."
            )
        if X.shape[0] < ensure_min_samples:
            raise ValueError(
                f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) "
                f"while a minimum of {ensure_min_samples} is required."
            )
        return X, y
    if ndim is not None and ndim > 3:
        raise ValueError(
            f"Expected 2D input (n_samples, n_features) or 3D input (n_samples, "
            f"sequence_length, n_features), got {ndim}D with shape "
            f"{getattr(X, 'shape', None)}."
        )
    kwargs = dict(
        reset=reset, ensure_min_samples=ensure_min_samples, ensure_all_finite=False
    )
    if y is None:
        # validate_data raises its "requires y" error here when fitting.
        X = validate_data(estimator, X, y=None if reset else "no_validation", **kwargs)
    else:
        X, y = validate_data(estimator, X, y, **kwargs)
    if X.dtype.kind == "f":
        _check_no_infinity(X)
    return X[:, np.newaxis, :], y


def tail_rows(n_samples, validation_fraction, dates=None, gap=0):
    """Training and validation rows: the time-ordered tail and its purge gap.

    The tail is the last ``validation_fraction`` of the rows (see
    :func:`tail_split`). The ``gap`` rows right before it are purged: they
    neither train nor validate. A label over ``h`` bars at row ``i`` uses
    prices up to ``i + h``; with the tail starting at row ``s``, the labels
    of rows ``s - h .. s - 1`` reach into the tail, so ``gap=h`` ends the
    training rows at ``s - h - 1``, whose label is known by ``s - 1``. This
    is the ``purge`` of :class:`~sklensemble.PurgedWalkForwardSplit`.

    With ``dates`` (a panel's per-row date ranks) the last
    ``validation_fraction`` of the *dates* validate and the ``gap`` dates
    before them are purged, whatever the row order, so that every
    instrument's rows of a date fall on the same side.

    Parameters
    ----------
    n_samples : int
    validation_fraction : float or None
        ``None`` holds out nothing (and purges nothing).
    dates : ndarray of int of shape (n_samples,) or None, default=None
        Date rank of each row (see :class:`~sklensemble._panel.PanelKeys`).
    gap : int, default=0
        Rows (dates, with ``dates``) purged between training and validation:
        the label horizon. The ``validation_gap`` parameter of the
        estimators.

    Returns
    -------
    train, valid : slice or ndarray of int
        Slices when the training rows come first and the validation rows
        last (always without ``dates``); ``valid`` is None when nothing is
        held out.

    Raises
    ------
    ValueError
        If ``gap`` is not an integer >= 0, or the fraction and the gap leave
        no row (date) to train or validate on.

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble._validation import tail_rows
    >>> tail_rows(10, 0.2)
    (slice(None, 8, None), slice(8, None, None))
    >>> tail_rows(10, 0.2, gap=3)  # rows 5, 6, 7 are purged
    (slice(None, 5, None), slice(8, None, None))
    >>> tail_rows(6, 0.3, dates=np.array([0, 1, 2, 0, 1, 2]))
    (array([0, 1, 3, 4]), array([2, 5]))
    >>> tail_rows(6, 0.3, dates=np.array([0, 0, 1, 1, 2, 2]))  # sorted by date
    (slice(None, 4, None), slice(4, None, None))
    >>> tail_rows(6, 0.3, dates=np.array([0, 0, 1, 1, 2, 2]), gap=1)
    (slice(None, 2, None), slice(4, None, None))
    """
    gap = check_int(gap, "validation_gap", 0)
    if dates is None:
        n_train = tail_split(n_samples, validation_fraction)
        if n_train == n_samples:
            return slice(None), None
        _check_gap(n_train, gap, validation_fraction, n_samples, "rows")
        return slice(None, n_train - gap), slice(n_train, None)
    n_dates = int(dates.max()) + 1 if len(dates) else 0
    n_train_dates = tail_split(n_dates, validation_fraction) if n_dates > 1 else 1
    if n_train_dates == n_dates:
        if validation_fraction is not None:
            raise ValueError(
                f"validation_fraction={validation_fraction} needs at least two "
                f"dates in the panel, got {n_dates}; pass more dates or "
                "validation_fraction=None."
            )
        return slice(None), None
    _check_gap(n_train_dates, gap, validation_fraction, n_dates, "dates")
    is_train = dates < n_train_dates - gap
    is_valid = dates >= n_train_dates
    n_train, n_valid = int(is_train.sum()), int(is_valid.sum())
    if is_train[:n_train].all() and is_valid[len(dates) - n_valid :].all():
        # Rows sorted by date (the usual panel layout): slices, not copies.
        return slice(None, n_train), slice(len(dates) - n_valid, None)
    return np.flatnonzero(is_train), np.flatnonzero(is_valid)


def _check_gap(n_before_tail, gap, validation_fraction, n_total, unit):
    """Raise when the purge gap leaves no training row (date) before the tail."""
    if n_before_tail - gap < 1:
        raise ValueError(
            f"validation_fraction={validation_fraction} and validation_gap={gap} "
            f"leave no {unit} to train on with {n_total} {unit} (the last "
            f"{n_total - n_before_tail} validate, the {gap} before them are "
            f"purged); pass more {unit}, a smaller validation_gap or "
            "validation_fraction=None."
        )


def check_time_order(X):
    """Raise a ValueError unless X's time order, where its index shows one, holds.

    Windows and validation tails take a single series' rows in the order
    given, so shuffled or repeated dates would build windows and tails from
    the wrong rows. A plain :class:`pandas.DatetimeIndex` must strictly
    increase; an integer index (what shuffling a default ``RangeIndex``
    leaves, e.g. ``HalvingGridSearchCV``'s ``resource="n_samples"``) must not
    decrease. Arrays carry no order to check, and a panel's MultiIndex may
    come in any row order (its rows are ordered by their dates, per
    instrument).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklensemble._validation import check_time_order
    >>> dates = pd.to_datetime(["2024-01-03", "2024-01-02"])
    >>> check_time_order(pd.DataFrame({"x": [1.0, 2.0]}, index=dates))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: The rows of X are not in time order: row 1 (2024-01-02 ...
    """
    index = getattr(X, "index", None)
    if isinstance(index, pd.DatetimeIndex):
        if index.is_monotonic_increasing and index.is_unique:
            return
    elif (
        isinstance(index, pd.Index)
        and not isinstance(index, pd.MultiIndex)
        and pd.api.types.is_integer_dtype(index.dtype)
    ):
        if index.is_monotonic_increasing:
            return
    else:
        return
    values = np.asarray(index)
    if isinstance(index, pd.DatetimeIndex):
        bad = int(np.flatnonzero(values[1:] <= values[:-1])[0]) + 1
    else:  # repeated integers are allowed, only a step back is refused
        bad = int(np.flatnonzero(values[1:] < values[:-1])[0]) + 1
    if index[bad] == index[bad - 1]:
        raise ValueError(
            f"The rows of X repeat the date {index[bad]} (rows {bad - 1} and "
            f"{bad}); a single series needs one row per date. If the rows hold "
            "several instruments, make a panel with "
            "sklensemble.to_panel(X, '<instrument column>'); otherwise drop or "
            "aggregate the repeated rows."
        )
    raise ValueError(
        f"The rows of X are not in time order: row {bad} ({index[bad]}) comes "
        f"after row {bad - 1} ({index[bad - 1]}). Windows and validation tails "
        "take the rows in the order given; sort them by date first, e.g. "
        "X = X.sort_index() (and y = y.loc[X.index]). Searches that subsample "
        "rows shuffle them (HalvingGridSearchCV's default resource='n_samples'"
        "): budget network epochs instead, e.g. "
        "resource='ensemble__lstm__net__max_epochs' (docs/tuning.md)."
    )


# Rows named in a missing-value error before "and N more".
_ROWS_NAMED = 3


def check_missing_values(X, keys=None, *, allow_leading=False, name="X"):
    """Raise a ValueError naming the rows of X that hold a missing value (NaN).

    *Leading* rows, before the first complete row (of each instrument, on a
    panel), are feature warm-up: features over a look-back are not yet
    defined there, and dropping them is safe. A missing value in the
    *middle* of a series is different: dropping its row would join the bars
    on either side into one window, so it must be filled. Nothing happens
    when X has no missing value (or is sparse).

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows in time order, or a panel.
    keys : PanelKeys or None, default=None
        The panel keys of X (see :func:`~sklensemble._panel.panel_keys`).
    allow_leading : bool, default=False
        Only raise for missing values in the middle; the caller drops the
        leading rows.
    name : str, default="X"
        What the message calls X.

    Returns
    -------
    leading : ndarray of bool of shape (n_samples,) or None
        The leading incomplete rows (None when X is sparse).

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble._validation import check_missing_values
    >>> X = np.array([[np.nan], [1.0], [np.nan], [2.0]])
    >>> check_missing_values(X, allow_leading=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: X contains NaN in the middle of the series, in 1 row: row 2. ...
    """
    if issparse(X):
        return None
    missing = pd.isna(np.asarray(X)).reshape(len(X), -1).any(axis=1)
    leading = _leading_rows(~missing, keys)
    inside = missing & ~leading
    if inside.any():
        raise ValueError(
            f"{name} contains NaN in the middle of the series, in "
            f"{_name_rows(X, keys, inside)}. Fill those values (e.g. "
            "forward-fill them) or cut the series there; dropping the rows "
            "would join the bars on either side into one window."
        )
    if leading.any() and not allow_leading:
        raise ValueError(
            f"{name} contains NaN in {_name_rows(X, keys, leading)}, before the "
            "first complete row (feature warm-up); drop them, e.g. with "
            "sklensemble.labels.drop_unlabeled(X, y, drop_nan_features=True)."
        )
    return leading


def _leading_rows(complete, keys):
    """Rows before the first complete row (of their instrument, in date order)."""
    if keys is None:
        return np.cumsum(complete) == 0
    order, starts = keys.segments()
    seen = np.concatenate([[0], np.cumsum(complete[order])])
    # Complete rows up to each row within its instrument.
    within = seen[1:] - np.repeat(seen[starts[:-1]], np.diff(starts))
    leading = np.empty(len(complete), dtype=bool)
    leading[order] = within == 0
    return leading


def _name_rows(X, keys, rows):
    """``"2 rows: row 4, row 5"``: dates (with instruments) or positions."""
    positions = np.flatnonzero(rows)
    index = getattr(X, "index", None)
    names = []
    for i in positions[:_ROWS_NAMED]:
        if keys is not None:
            instrument = keys.instrument_names[keys.instrument[i]]
            names.append(f"{instrument} at {keys.date_values[keys.date[i]]}")
        elif isinstance(index, pd.DatetimeIndex):
            names.append(f"{index[i]} (row {i})")
        else:
            names.append(f"row {i}")
    more = len(positions) - _ROWS_NAMED
    listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
    return f"{len(positions)} row{'s' if len(positions) > 1 else ''}: {listed}"

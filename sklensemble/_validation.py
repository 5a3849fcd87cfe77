"""Checks shared by every sklensemble estimator.

Three mechanisms live here so that each is written once:

* :func:`tail_split` -- the time-ordered validation split. Networks, boosters
  and the ensemble's learned weights all hold out the *last* rows of their
  training data, so "validation" means the same rows everywhere and never
  lies in the past of the rows a model trains on.
* :func:`check_sequences` -- 2D or 3D input validation that never
  materialises a window view (NaN passes, infinity is refused, chunk by
  chunk).
* :func:`resolve_device` -- ``"auto"`` means CUDA when present, else CPU.
"""

import numbers
import warnings

import numpy as np
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


def tail_rows(n_samples, validation_fraction, dates=None):
    """Training and validation rows: the time-ordered tail, by row or by date.

    Without ``dates`` this is :func:`tail_split` as two slices. With
    ``dates`` (a panel's per-row date ranks) the last ``validation_fraction``
    of the *dates* validate, whatever the row order, so that every
    instrument's rows of a date fall on the same side.

    Parameters
    ----------
    n_samples : int
    validation_fraction : float or None
    dates : ndarray of int of shape (n_samples,) or None, default=None
        Date rank of each row (see :class:`~sklensemble._panel.PanelKeys`).

    Returns
    -------
    train, valid : slice or ndarray of int
        Slices when the validation rows are the last rows (always without
        ``dates``); ``valid`` is None when nothing is held out.

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble._validation import tail_rows
    >>> tail_rows(10, 0.2)
    (slice(None, 8, None), slice(8, None, None))
    >>> tail_rows(6, 0.3, dates=np.array([0, 1, 2, 0, 1, 2]))
    (array([0, 1, 3, 4]), array([2, 5]))
    >>> tail_rows(6, 0.3, dates=np.array([0, 0, 1, 1, 2, 2]))  # sorted by date
    (slice(None, 4, None), slice(4, None, None))
    """
    if dates is None:
        n_train = tail_split(n_samples, validation_fraction)
        if n_train == n_samples:
            return slice(None), None
        return slice(None, n_train), slice(n_train, None)
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
    is_valid = dates >= n_train_dates
    n_valid = int(is_valid.sum())
    if is_valid[len(dates) - n_valid :].all():
        # Rows sorted by date (the usual panel layout): slices, not copies.
        return slice(None, len(dates) - n_valid), slice(len(dates) - n_valid, None)
    return np.flatnonzero(~is_valid), np.flatnonzero(is_valid)

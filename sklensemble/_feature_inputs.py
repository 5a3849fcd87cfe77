"""Input checks of MarketFeatures: its parameters, where the price columns
are, which fields they give, and the bars' values."""

import numbers

import numpy as np
import pandas as pd

OHLCV = ("open", "high", "low", "close", "volume")
# The range features need both of these; one without the other is refused.
_RANGE = ("high", "low")
_CROSS_SECTIONAL = ("rank", "zscore")


def _check_window(value, name, minimum=1):
    if (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool)
        or value < minimum
    ):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_windows(values, name, minimum=1):
    if isinstance(values, numbers.Integral | str) or not np.iterable(values):
        raise ValueError(f"{name} must be a sequence of integers, got {values!r}.")
    values = tuple(_check_window(v, f"each of {name}", minimum) for v in values)
    if len(set(values)) != len(values):
        raise ValueError(f"{name} has duplicates: {values!r}.")
    return values


def _check_cross_sectional(value):
    """``cross_sectional`` as a tuple of kinds, () for None."""
    if value is None:
        return ()
    kinds = (value,) if isinstance(value, str) else value
    if (
        not isinstance(kinds, tuple | list)
        or not kinds
        or not set(kinds) <= set(_CROSS_SECTIONAL)
        or len(set(kinds)) != len(kinds)
    ):
        raise ValueError(
            "cross_sectional must be None, 'rank', 'zscore' or a tuple of "
            f"distinct ones among them, got {value!r}."
        )
    return tuple(kinds)


def _check_key_name(value, name):
    if value is not None and not isinstance(value, str):
        raise ValueError(
            f"{name} must be None or the name of a column or index level (a "
            f"str), got {value!r}."
        )


def _to_float(column, name):
    """One OHLCV column as a float64 array, with a clear error if non-numeric."""
    dtype = getattr(column, "dtype", None)
    if dtype is not None and (
        pd.api.types.is_bool_dtype(dtype)
        or not (
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_object_dtype(dtype)
        )
    ):
        raise ValueError(
            f"Column {name!r} must be numeric, got dtype {dtype}; convert it "
            "with pd.to_numeric."
        )
    try:
        if isinstance(column, pd.Series):
            return column.to_numpy(dtype=float, na_value=np.nan)
        return np.asarray(column, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Column {name!r} must be numeric and could not be converted to "
            f"float ({exc}); convert it with pd.to_numeric."
        ) from exc


def _array_positions(X, mapping):
    """Position of each field in a 2D array: the mapping, or by the width.

    Without a mapping, 5 columns are OHLCV in order and 1 column is the
    close; any other width is ambiguous. A mapping names every field the
    array holds.
    """
    if mapping:
        located = mapping
    elif X.shape[1] == len(OHLCV):
        located = {name: i for i, name in enumerate(OHLCV)}
    elif X.shape[1] == 1:
        located = {"close": 0}
    else:
        raise ValueError(
            f"X has {X.shape[1]} feature(s), but an array must have 1 column "
            "(close prices) or exactly 5 columns in the order "
            f"{list(OHLCV)}. Pass a DataFrame with named columns, or map "
            "positions with columns={'close': 3, ...}."
        )
    bad = {
        name: pos
        for name, pos in located.items()
        if not isinstance(pos, numbers.Integral) or not 0 <= pos < X.shape[1]
    }
    if bad:
        raise ValueError(
            f"Column positions {bad} are out of range for an array with "
            f"{X.shape[1]} columns; fix the columns mapping."
        )
    return located


def _check_fields(located, found):
    """``located`` if its fields allow the features; else name the fix.

    ``found`` lists a DataFrame's columns for the message (None: an array).
    """
    where = "" if found is None else f" (columns found: {found})"
    if "close" not in located:
        raise ValueError(
            f"X is missing the column(s) ['close']{where}; every feature needs "
            "the close. Name the close-price column close (any case) or map it "
            "with columns={'close': 'Adj Close'} (a position for an array). A "
            "wide table of closes (one column per instrument) is a panel: "
            "reshape it with sklensemble.wide_to_panel(X) first."
        )
    present = [name for name in _RANGE if name in located]
    if len(present) == 1:
        missing = [name for name in _RANGE if name not in located]
        raise ValueError(
            f"X has a {present[0]!r} column but is missing the column(s) "
            f"{missing}{where}; the range features (atr, hl_range) need both "
            "high and low. Add or map the missing one, or drop the "
            f"{present[0]!r} column to compute the other features."
        )
    return located


def _fields_seen_in_fit(located, fields):
    """The columns of ``fields`` (those seen in fit); refuse if any is missing."""
    missing = [name for name in fields if name not in located]
    if missing:
        raise ValueError(
            f"X is missing the column(s) {missing}, which MarketFeatures was "
            f"fitted with (fields {list(fields)}): features computed from them "
            "would be missing. Pass the columns seen in fit, or fit again on "
            "these columns to get the features they allow."
        )
    return {name: located[name] for name in fields}


def _check_n_rows(n_rows, n_required, panel=False):
    if n_rows < n_required:
        what = (
            f"the panel's longest instrument has {n_rows} row(s)"
            if panel
            else f"X has {n_rows} sample(s)"
        )
        raise ValueError(
            f"{what}, but MarketFeatures needs at least {n_required} rows (its "
            "longest warm-up plus one). Pass a longer history, or shorten the "
            "windows (e.g. ma_windows, macd_windows)."
        )


def _check_bars(data):
    """Reject NaN/inf, non-positive prices, negative volume and high < low."""
    for name, values in data.items():
        if not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values))[0])
            raise ValueError(
                f"Column {name!r} contains NaN or infinity (first at row {row}); "
                "fill or drop those bars first, e.g. with ffill()."
            )
    for name in OHLCV[:4]:
        if name in data and (data[name] <= 0).any():
            raise ValueError(
                f"Column {name!r} has non-positive prices; log returns need "
                "prices > 0. Check the data and the column order (open, high, "
                "low, close, volume)."
            )
    if "volume" in data and (data["volume"] < 0).any():
        raise ValueError("Column 'volume' has negative values; volume must be >= 0.")
    if "high" in data and (data["high"] < data["low"]).any():
        row = int(np.flatnonzero(data["high"] < data["low"])[0])
        raise ValueError(
            f"high < low at row {row}; check the column order (open, high, low, "
            "close, volume) or the columns mapping."
        )

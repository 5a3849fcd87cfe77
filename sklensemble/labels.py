"""Buy/Hold/Sell targets computed from a price series.

Labels look *forward* by construction: the label at bar ``t`` summarises what
the price does after ``t``. Everything else here is careful to use only the
past: volatility-scaled thresholds at ``t`` use returns known at ``t``, and
rows whose future is not fully observed get no label (NaN) instead of a label
computed from a truncated horizon.

* :func:`return_labels` -- threshold the forward return over ``horizon`` bars.
* :func:`triple_barrier_labels` -- the first of an upper, lower and vertical
  barrier touched within ``horizon`` bars, with the time the outcome becomes
  known (needed to purge training rows, see
  :class:`~sklensemble.PurgedWalkForwardSplit`).
* :func:`drop_unlabeled` -- drop the rows without a label from ``X`` and
  ``y`` together.

Both labelling functions also take a *panel*: a close Series indexed by an
``(instrument, date)`` or ``(date, instrument)`` MultiIndex, rows in any
order. Each instrument is then labelled on its own, in date order, exactly as
if it were passed alone; the output keeps the input's rows and order.
"""

import numbers

import numpy as np
import pandas as pd

from ._panel import panel_keys
from ._prices import _check_prices, _forward_returns
from ._validation import check_int

__all__ = ["drop_unlabeled", "return_labels", "triple_barrier_labels"]

_DEFAULT_LABELS = ("sell", "hold", "buy")


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------
def _check_close(close, name="close"):
    """Return ``close`` as a float Series with a unique, increasing index."""
    if isinstance(close, pd.DataFrame):
        raise ValueError(
            f"{name} must be a 1D price series, got a DataFrame with columns "
            f"{list(close.columns)}; pass one column, e.g. frame['close']."
        )
    if not isinstance(close, pd.Series):
        try:
            values = np.asarray(close, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name} must be a pandas Series or a 1D array-like of prices; "
                f"could not convert {type(close).__name__} to floats ({exc})."
            ) from exc
        if values.ndim != 1:
            raise ValueError(
                f"{name} must be 1D, got an array of shape {values.shape}; pass "
                "a single price column as a pandas Series."
            )
        close = pd.Series(values, name=name)
    if not close.index.is_unique:
        raise ValueError(
            f"{name} has duplicate index values; bars must have distinct "
            "timestamps. Drop duplicates first, e.g. "
            "close[~close.index.duplicated()]."
        )
    if not close.index.is_monotonic_increasing:
        raise ValueError(
            f"{name} index is not sorted in increasing time order; sort it "
            "first with close.sort_index()."
        )
    return _check_price_series(close, name)


def _check_price_series(close, name):
    """``close`` as a float Series with the same index; rejects bad prices."""
    if close.dtype == bool or not pd.api.types.is_numeric_dtype(close.dtype):
        raise ValueError(
            f"{name} must hold numeric prices, got dtype {close.dtype}; "
            "convert it with pd.to_numeric first."
        )
    values = close.to_numpy(dtype=float, na_value=np.nan)
    _check_prices(values, name, close.index)
    return pd.Series(values, index=close.index, name=close.name)


def _prepare_close(close, instrument):
    """``(prices, keys)``: checked float prices, and the panel keys or None.

    A Series with a panel's MultiIndex (see :func:`~sklensemble._panel.panel_keys`)
    is a panel; its rows may come in any order, so only the
    ``(instrument, date)`` pairs must be unique. Any other MultiIndex holds
    one series.
    """
    if isinstance(close, pd.Series) and isinstance(close.index, pd.MultiIndex):
        # An empty frame carries the index alone: the Series' name can never
        # be mistaken for an instrument column.
        keys = panel_keys(pd.DataFrame(index=close.index), instrument)
        return _check_price_series(close, "close"), keys
    if instrument is not None:
        raise ValueError(
            f"instrument={instrument!r} names the instrument level of a panel, "
            "but close is not a Series with an (instrument, date) MultiIndex. "
            "Pass instrument=None for a single price series."
        )
    return _check_close(close), None


def _instrument_rows(n_samples, keys):
    """Row positions of each instrument in date order (all rows if no panel)."""
    if keys is None:
        return [np.arange(n_samples)]
    order, starts = keys.segments()
    return [order[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]


def _row_dates(close, keys):
    """Per row, the time ``known_at`` reports: the index, or a panel's date."""
    return close.index if keys is None else keys.date_values.take(keys.date)


def _check_nonnegative(value, name, *, allow_none=False, strict=False):
    if value is None and allow_none:
        return None
    bound = "> 0" if strict else ">= 0"
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not np.isfinite(value)
        or value < 0
        or (strict and value == 0)
    ):
        extra = " or None" if allow_none else ""
        raise ValueError(
            f"{name} must be a finite number {bound}{extra}, got {value!r}."
        )
    return float(value)


def _check_labels(labels):
    try:
        sell, hold, buy = labels
    except (TypeError, ValueError):
        raise ValueError(
            "labels must be a sequence of three values (sell, hold, buy), "
            f"got {labels!r}."
        ) from None
    if len({sell, hold, buy}) != 3:
        raise ValueError(f"labels must be three distinct values, got {labels!r}.")
    return sell, hold, buy


def _rolling_volatility(values, window):
    """Std (ddof=1) of the last ``window`` one-bar returns, known at each row.

    Row ``t`` uses the returns ending at rows ``t - window + 1 .. t``, i.e.
    prices ``values[t - window .. t]``; the first ``window`` rows are NaN.
    """
    close = pd.Series(values)
    returns = close / close.shift(1) - 1.0
    return returns.rolling(window, min_periods=window).std().to_numpy()


def _assign(codes, labels):
    """Map codes -1/0/1 (NaN = no label) to an object array of labels."""
    sell, hold, buy = labels
    out = np.full(codes.shape, np.nan, dtype=object)
    out[codes == -1] = sell
    out[codes == 0] = hold
    out[codes == 1] = buy
    return out


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------
def return_labels(
    close,
    horizon=1,
    threshold=0.0,
    *,
    volatility_window=None,
    volatility_multiplier=1.0,
    labels=_DEFAULT_LABELS,
    instrument=None,
):
    """Label each bar by its forward return over ``horizon`` bars.

    The forward return at bar ``t`` is ``close[t + horizon] / close[t] - 1``.
    It is labelled *buy* if it is strictly above the threshold, *sell* if it
    is strictly below minus the threshold, and *hold* otherwise: the hold
    band ``[-threshold, +threshold]`` includes its boundaries, so with the
    default ``threshold=0`` a return of exactly zero is *hold*.

    Parameters
    ----------
    close : pandas Series or 1D array-like
        Prices in time order. A Series must have a unique, increasing index;
        an array gets a ``RangeIndex``. Prices must be finite and positive.
        Or a panel: a Series indexed by an ``(instrument, date)`` or
        ``(date, instrument)`` MultiIndex, rows in any order, one row per
        instrument and date. Each instrument is then labelled alone, in date
        order: its last ``horizon`` rows (and, with ``volatility_window``,
        its first ``volatility_window`` rows) get no label.
    horizon : int, default=1
        Bars ahead the return is measured over (>= 1).
    threshold : float, default=0.0
        Fixed half-width of the hold band, as a return fraction (0.01 = 1%).
        Must be 0 when ``volatility_window`` is given.
    volatility_window : int or None, default=None
        If given, the half-width at bar ``t`` is ``volatility_multiplier``
        times the standard deviation (ddof=1) of the last
        ``volatility_window`` one-bar returns up to and including bar ``t``
        (prices ``close[t - volatility_window .. t]``: known at ``t``, no
        look-ahead). The first ``volatility_window`` bars, where that
        volatility is undefined, get no label (NaN). Must be >= 2.
    volatility_multiplier : float, default=1.0
        Multiplier of the rolling volatility (> 0). The volatility is of
        *one-bar* returns; for a ``horizon``-bar return a multiplier of about
        ``k * sqrt(horizon)`` keeps the band at ``k`` standard deviations.
    labels : sequence of 3 values, default=("sell", "hold", "buy")
        Values used for sell, hold and buy, in that order.
    instrument : str or None, default=None
        Panels only: the name of the index level holding the instrument.
        None recognises the date level by its datetime dtype, or a level
        named ``"instrument"``.

    Returns
    -------
    y : pandas Series
        Same index as ``close`` (same rows, same order), named ``"label"``,
        dtype object. NaN marks rows without a label: the last ``horizon``
        bars (their future is not observed) and, with ``volatility_window``,
        the warm-up bars -- of each instrument, for a panel. Remove them with
        :func:`drop_unlabeled`.

    Raises
    ------
    ValueError
        On a non-1D input, a duplicate or unsorted index, NaN, infinite or
        non-positive prices, ``horizon < 1``, a negative threshold, or a
        threshold combined with ``volatility_window``. For a panel, on a
        repeated ``(instrument, date)`` pair or when the instrument level
        cannot be told apart from the date level.

    See Also
    --------
    triple_barrier_labels : Path-dependent labels with stop-loss/profit-take.
    drop_unlabeled : Drop the NaN-labelled rows from X and y together.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklensemble.labels import return_labels
    >>> close = pd.Series([100.0, 101.0, 100.9, 100.9, 99.0])
    >>> return_labels(close, horizon=1, threshold=0.002).tolist()
    ['buy', 'hold', 'hold', 'sell', nan]
    >>> return_labels(close, horizon=2).tolist()
    ['buy', 'sell', 'sell', nan, nan]

    A panel, interleaved by date: each instrument follows its own prices and
    loses its own last bar.

    >>> index = pd.MultiIndex.from_product(
    ...     [pd.bdate_range("2024-01-01", periods=3), ["AAA", "BBB"]],
    ...     names=["date", "instrument"])
    >>> panel = pd.Series([10.0, 50.0, 11.0, 49.0, 10.5, 49.0], index=index)
    >>> return_labels(panel).tolist()
    ['buy', 'sell', 'sell', 'hold', nan, nan]
    """
    close, keys = _prepare_close(close, instrument)
    horizon = check_int(horizon, "horizon", 1)
    threshold = _check_nonnegative(threshold, "threshold")
    labels = _check_labels(labels)
    if volatility_window is not None:
        if threshold != 0:
            raise ValueError(
                "threshold and volatility_window are alternatives: with "
                "volatility_window the band is volatility_multiplier x rolling "
                f"volatility. Got threshold={threshold}; pass threshold=0 or "
                "volatility_window=None."
            )
        volatility_window = check_int(volatility_window, "volatility_window", 2)
        volatility_multiplier = _check_nonnegative(
            volatility_multiplier, "volatility_multiplier", strict=True
        )

    values = close.to_numpy()
    codes = np.full(len(values), np.nan)
    for rows in _instrument_rows(len(values), keys):
        codes[rows] = _forward_codes(
            values[rows], horizon, threshold, volatility_window, volatility_multiplier
        )
    return pd.Series(
        _assign(codes, labels), index=close.index, name="label", dtype=object
    )


def _forward_codes(values, horizon, threshold, volatility_window, multiplier):
    """Codes -1/0/1 (NaN = no label) of one instrument's prices in time order."""
    if volatility_window is None:
        band = np.full(len(values), threshold)
    else:
        band = multiplier * _rolling_volatility(values, volatility_window)
    forward = _forward_returns(values, horizon=horizon)
    codes = np.full(len(values), np.nan)
    known = ~np.isnan(forward) & ~np.isnan(band)
    codes[known] = np.select(
        [forward[known] > band[known], forward[known] < -band[known]], [1, -1], 0
    )
    return codes


def _first_touch(paths, upper, lower):
    """Bar offset (1-based) of the first barrier touch per row, 0 if none.

    ``paths[i, j-1]`` is the return from the entry bar to ``j`` bars later;
    ``upper``/``lower`` are per-row barrier returns (inf/-inf disables one).
    Returns the offset and the side touched (+1 upper, -1 lower, 0 none).
    """
    up = paths >= upper[:, None]
    down = paths <= lower[:, None]
    hit = up | down
    any_hit = hit.any(axis=1)
    first = np.where(any_hit, hit.argmax(axis=1), -1)
    rows = np.arange(len(paths))
    side = np.where(any_hit, np.where(up[rows, first], 1, -1), 0)
    return np.where(any_hit, first + 1, 0), side


def _known_at(index, positions):
    """Index values at ``positions``; -1 gives NaT (datetime) or <NA> (integer)."""
    missing = positions < 0
    if pd.api.types.is_integer_dtype(index.dtype):
        # A float column would print bar numbers as 3.0; keep them integers.
        values = pd.array(index.to_numpy()[np.maximum(positions, 0)], dtype="Int64")
        values[missing] = pd.NA
        return values
    # Index.where fills with the index's own missing value (NaT for dates);
    # take(..., allow_fill=True) would take the last row on pandas 2.
    return index.take(np.maximum(positions, 0)).where(~missing)


def triple_barrier_labels(
    close,
    horizon,
    profit_take,
    stop_loss,
    *,
    volatility_window=None,
    vertical="hold",
    labels=_DEFAULT_LABELS,
    instrument=None,
):
    """Label each bar by the first barrier its price path touches.

    From the entry bar ``t`` the return path is
    ``close[t + j] / close[t] - 1`` for ``j = 1 .. horizon`` (closing prices
    only; intrabar highs and lows are not used). The upper barrier is touched
    when the return is ``>= profit_take``, the lower one when it is
    ``<= -stop_loss`` (touching counts). The first touch decides: upper ->
    *buy*, lower -> *sell*. If neither is touched by bar ``t + horizon``, the
    vertical barrier decides: ``vertical="hold"`` gives *hold*;
    ``vertical="sign"`` gives the sign of the return at ``t + horizon``
    (*buy* if > 0, *sell* if < 0, *hold* if exactly 0).

    Parameters
    ----------
    close : pandas Series or 1D array-like
        Prices in time order, or a panel Series with an ``(instrument,
        date)`` MultiIndex, as for :func:`return_labels`. A panel's
        instruments are labelled each on its own, in date order.
    horizon : int
        Bars until the vertical barrier (>= 1).
    profit_take, stop_loss : float or None
        Barrier distances (> 0): return fractions (0.02 = 2%), or multiples
        of the rolling volatility when ``volatility_window`` is given.
        ``None`` removes that barrier.
    volatility_window : int or None, default=None
        If given, barriers at bar ``t`` are scaled by the standard deviation
        (ddof=1) of the last ``volatility_window`` one-bar returns up to bar
        ``t`` (known at ``t``). The first ``volatility_window`` bars get no
        label. Must be >= 2.
    vertical : {"hold", "sign"}, default="hold"
        Label when the vertical barrier is reached first.
    labels : sequence of 3 values, default=("sell", "hold", "buy")
        Values used for sell, hold and buy, in that order.
    instrument : str or None, default=None
        Panels only: the index level holding the instrument, as for
        :func:`return_labels`.

    Returns
    -------
    events : pandas DataFrame
        Same index as ``close`` (same rows, same order), with columns:

        - ``label`` (dtype object): the label, NaN where the bar has no full
          ``horizon`` of future prices or no volatility yet.
        - ``known_at``: the index value of the bar at which the outcome is
          known -- the touch bar, or ``t + horizon`` for the vertical
          barrier; always within ``[t, t + horizon]``. Missing (NaT for a
          DatetimeIndex, ``<NA>`` for an integer index) where the label is.
          For a panel, the *date* (date level value) of that bar, counted in
          the row's own instrument's bars.

    Raises
    ------
    ValueError
        On invalid prices or index (see :func:`return_labels`), ``horizon <
        1``, non-positive barriers or an unknown ``vertical``.

    Notes
    -----
    A bar's label depends on ``close[t .. t + horizon]`` and, with
    ``volatility_window``, on the past. Training rows whose ``known_at``
    reaches into a test period leak information; since ``known_at <= t +
    horizon``, ``PurgedWalkForwardSplit(purge=horizon)`` removes all of them.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklensemble.labels import triple_barrier_labels
    >>> close = pd.Series(
    ...     [100.0, 101.0, 103.0, 99.0, 98.0, 98.5],
    ...     index=pd.date_range("2024-01-01", periods=6),
    ... )
    >>> events = triple_barrier_labels(close, 2, profit_take=0.02, stop_loss=0.02)
    >>> events
               label   known_at
    2024-01-01   buy 2024-01-03
    2024-01-02  hold 2024-01-04
    2024-01-03  sell 2024-01-04
    2024-01-04  hold 2024-01-06
    2024-01-05   NaN        NaT
    2024-01-06   NaN        NaT
    """
    close, keys = _prepare_close(close, instrument)
    horizon = check_int(horizon, "horizon", 1)
    profit_take = _check_nonnegative(
        profit_take, "profit_take", allow_none=True, strict=True
    )
    stop_loss = _check_nonnegative(stop_loss, "stop_loss", allow_none=True, strict=True)
    if vertical not in ("hold", "sign"):
        raise ValueError(f"vertical must be 'hold' or 'sign', got {vertical!r}.")
    labels = _check_labels(labels)
    if volatility_window is not None:
        volatility_window = check_int(volatility_window, "volatility_window", 2)

    values = close.to_numpy()
    codes = np.full(len(values), np.nan)
    known_row = np.full(len(values), -1)
    for rows in _instrument_rows(len(values), keys):
        codes[rows], offset = _barrier_outcomes(
            values[rows], horizon, profit_take, stop_loss, volatility_window, vertical
        )
        # Positions within the instrument -> rows of the input.
        known_row[rows] = np.where(offset >= 0, rows[np.maximum(offset, 0)], -1)

    return pd.DataFrame(
        {
            "label": pd.Series(_assign(codes, labels), close.index, dtype=object),
            "known_at": _known_at(_row_dates(close, keys), known_row),
        },
        index=close.index,
    )


def _barrier_outcomes(values, horizon, profit_take, stop_loss, window, vertical):
    """Codes -1/0/1 and the position where each outcome is known (-1 = none).

    ``values`` are one instrument's prices in time order.
    """
    n = len(values)
    scale = np.ones(n) if window is None else _rolling_volatility(values, window)
    upper = np.full(n, np.inf) if profit_take is None else profit_take * scale
    lower = np.full(n, -np.inf) if stop_loss is None else -stop_loss * scale

    codes = np.full(n, np.nan)
    known_pos = np.full(n, -1)
    n_full = n - horizon  # entry bars with a complete horizon ahead
    if n_full > 0:
        windows = np.lib.stride_tricks.sliding_window_view(values, horizon + 1)
        paths = windows[:n_full, 1:] / values[:n_full, None] - 1.0
        rows = np.flatnonzero(~np.isnan(scale[:n_full]))
        offset, side = _first_touch(paths[rows], upper[rows], lower[rows])
        final = np.sign(paths[rows, -1]) if vertical == "sign" else 0.0
        codes[rows] = np.where(side != 0, side, final)
        known_pos[rows] = rows + np.where(offset > 0, offset, horizon)
    return codes, known_pos


def drop_unlabeled(X, y, *, drop_nan_features=False):
    """Drop the rows without a label from ``X`` and ``y`` together.

    Parameters
    ----------
    X : pandas DataFrame, Series or array-like of shape (n_samples, ...)
        Features, row-aligned with ``y``.
    y : pandas Series, DataFrame or 1D array-like of shape (n_samples,)
        Labels, NaN/None where unlabeled (as returned by
        :func:`return_labels`). A DataFrame (such as the output of
        :func:`triple_barrier_labels`) is filtered on its ``"label"`` column
        and returned whole, so ``known_at`` stays aligned.
    drop_nan_features : bool, default=False
        Also drop rows where any feature in ``X`` is NaN, e.g. the warm-up
        rows of :class:`~sklensemble.MarketFeatures`.

    Returns
    -------
    X, y : same types as the inputs
        The kept rows, in order. A labels Series gets its dtype re-inferred
        (object -> str or int64).

    Raises
    ------
    ValueError
        If the lengths differ, or if both are pandas objects whose indexes
        are not identical (they would pair different bars).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklensemble.labels import drop_unlabeled, return_labels
    >>> close = pd.Series([100.0, 101.0, 100.0, 102.0])
    >>> X = pd.DataFrame({"ret": close.pct_change()})
    >>> y = return_labels(close)
    >>> X2, y2 = drop_unlabeled(X, y)
    >>> y2.tolist()
    ['buy', 'sell', 'buy']
    >>> X3, y3 = drop_unlabeled(X, y, drop_nan_features=True)
    >>> X3.index.tolist(), y3.tolist()
    ([1, 2], ['sell', 'buy'])
    """
    if isinstance(y, pd.DataFrame):
        if "label" not in y.columns:
            raise ValueError(
                "y is a DataFrame without a 'label' column; pass the label "
                "Series itself, or the output of triple_barrier_labels."
            )
        labels = y["label"]
    elif isinstance(y, pd.Series):
        labels = y
    else:
        y = np.asarray(y, dtype=object)
        if y.ndim != 1:
            raise ValueError(f"y must be 1D, got shape {y.shape}.")
        labels = pd.Series(y)
    n_x = X.shape[0] if hasattr(X, "shape") else len(X)
    if n_x != len(labels):
        raise ValueError(
            f"X has {n_x} rows but y has {len(labels)}; they must describe the "
            "same bars, row for row."
        )
    x_is_pandas = isinstance(X, pd.DataFrame | pd.Series)
    if (
        x_is_pandas
        and isinstance(y, pd.DataFrame | pd.Series)
        and not X.index.equals(y.index)
    ):
        raise ValueError(
            "X and y have different indexes, so their rows would pair different "
            "bars. Align them first, e.g. y = y.reindex(X.index), or compute "
            "both from the same price frame."
        )
    keep = labels.notna().to_numpy()
    if drop_nan_features:
        nan = pd.isna(X.to_numpy() if x_is_pandas else np.asarray(X))
        keep = keep & ~nan.reshape(len(keep), -1).any(axis=1)

    rows = np.flatnonzero(keep)
    X = X.iloc[rows] if x_is_pandas else np.asarray(X)[rows]
    if isinstance(y, pd.Series):
        y = y.iloc[rows].infer_objects()
    elif isinstance(y, pd.DataFrame):
        y = y.iloc[rows]
    else:
        y = pd.Series(y[rows]).infer_objects().to_numpy()
    return X, y

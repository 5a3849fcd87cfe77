"""Indicator kernels of MarketFeatures: 1D float arrays in, 1D float arrays out.

Each value at row t is computed from rows <= t only (trailing windows,
forward-running recursions), so the same kernels serve training and live
prediction. The cross-sectional features of a panel compare instruments on
the same date only.
"""

import numpy as np
import pandas as pd


def _wilder_mean(x, n):
    """Wilder's smoothing of ``x[1:]``: SMA of the first ``n``, then recursive.

    ``x[0]`` is ignored (it has no previous bar). Row ``n`` holds the mean of
    ``x[1 .. n]``; later rows ``avg[t] = avg[t-1] + (x[t] - avg[t-1]) / n``.
    Rows before ``n`` are NaN.
    """
    seeded = np.full(len(x), np.nan)
    if len(x) > n:
        seeded[n] = x[1 : n + 1].mean()
        seeded[n + 1 :] = x[n + 1 :]
    # ewm(adjust=False) starts its recursion at the first non-NaN value.
    return pd.Series(seeded).ewm(alpha=1.0 / n, adjust=False).mean().to_numpy()


def _log_return(close, k):
    """``log(close[t] / close[t-k])``; NaN for the first ``k`` rows."""
    out = np.full(len(close), np.nan)
    out[k:] = np.log(close[k:] / close[:-k])
    return out


def _rsi(close, n):
    """Wilder's RSI in [0, 100]; 50 where the window has no price change."""
    delta = np.diff(close, prepend=np.nan)
    gain = _wilder_mean(np.clip(delta, 0.0, None), n)
    loss = _wilder_mean(np.clip(-delta, 0.0, None), n)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        # 100 - 100 / (1 + gain / loss), written to survive loss == 0.
        rsi = 100.0 * gain / total
    return np.where(total == 0.0, 50.0, rsi)


def _ema(x, span):
    """Recursive EMA seeded with ``x[0]`` (alpha = 2 / (span + 1))."""
    return pd.Series(x).ewm(span=span, adjust=False).mean().to_numpy()


def _rolling(x, window, stat, **kwargs):
    roll = pd.Series(x).rolling(window, min_periods=window)
    return getattr(roll, stat)(**kwargs).to_numpy()


def _zscore(x, window):
    """Rolling z-score including the current row; 0 where the window is flat."""
    mean = _rolling(x, window, "mean")
    std = _rolling(x, window, "std")
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x - mean) / std
    return np.where(std == 0.0, 0.0, z)


def _percent_b(close, window, k):
    """Bollinger %b with a population (ddof=0) std; 0.5 where the window is flat."""
    mean = _rolling(close, window, "mean")
    std = _rolling(close, window, "std", ddof=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pctb = (close - (mean - k * std)) / (2.0 * k * std)
    return np.where(std == 0.0, 0.5, pctb)


def _true_range(high, low, close):
    """Wilder's true range; row 0 is NaN (it has no previous close)."""
    prev = np.concatenate([[np.nan], close[:-1]])
    return np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))


def _masked(x, first_valid):
    """Set rows before ``first_valid`` to NaN (recursions seeded too early)."""
    x = np.array(x, dtype=float)
    x[:first_valid] = np.nan
    return x


def _cross_sectional_bases(p):
    """Names of the features compared across instruments: returns, volatility."""
    returns = [f"log_return_{h}" for h in p["return_horizons"]]
    return [*returns, f"volatility_{p['volatility_window']}"]


def _cross_sectional_features(features, keys, p):
    """``{name}_cs_{kind}`` arrays (input row order) for each kind requested."""
    # Compare on rows sorted by (date, instrument): sums then run in the same
    # order whatever the input's row order, so the values are identical.
    by_date = np.lexsort((keys.instrument, keys.date))
    bases = pd.DataFrame(
        {name: features[name][by_date] for name in _cross_sectional_bases(p)}
    )
    out = {}
    for kind in p["cross_sectional"]:
        for name, values in _cross_section(bases, keys.date[by_date], kind).items():
            out[f"{name}_cs_{kind}"] = np.empty(len(by_date))
            out[f"{name}_cs_{kind}"][by_date] = values
    return out


def _cross_section(frame, dates, kind):
    """Rank in [0, 1] or z-score of each column among the rows of each date.

    Uses only the rows of the same date; NaN rows are left out of the
    comparison and stay NaN. Ties share their average rank; a date with one
    valid row ranks it 0.5. The z-score uses the population std (ddof=0) and
    is 0 on a date whose values are all equal.
    """
    groups = frame.groupby(dates)
    if kind == "rank":
        count = groups.transform("count")
        rank = (groups.rank(method="average") - 1.0) / (count - 1.0)
        out = rank.where(count > 1, 0.5)
    else:
        z = (frame - groups.transform("mean")) / groups.transform("std", ddof=0)
        # max == min, not std == 0: the mean of equal values may be off by
        # one ulp, which would turn a flat date into +/-1.
        out = z.where(groups.transform("max") != groups.transform("min"), 0.0)
    out = out.where(frame.notna())
    return {name: out[name].to_numpy(dtype=float) for name in frame.columns}

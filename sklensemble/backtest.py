"""Backtest of long/short/flat positions: returns, Sharpe, drawdown, turnover.

* :func:`backtest` -- the backtest of one sequence of positions.

:func:`~sklensemble.evaluate.walk_forward` backtests each fold's predicted
labels with the helpers here: labels become positions, close prices become
each row's next return (per instrument on a panel), and a panel's
instruments are combined in an equal-weight portfolio.

Timing convention
-----------------
The prediction for bar ``t`` uses features known at bar ``t``'s close. The
position it implies (*buy* -> +1, *hold* -> 0, *sell* -> -1) is taken at
that close and earns the return from ``t``'s close to the next bar's close,
``prices[t+1] / prices[t] - 1``. Each change of position costs ``costs``
times its size (turnover), charged on the bar where it is made; every fold
starts flat, so entering the first position is charged, and the position
left open at the fold's end is not charged to close.
"""

import numbers

import numpy as np
import pandas as pd

from ._panel import panel_keys
from ._prices import _check_prices, _forward_returns
from ._validation import check_int

__all__ = ["backtest"]

_DEFAULT_POSITIONS = {"buy": 1, "hold": 0, "sell": -1}


_BACKTEST_COLUMNS = [
    "hit_rate",
    "cumulative_return",
    "sharpe",
    "max_drawdown",
    "turnover",
]


def backtest(
    signals, next_returns, *, costs=0.0, holding_period=1, periods_per_year=252
):
    """Backtest positions taken at each bar's close, held over the next bar.

    Parameters
    ----------
    signals : array-like of shape (n_bars,)
        Target position decided at each bar's close (+1 long, 0 flat, -1
        short; fractions allowed).
    next_returns : array-like of shape (n_bars,)
        Return of the asset from each bar's close to the next bar's close.
        NaN (no next bar) earns nothing and is left out of ``hit_rate``.
    costs : float, default=0.0
        Cost per unit of turnover, as a return fraction (0.0005 = 5 basis
        points per unit traded).
    holding_period : int, default=1
        With ``1`` the position is the latest signal. With ``h > 1`` the
        capital is split in ``h`` tranches, one opened at each bar and held
        ``h`` bars (Jegadeesh-Titman overlapping portfolios): the position is
        the mean of the last ``h`` signals, signals before the first bar
        counting as flat. Use the label horizon to hold each forecast as
        long as it predicts.
    periods_per_year : int, default=252
        Bars per year, to annualise the Sharpe ratio.

    Returns
    -------
    result : dict
        ``hit_rate``: share of bars with a non-zero position whose next
        return has the position's sign (NaN if always flat);
        ``cumulative_return``: compounded net return; ``sharpe``: annualised
        mean / standard deviation (ddof=1) of the net per-bar returns (0 when
        always flat, NaN for other constant returns); ``max_drawdown``:
        largest fall of the equity from its running peak, as a positive
        fraction (the start counts as a peak); ``turnover``: mean absolute
        change of position per bar (entry from flat included).
        ``positions`` and ``net_returns``: the per-bar arrays.

    Examples
    --------
    >>> from sklensemble.backtest import backtest
    >>> result = backtest([1, 1, -1], [0.10, -0.05, -0.02], costs=0.01)
    >>> result["positions"].tolist()
    [1.0, 1.0, -1.0]
    >>> result["net_returns"].round(4).tolist()  # costs: 1, 0, then 2 units
    [0.09, -0.05, 0.0]
    >>> round(result["cumulative_return"], 4), round(result["turnover"], 4)
    (0.0355, 1.0)
    >>> round(result["hit_rate"], 4)
    0.6667
    """
    signals = np.asarray(signals, dtype=np.float64)
    next_returns = np.asarray(next_returns, dtype=np.float64)
    if signals.shape != next_returns.shape or signals.ndim != 1:
        raise ValueError(
            f"signals and next_returns must be 1D of the same length, got shapes "
            f"{signals.shape} and {next_returns.shape}."
        )
    holding_period = check_int(holding_period, "holding_period", 1)
    costs = _check_costs(costs)
    known = ~np.isnan(next_returns)
    next_returns = np.where(known, next_returns, 0.0)
    positions = _tranche_positions(signals, holding_period)
    turnover = np.abs(np.diff(positions, prepend=0.0))
    net = positions * next_returns - costs * turnover
    return {
        "hit_rate": _hit_rate(positions, next_returns, known),
        **_performance(net, periods_per_year),
        "turnover": float(turnover.mean()) if len(net) else 0.0,
        "positions": positions,
        "net_returns": net,
    }


def _hit_rate(positions, next_returns, known):
    """Share of invested bars with a known next return of the position's sign."""
    invested = (positions != 0) & known
    if not invested.any():
        return np.nan
    return float(np.mean(positions[invested] * next_returns[invested] > 0))


def _performance(net, periods_per_year):
    """Compounded return, Sharpe and max drawdown of per-bar net returns."""
    if not len(net):
        return {"cumulative_return": 0.0, "sharpe": 0.0, "max_drawdown": 0.0}
    equity = np.cumprod(1.0 + net)
    peaks = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    std = net.std(ddof=1) if len(net) > 1 else 0.0
    return {
        "cumulative_return": float(equity[-1] - 1.0),
        "sharpe": _sharpe(net, std, periods_per_year),
        "max_drawdown": float(np.max(1.0 - equity / peaks)),
    }


def _sharpe(net, std, periods_per_year):
    if std > 0:
        return float(net.mean() / std * np.sqrt(periods_per_year))
    # Always flat (no return, no risk) scores 0; other constant returns are
    # undefined.
    return 0.0 if not np.any(net) else np.nan


def _tranche_positions(signals, holding_period):
    """Mean of the last ``holding_period`` signals (earlier ones count as 0)."""
    if holding_period == 1:
        return signals.copy()
    total = np.cumsum(np.concatenate([np.zeros(holding_period), signals]))
    return (total[holding_period:] - total[:-holding_period]) / holding_period


class _Trader:
    """Backtest settings shared by every model of every fold.

    ``dates`` (date rank per row) marks a panel: each instrument is then
    backtested on its own rows, and the ``_ALL`` row is their portfolio.
    """

    def __init__(
        self,
        next_returns,
        position_of,
        costs,
        holding_period,
        periods_per_year,
        dates=None,
    ):
        self.next_returns = next_returns
        self.position_of = position_of
        self.costs = costs
        self.holding_period = holding_period
        self.periods_per_year = periods_per_year
        self.dates = dates

    def trade(self, rows, groups, frame, signals, test, holding_period=None):
        """Backtest ``signals`` on the test rows; fill ``rows`` and ``frame``."""
        next_returns = self.next_returns[test]
        positions = np.zeros(len(test))
        net = np.zeros(len(test))
        turnover = np.zeros(len(test))
        # A panel's first group is the whole block, backtested as a portfolio.
        own = groups if self.dates is None else groups[1:]
        own_rows = rows if self.dates is None else rows[1:]
        for row, (_, sub) in zip(own_rows, own, strict=True):
            result = backtest(
                signals[sub],
                next_returns[sub],
                costs=self.costs,
                holding_period=holding_period or self.holding_period,
                periods_per_year=self.periods_per_year,
            )
            row.update({key: result[key] for key in _BACKTEST_COLUMNS})
            positions[sub] = result["positions"]
            net[sub] = result["net_returns"]
            turnover[sub] = np.abs(np.diff(result["positions"], prepend=0.0))
        if self.dates is not None:
            rows[0].update(
                self._portfolio(
                    self.dates[test], positions, next_returns, net, turnover
                )
            )
        if frame is not None:
            frame["position"] = positions
            frame["next_return"] = next_returns
            frame["strategy_return"] = net

    def _portfolio(self, dates, positions, next_returns, net, turnover):
        """Equal-weight portfolio of the instruments trading on each date."""
        _, day = np.unique(dates, return_inverse=True)
        count = np.bincount(day)
        daily = np.bincount(day, weights=net) / count
        known = ~np.isnan(next_returns)
        return {
            "hit_rate": _hit_rate(positions, np.where(known, next_returns, 0), known),
            **_performance(daily, self.periods_per_year),
            "turnover": float(np.mean(np.bincount(day, weights=turnover) / count)),
        }


def _check_costs(costs):
    if (
        not isinstance(costs, numbers.Real)
        or isinstance(costs, bool)
        or not np.isfinite(costs)
        or costs < 0
    ):
        raise ValueError(
            "costs must be a finite number >= 0 (a return fraction per unit "
            f"of turnover, e.g. 0.0005 for 5 basis points), got {costs!r}."
        )
    return float(costs)


# --------------------------------------------------------------------------
# Next returns from close prices
# --------------------------------------------------------------------------
def _next_returns(prices, X, index, keys=None, instrument=None):
    """Return from each row's price to the next entry of ``prices``."""
    if isinstance(prices, pd.DataFrame):
        raise ValueError(
            "prices must be a 1D close-price series, got a DataFrame; pass one "
            "column, e.g. bars['close']."
        )
    if keys is not None:
        return _panel_next_returns(prices, X, keys, instrument)
    if isinstance(prices, pd.Series) and isinstance(X, pd.DataFrame):
        if not prices.index.is_unique or not prices.index.is_monotonic_increasing:
            raise ValueError(
                "prices must have a unique, increasing index (time order); sort "
                "and de-duplicate it first."
            )
        missing = index.difference(prices.index)
        if len(missing):
            raise ValueError(
                f"prices has no price for {len(missing)} row(s) of X (first: "
                f"{missing[0]!r}); pass a Series whose index contains X's index "
                "(e.g. the full bars['close']) or an array with one price per row "
                "of X."
            )
        values = prices.to_numpy(dtype=np.float64, na_value=np.nan)
        _check_prices(values, "prices", prices.index)
        return _forward_returns(values)[prices.index.get_indexer(index)]
    values = _prices_per_row(
        prices,
        X,
        "when X is a DataFrame, pass a Series whose index contains X's index.",
    )
    return _forward_returns(values)


def _panel_next_returns(prices, X, keys, instrument):
    """Return from each row's price to its own instrument's next price."""
    if isinstance(prices, pd.Series) and isinstance(prices.index, pd.MultiIndex):
        level = instrument if instrument in prices.index.names else None
        price_keys = panel_keys(prices.to_frame(), level)
        values = prices.to_numpy(dtype=np.float64, na_value=np.nan)
        _check_prices(values, "prices", prices.index)
        forward = _forward_returns(values, price_keys)
        found = _pairs(price_keys).get_indexer(_pairs(keys))
        missing = np.flatnonzero(found < 0)
        if len(missing):
            raise ValueError(
                f"prices has no price for {len(missing)} row(s) of X (first: "
                f"{_pairs(keys)[missing[0]]!r}); pass a Series indexed by "
                "(instrument, date) that contains every row of X (e.g. the full "
                "close prices) or an array with one price per row of X."
            )
        return forward[found]
    if isinstance(prices, pd.Series) and not prices.index.equals(X.index):
        raise ValueError(
            "For a panel X, prices must be a Series indexed by (instrument, "
            "date), a Series with X's own index (row for row), or an array "
            f"with one price per row of X ({X.shape[0]})."
        )
    values = _prices_per_row(
        prices, X, "for a panel X, pass a Series indexed by (instrument, date)."
    )
    return _forward_returns(values, keys)


def _prices_per_row(prices, X, alternative):
    """``prices`` as one checked float per row of X, or a ValueError."""
    values = np.asarray(prices, dtype=np.float64)
    if values.ndim != 1 or len(values) != X.shape[0]:
        raise ValueError(
            f"prices must hold one price per row of X ({X.shape[0]}), got shape "
            f"{values.shape}; or, {alternative}"
        )
    _check_prices(values)
    return values


def _pairs(keys):
    """The (instrument, date) pair of each row, as a MultiIndex."""
    return pd.MultiIndex.from_arrays(
        [keys.instrument_names[keys.instrument], keys.date_values[keys.date]]
    )


# --------------------------------------------------------------------------
# Labels to positions
# --------------------------------------------------------------------------
def _position_map(classes, positions):
    """Function mapping an array of labels to positions."""
    if positions is None:
        mapping = dict(_DEFAULT_POSITIONS)
        for label in classes:  # integer labels -1/0/1 are their own position
            if label not in mapping and _is_int_label(label):
                mapping[label] = int(label)
    elif isinstance(positions, dict):
        mapping = dict(positions)
    else:
        raise ValueError(
            f"positions must be a dict {{label: position}}, got {positions!r}."
        )
    unmapped = [label for label in classes.tolist() if label not in mapping]
    if unmapped:
        raise ValueError(
            f"positions has no position for the labels {unmapped}; pass "
            "positions={label: position, ...} covering every class of y, e.g. "
            '{"buy": 1, "hold": 0, "sell": -1}.'
        )
    lookup = np.array([float(mapping[label]) for label in classes.tolist()])
    if not np.isfinite(lookup).all():
        raise ValueError(f"positions must be finite numbers, got {positions!r}.")

    def position_of(labels):
        return lookup[np.searchsorted(classes, labels)]

    return position_of


def _is_int_label(label):
    return (
        isinstance(label, numbers.Integral)
        and not isinstance(label, bool)
        and label in (-1, 0, 1)
    )

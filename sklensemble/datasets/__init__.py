"""Market data: a bundled S&P 500 history and a synthetic market generator.

* :func:`load_sp500` -- daily S&P 500 OHLCV bars, 1999-2018, shipped with the
  package (works offline).
* :func:`make_planted_sequences` -- rows whose label hides in earlier rows.
* :func:`make_synthetic_panel` -- a panel of instruments, each with its own
  planted rule over its own recent rows.
* :func:`make_synthetic_market` -- OHLCV bars with planted, learnable
  structure (persistent hidden regimes and short-term momentum), for tests
  and demos where the right answer is known.
"""

import numbers
from importlib import resources

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from sklearn.utils import check_random_state

from .._validation import check_int

__all__ = [
    "DEFAULT_REGIMES",
    "load_sp500",
    "make_planted_sequences",
    "make_synthetic_market",
    "make_synthetic_panel",
]

_SP500_FILE = "sp500_daily.csv.gz"
_SP500_COLUMNS = {
    "Date": "date",
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}

# Standard normal quantile of 2/3: thresholds at +/- it split a standard normal
# signal into three equally likely classes.
_TERTILE = 0.4307

#: Default regimes of :func:`make_synthetic_market`: name -> (drift, volatility)
#: of the one-bar log return.
DEFAULT_REGIMES = {
    "bull": (0.002, 0.010),
    "bear": (-0.002, 0.014),
    "flat": (0.0, 0.006),
}


def load_sp500():
    """Load daily S&P 500 index bars, 1999-01-04 to 2018-12-31.

    Public market data as distributed with the ``arch`` package's example
    datasets, bundled in the package so it loads without a network. The file
    is read on every call, so callers may modify the result freely.

    Returns
    -------
    bars : pandas DataFrame of shape (5031, 6)
        Indexed by a ``DatetimeIndex`` named ``"date"`` (trading days,
        increasing, unique). Columns, all ``float64`` and lower-case:
        ``open``, ``high``, ``low``, ``close``, ``adj_close`` (equal to
        ``close`` for an index) and ``volume`` (shares traded).

    Examples
    --------
    >>> from sklensemble.datasets import load_sp500
    >>> bars = load_sp500()
    >>> bars.shape
    (5031, 6)
    >>> list(bars.columns)
    ['open', 'high', 'low', 'close', 'adj_close', 'volume']
    >>> bars.index[0].date(), bars.index[-1].date()
    (datetime.date(1999, 1, 4), datetime.date(2018, 12, 31))
    """
    source = resources.files(__name__).joinpath("data", _SP500_FILE)
    with source.open("rb") as handle:
        bars = pd.read_csv(handle, compression="gzip")
    bars = bars.rename(columns=_SP500_COLUMNS)
    bars.index = pd.DatetimeIndex(pd.to_datetime(bars.pop("date")), name="date")
    return bars[list(_SP500_COLUMNS.values())[1:]].astype("float64")


def _check_regimes(regimes):
    """Return names, drifts and volatilities of the regimes."""
    if regimes is None:
        regimes = DEFAULT_REGIMES
    if not isinstance(regimes, dict) or len(regimes) < 1:
        raise ValueError(
            "regimes must be a non-empty dict of name -> (drift, volatility), "
            f"got {regimes!r}."
        )
    names, drifts, vols = [], [], []
    for name, spec in regimes.items():
        try:
            drift, vol = (float(v) for v in spec)
        except (TypeError, ValueError):
            raise ValueError(
                f"regimes[{name!r}] must be a (drift, volatility) pair of "
                f"numbers, got {spec!r}."
            ) from None
        if not (np.isfinite(drift) and np.isfinite(vol) and vol > 0):
            raise ValueError(
                f"regimes[{name!r}] needs a finite drift and a volatility > 0, "
                f"got {spec!r}."
            )
        names.append(name)
        drifts.append(drift)
        vols.append(vol)
    return names, np.array(drifts), np.array(vols)


def _check_unit(value, name, *, upper_open):
    bad = not isinstance(value, numbers.Real) or isinstance(value, bool)
    if bad or not (0 <= value < 1 if upper_open else 0 <= value <= 1):
        interval = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}.")
    return float(value)


def _regime_path(rng, n_bars, n_regimes, persistence):
    """Markov chain: stay with probability ``persistence``, else jump uniformly."""
    states = np.empty(n_bars, dtype=int)
    states[0] = rng.integers(n_regimes)
    if n_regimes == 1:
        states[:] = 0
        return states
    stay = rng.random(n_bars) < persistence
    jump = rng.integers(1, n_regimes, size=n_bars)
    for t in range(1, n_bars):
        states[t] = states[t - 1] if stay[t] else (states[t - 1] + jump[t]) % n_regimes
    return states


def make_synthetic_market(
    n_bars=2000,
    *,
    seed=None,
    regimes=None,
    persistence=0.98,
    momentum=0.3,
    momentum_window=5,
    start_price=100.0,
    start="2000-01-03",
    return_regimes=False,
):
    """Generate OHLCV bars with planted, learnable structure.

    Two effects make future returns predictable from several past bars:

    1. **Hidden regimes.** A Markov chain picks a regime each bar; it stays
       with probability ``persistence`` (mean duration ``1 / (1 -
       persistence)`` bars, 50 by default) and otherwise jumps to another
       regime uniformly. Each regime has its own drift and volatility
       (default: bull +0.2%/bar, bear -0.2%/bar with higher volatility, flat
       0 with low volatility). The regime is never observed, but trailing
       returns over 10-20 bars reveal it, and it persists into the future.
    2. **Momentum.** The one-bar log return is
       ``r[t] = drift[t] + momentum * mean(r[t-k .. t-1]) + vol[t] * eps[t]``
       with ``k = momentum_window`` and standard normal ``eps``: an AR(k)
       process, stationary for ``momentum < 1``.

    ``close`` follows ``exp(cumsum(r))``. Around it, ``open`` is the previous
    close times a small random gap, ``high``/``low`` extend
    ``max/min(open, close)`` by a random positive amount, and ``volume`` is
    log-normal, larger on bars with large surprises and in the most volatile
    regime. So high >= max(open, close), low <= min(open, close), and all
    prices and volumes are positive.

    Parameters
    ----------
    n_bars : int, default=2000
        Number of bars (>= 2).
    seed : int, numpy Generator or None, default=None
        Randomness; the same int gives the same bars.
    regimes : dict or None, default=None
        Name -> (drift, volatility) of the one-bar log return. ``None`` uses
        :data:`DEFAULT_REGIMES`.
    persistence : float, default=0.98
        Probability of staying in the current regime, in [0, 1].
    momentum : float, default=0.3
        Weight of the mean of the last ``momentum_window`` returns, in [0, 1).
        0 removes the momentum effect.
    momentum_window : int, default=5
        Bars averaged by the momentum term (>= 1).
    start_price : float, default=100.0
        Close before the first bar (> 0).
    start : str or Timestamp, default="2000-01-03"
        First date; bars are on consecutive business days.
    return_regimes : bool, default=False
        Also return the hidden regime of each bar.

    Returns
    -------
    bars : pandas DataFrame of shape (n_bars, 5)
        Columns ``open``, ``high``, ``low``, ``close``, ``volume`` (float64),
        indexed by a business-day ``DatetimeIndex`` named ``"date"``.
    regimes : pandas Series of str
        Only if ``return_regimes``: the regime name of each bar.

    Examples
    --------
    >>> from sklensemble.datasets import make_synthetic_market
    >>> bars = make_synthetic_market(500, seed=0)
    >>> bars.shape
    (500, 5)
    >>> bool((bars["high"] >= bars[["open", "close"]].max(axis=1)).all())
    True
    >>> bars, regime = make_synthetic_market(500, seed=0, return_regimes=True)
    >>> sorted(regime.unique())
    ['bear', 'bull', 'flat']
    """
    if (
        not isinstance(n_bars, numbers.Integral)
        or isinstance(n_bars, bool)
        or n_bars < 2
    ):
        raise ValueError(f"n_bars must be an integer >= 2, got {n_bars!r}.")
    names, drifts, vols = _check_regimes(regimes)
    persistence = _check_unit(persistence, "persistence", upper_open=False)
    momentum = _check_unit(momentum, "momentum", upper_open=True)
    if (
        not isinstance(momentum_window, numbers.Integral)
        or isinstance(momentum_window, bool)
        or momentum_window < 1
    ):
        raise ValueError(
            f"momentum_window must be an integer >= 1, got {momentum_window!r}."
        )
    if not isinstance(start_price, numbers.Real) or not start_price > 0:
        raise ValueError(f"start_price must be a number > 0, got {start_price!r}.")
    rng = np.random.default_rng(seed)

    states = _regime_path(rng, n_bars, len(names), persistence)
    drift, vol = drifts[states], vols[states]
    eps = rng.standard_normal(n_bars)
    # AR(k) recursion r[t] = x[t] + (momentum / k) * sum(r[t-k .. t-1]).
    ar = np.r_[1.0, np.full(momentum_window, -momentum / momentum_window)]
    log_ret = lfilter([1.0], ar, drift + vol * eps)

    close = start_price * np.exp(np.cumsum(log_ret))
    prev_close = np.r_[start_price, close[:-1]]
    open_ = prev_close * np.exp(0.2 * vol * rng.standard_normal(n_bars))
    wick = np.abs(0.5 * vol[:, None] * rng.standard_normal((n_bars, 2)))
    high = np.maximum(open_, close) * np.exp(wick[:, 0])
    low = np.minimum(open_, close) * np.exp(-wick[:, 1])
    turbulent = vol == vols.max()
    volume = 1e6 * np.exp(
        0.25 * rng.standard_normal(n_bars) + 0.4 * np.abs(eps) + 0.3 * turbulent
    )

    index = pd.bdate_range(start, periods=n_bars, name="date")
    bars = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=index,
    )
    if return_regimes:
        regime = pd.Series(np.asarray(names, dtype=object)[states], index=index)
        return bars, regime.rename("regime")
    return bars


def make_planted_sequences(n_samples=1500, *, lag=3, n_features=4, seed=None):
    """Rows whose binary label is planted in the ``lag`` rows *before* each row.

    ``y[t]`` is 1 when feature 0 summed over rows ``t - lag .. t - 1`` is
    positive. The current row alone carries no signal, so a tabular model on
    it stays at chance while a sequence model that looks back through its
    window can learn the rule exactly.

    Parameters
    ----------
    n_samples : int, default=1500
        Rows returned.
    lag : int, default=3
        Rows before ``t`` that decide ``y[t]``.
    n_features : int, default=4
        Standard-normal features per row.
    seed : int or None, default=None
        Seed of the generator.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) of {0, 1}

    Examples
    --------
    >>> from sklensemble.datasets import make_planted_sequences
    >>> X, y = make_planted_sequences(100, lag=2, seed=0)
    >>> X.shape, y.shape
    ((100, 4), (100,))
    >>> bool(((X[:-2, 0] + X[1:-1, 0] > 0) == y[2:]).all())
    True
    """
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples + lag, n_features))
    signal = sum(np.roll(X[:, 0], j) for j in range(1, lag + 1))
    return X[lag:], (signal[lag:] > 0).astype(int)


def make_synthetic_panel(
    n_instruments=4,
    n_days=500,
    n_features=6,
    *,
    sequence_length=10,
    interleave=True,
    random_state=None,
):
    """A panel of instruments whose labels follow a rule of their own.

    Each instrument has ``n_features`` standard-normal features per date.
    Instrument ``i`` reads one feature, ``j = i % n_features``, with the sign
    ``s = (-1) ** i``: its signal at date ``t`` is ``s`` times the sum of
    feature ``j`` over its own last ``sequence_length`` rows (``t`` included),
    divided by ``sqrt(sequence_length)`` (a standard normal). The label is
    *buy* above 0.4307, *sell* below -0.4307, *hold* otherwise (about a third
    each). So the rule differs between instruments -- another feature or the
    opposite sign -- and a model that mixes instruments' rows in a window, or
    ignores which instrument a row belongs to, does worse than one that
    reads each instrument's own history.

    Parameters
    ----------
    n_instruments : int, default=4
        Number of instruments (>= 1), named ``"INS00"``, ``"INS01"``, ...
    n_days : int, default=500
        Dates per instrument (>= 1): consecutive business days from
        2000-01-03.
    n_features : int, default=6
        Features per row (>= 1), named ``"feature_0"``, ``"feature_1"``, ...
    sequence_length : int, default=10
        Rows of an instrument that decide its label (>= 1). The first
        ``sequence_length - 1`` rows of each instrument also depend on
        earlier, unreturned rows.
    interleave : bool, default=True
        Row order: by date then instrument (as market data arrives) if True,
        by instrument then date otherwise. Both hold the same rows.
    random_state : int, RandomState instance or None, default=None
        Randomness; the same int gives the same panel, whatever
        ``interleave`` is.

    Returns
    -------
    X : pandas DataFrame of shape (n_instruments * n_days, n_features)
        float64 features, indexed by a MultiIndex ``(instrument, date)``.
    y : pandas Series of str
        ``"sell"``, ``"hold"`` or ``"buy"``, named ``"label"``, on the same
        index.

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble.datasets import make_synthetic_panel
    >>> X, y = make_synthetic_panel(3, 50, 4, sequence_length=5, random_state=0)
    >>> X.shape, X.index.names
    ((150, 4), FrozenList(['instrument', 'date']))
    >>> X.index.get_level_values("instrument")[:4].tolist()  # interleaved
    ['INS00', 'INS01', 'INS02', 'INS00']

    Instrument ``INS01`` reads ``feature_1`` with a negative sign:

    >>> signal = -X.loc["INS01", "feature_1"].rolling(5).sum() / np.sqrt(5)
    >>> rule = np.select([signal > 0.4307, signal < -0.4307], ["buy", "sell"], "hold")
    >>> bool((rule[4:] == y.loc["INS01"].iloc[4:]).all())
    True
    """
    n_instruments = check_int(n_instruments, "n_instruments", 1)
    n_days = check_int(n_days, "n_days", 1)
    n_features = check_int(n_features, "n_features", 1)
    sequence_length = check_int(sequence_length, "sequence_length", 1)
    if not isinstance(interleave, bool | np.bool_):
        raise ValueError(f"interleave must be True or False, got {interleave!r}.")
    rng = check_random_state(random_state)

    # Burn-in rows give every returned row a full window; they are dropped.
    n_burn = sequence_length - 1
    values = rng.standard_normal((n_instruments, n_burn + n_days, n_features))
    read = values[np.arange(n_instruments), :, np.arange(n_instruments) % n_features]
    sign = np.where(np.arange(n_instruments) % 2 == 0, 1.0, -1.0)
    window_sums = lfilter(np.ones(sequence_length), [1.0], read, axis=1)
    signal = sign[:, None] * window_sums[:, n_burn:] / np.sqrt(sequence_length)
    labels = np.where(
        signal > _TERTILE, "buy", np.where(signal < -_TERTILE, "sell", "hold")
    ).astype(object)

    names = [f"INS{i:02d}" for i in range(n_instruments)]
    dates = pd.bdate_range("2000-01-03", periods=n_days, name="date")
    # Rows of the (instrument, date) grid; interleaving takes them date-major.
    grid = np.arange(n_instruments * n_days).reshape(n_instruments, n_days)
    rows = grid.T.ravel() if interleave else grid.ravel()
    index = pd.MultiIndex.from_arrays(
        [np.repeat(names, n_days)[rows], np.tile(dates, n_instruments)[rows]],
        names=["instrument", "date"],
    )
    features = values[:, n_burn:].reshape(-1, n_features)[rows]
    X = pd.DataFrame(
        features, index=index, columns=[f"feature_{k}" for k in range(n_features)]
    )
    y = pd.Series(labels.ravel()[rows], index=index, name="label", dtype=object)
    return X, y

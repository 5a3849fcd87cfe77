"""Walk-forward evaluation: per-fold scores of an ensemble, its members and baselines.

* :func:`walk_forward` -- fit a clone of a pipeline on each training block of
  a time-series splitter (e.g. :class:`~sklensemble.PurgedWalkForwardSplit`)
  and score it on the following test block, next to each ensemble member,
  the training fold's majority class and its class prior; optionally a
  long/short/flat backtest of the predicted labels.
* :func:`summarize` -- mean over folds per model (or per model and
  instrument for a panel).
* :func:`backtest` -- the backtest of one sequence of positions.

Timing convention of the backtest
---------------------------------
The prediction for bar ``t`` uses features known at bar ``t``'s close. The
position it implies (*buy* -> +1, *hold* -> 0, *sell* -> -1) is taken at
that close and earns the return from ``t``'s close to the next bar's close,
``prices[t+1] / prices[t] - 1``. Each change of position costs ``costs``
times its size (turnover), charged on the bar where it is made; every fold
starts flat, so entering the first position is charged, and the position
left open at the fold's end is not charged to close.
"""

import copy
import numbers
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, log_loss
from sklearn.pipeline import Pipeline

from ._ensemble import SoftVotingEnsemble
from ._panel import panel_keys
from ._progress import draw_folds
from ._splits import PurgedWalkForwardSplit, purge_validation_tails
from ._validation import check_int
from ._windowing import SequenceWindower

__all__ = ["backtest", "summarize", "walk_forward"]

_DEFAULT_POSITIONS = {"buy": 1, "hold": 0, "sell": -1}
# Probabilities are clipped to [_EPS, 1] (then renormalised) before log-loss.
_EPS = 1e-15
_SCORE_COLUMNS = ["accuracy", "balanced_accuracy", "f1_macro", "log_loss"]
_BACKTEST_COLUMNS = [
    "hit_rate",
    "cumulative_return",
    "sharpe",
    "max_drawdown",
    "turnover",
]
_BASELINES = ("majority", "prior")
_BENCHMARK = "buy_and_hold"
# ``instrument`` of a panel's rows over all instruments (no ticker has parentheses).
_ALL = "(all)"


# --------------------------------------------------------------------------
# Backtest
# --------------------------------------------------------------------------
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
    >>> from sklensemble.evaluate import backtest
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


# --------------------------------------------------------------------------
# Walk-forward
# --------------------------------------------------------------------------
def walk_forward(
    pipe,
    X,
    y,
    cv,
    *,
    prices=None,
    costs=0.0,
    positions=None,
    holding_period=1,
    context="auto",
    periods_per_year=252,
    instrument=None,
    date=None,
    return_predictions=False,
    verbose=False,
    progress=False,
):
    """Fit a clone of ``pipe`` per fold and score it with its members and baselines.

    For each ``(train, test)`` fold of ``cv``, a fresh ``clone(pipe)`` is
    fitted on the training rows and scored on the test rows next to:

    - each member of the ensemble, when the final step of ``pipe`` is a
      :class:`~sklensemble.SoftVotingEnsemble` (each member's own
      probabilities on the test rows, after the pipeline's earlier steps,
      e.g. the scaler);
    - ``"majority"``: always the most frequent class of the training fold
      (no probabilities, so its ``log_loss`` is NaN);
    - ``"prior"``: the class frequencies of the training fold as
      probabilities (its labels are the majority's).

    **Panels.** When ``X`` is a panel (many instruments stacked in one
    DataFrame: an ``(instrument, date)`` or ``(date, instrument)``
    MultiIndex, or a long table with an ``instrument`` column), each fold is
    one fit on all instruments' training rows, and every model is reported
    per fold on an ``"(all)"`` row and on one row per instrument tested in
    the fold (``instrument`` column). Classification scores of ``"(all)"``
    pool the fold's test rows. The backtest runs per instrument on its own
    rows in date order (its own next returns, starting flat each fold, never
    chained into another instrument); the ``"(all)"`` backtest is the
    equal-weight portfolio of the instruments trading on each date, its
    daily return the mean of their net returns, its ``turnover`` the mean
    of their per-bar turnover, its ``hit_rate`` over all invested
    instrument-bars. Pass a :class:`~sklensemble.PurgedWalkForwardSplit`,
    which splits a panel by date. :func:`summarize` reads the ``"(all)"``
    rows, or every instrument with ``by_instrument=True``.

    Read more in ``docs/market.md``.

    Parameters
    ----------
    pipe : estimator
        Unfitted classifier with ``predict_proba``, typically
        :func:`~sklensemble.make_ensemble_pipeline`. It is cloned per fold.
    X : pandas DataFrame or array-like of shape (n_samples, n_features)
        Feature rows in time order, or a panel DataFrame (rows in any
        order).
    y : pandas Series or array-like of shape (n_samples,)
        Labels, e.g. from :func:`~sklensemble.labels.return_labels` after
        :func:`~sklensemble.labels.drop_unlabeled`.
    cv : splitter
        Object with ``split(X, y)`` yielding train/test row positions in
        time order, e.g. ``PurgedWalkForwardSplit(n_splits=5,
        purge=horizon)``. Integers are refused (scikit-learn would make an
        unpurged, possibly shuffled K-fold). For a panel, a splitter by date
        such as ``PurgedWalkForwardSplit`` (given ``instrument`` and
        ``date`` below when it names neither). With a
        ``PurgedWalkForwardSplit``, the validation tails inside each fold's
        fit are purged the same way: every ``validation_gap`` of ``pipe``
        below ``purge`` is raised to it.
    prices : pandas Series or array-like, default=None
        Close prices for the backtest. A Series whose index contains every
        index value of ``X`` (e.g. the full ``bars["close"]``, before
        unlabeled rows were dropped), or any 1D array-like with one price per
        row of ``X``. Each bar earns the return to the *next* entry of
        ``prices``; the last bar, which has none, earns nothing. ``None``
        skips the backtest columns. For a panel: a Series indexed by
        ``(instrument, date)`` (either level order) holding every row of
        ``X``, a Series with ``X``'s own index, or one price per row of
        ``X``; each row earns the return to its instrument's next price.
    costs : float, default=0.0
        Backtest cost per unit of turnover, as a return fraction.
    positions : dict or None, default=None
        Position for each label, e.g. ``{"buy": 1, "hold": 0, "sell": -1}``
        (the default); integer labels -1/0/1 missing from the default map to
        themselves. A given dict must name every class of ``y``.
    holding_period : int, default=1
        Bars each signal is held in the backtest; see :func:`backtest`. With
        labels over a horizon ``h > 1``, ``1`` rebalances daily on an
        ``h``-bar forecast and ``h`` holds ``h`` overlapping tranches.
    context : "auto" or int, default="auto"
        Rows before each test block fed to the fitted pipeline along with the
        test rows (their predictions are discarded), so that look-back
        windows at the start of the block see real history instead of
        padding. These are feature rows only, known before the test block.
        ``"auto"``: the longest ``sequence_length - 1`` of the
        :class:`~sklensemble.SequenceWindower` steps inside ``pipe``.
    periods_per_year : int, default=252
        Bars per year, to annualise the Sharpe ratio.
    instrument : str or None, default=None
        Panels only: the instrument column of a long-form ``X``, or the
        instrument level of a MultiIndex that is not recognised by itself
        (see ``docs/panels.md``; otherwise it is plain rows).
    date : str or None, default=None
        Panels only: the date column of a long-form ``X``; None reads the
        dates from the index.
    return_predictions : bool, default=False
        Also return the per-row predictions.
    verbose : bool, default=False
        Print each fold's fit time.
    progress : bool, default=False
        Draw a one-line progress bar of the folds on stderr while they run,
        erased at the end; drawn only when stderr is a terminal, so logs and
        pipes stay clean.

    Returns
    -------
    results : pandas DataFrame
        One row per fold and model, with columns ``fold``, ``model``,
        ``test_start`` and ``test_end`` (index values of the first and last
        test rows), ``n_train``, ``n_test``, ``fit_time`` (seconds: the whole
        pipeline for ``"ensemble"``, the member's final fit for a member, 0
        for baselines), ``accuracy``, ``balanced_accuracy``, ``f1_macro``
        (over the classes in ``y_true`` and ``y_pred``) and ``log_loss``
        (over all classes of ``y``; probabilities clipped to ``[1e-15, 1]``
        and renormalised). With ``prices``: the :func:`backtest` columns
        ``hit_rate``, ``cumulative_return``, ``sharpe``, ``max_drawdown`` and
        ``turnover``, plus a ``"buy_and_hold"`` row per fold (always long;
        its classification scores are NaN). The final pipeline's own
        probabilities are the ``"ensemble"`` row whatever its final step is.
        For a panel, an ``instrument`` column follows ``model``, with one
        row per fold, model and instrument plus the ``"(all)"`` row first;
        ``test_start``/``test_end`` are dates and ``n_train``/``n_test``
        count that instrument's rows (see *Panels* above).
    predictions : pandas DataFrame
        Only if ``return_predictions``: one row per test row and classifier
        model, indexed like ``X``, with ``fold``, ``model``, ``y_true``,
        ``y_pred`` and ``proba_<class>`` columns; with ``prices`` also
        ``position``, ``next_return`` (the asset's) and ``strategy_return``
        (net of costs). For a panel, also an ``instrument`` column.

    Raises
    ------
    ValueError
        If ``X``, ``y`` and ``prices`` are not aligned, ``cv`` is not a
        splitter, a label has no position, or the panel keys of ``X``
        cannot be read.

    See Also
    --------
    summarize : Mean over folds per model.
    sklensemble.PurgedWalkForwardSplit : Walk-forward folds with purging.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklensemble import PurgedWalkForwardSplit
    >>> from sklensemble.evaluate import summarize, walk_forward
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2))
    >>> y = np.where(X[:, 0] > 0, "buy", "sell")
    >>> prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    >>> cv = PurgedWalkForwardSplit(n_splits=3, test_size=50, purge=1)
    >>> results = walk_forward(LogisticRegression(), X, y, cv, prices=prices)
    >>> results.shape
    (12, 16)
    >>> results["model"].unique().tolist()
    ['ensemble', 'majority', 'prior', 'buy_and_hold']
    >>> table = summarize(results)
    >>> bool(table.loc["ensemble", "accuracy"] > 0.9)
    True

    A panel of three instruments, split by date:

    >>> import pandas as pd
    >>> index = pd.MultiIndex.from_product(
    ...     [pd.bdate_range("2024-01-01", periods=100), ["A", "B", "C"]],
    ...     names=["date", "ticker"])
    >>> panel = pd.DataFrame(X, index=index)
    >>> cv = PurgedWalkForwardSplit(n_splits=3, test_size=20, purge=1)
    >>> results = walk_forward(LogisticRegression(), panel, y, cv)
    >>> first = results[(results["fold"] == 0) & (results["model"] == "ensemble")]
    >>> first[["instrument", "n_train", "n_test"]].to_numpy().tolist()
    [['(all)', 117, 60], ['A', 39, 20], ['B', 39, 20], ['C', 39, 20]]
    >>> summarize(results, by_instrument=True).loc["ensemble", "n_folds"].tolist()
    [3, 3, 3, 3]
    """
    X, y, index = _check_X_y(X, y)
    keys = _check_panel(X, instrument, date)
    splits = _check_cv_splits(_panel_cv(cv, instrument, date), X, y, keys)
    pipe = purge_validation_tails(pipe, cv)
    classes = np.unique(y)
    n_context = _check_context(context, pipe)
    _check_member_names(pipe)
    trader = None
    if prices is not None:
        trader = _Trader(
            next_returns=_next_returns(prices, X, index, keys, instrument),
            position_of=_position_map(classes, positions),
            costs=_check_costs(costs),
            holding_period=check_int(holding_period, "holding_period", 1),
            periods_per_year=periods_per_year,
            dates=None if keys is None else keys.date,
        )

    rows, predictions = [], []
    for fold, (train, test) in enumerate(splits):
        if progress:
            draw_folds(fold, len(splits))
        start = time.perf_counter()
        fitted = clone(pipe).fit(_take(X, train), y[train])
        fit_times = {"ensemble": time.perf_counter() - start}
        if verbose:
            print(
                f"[walk_forward] fold {fold}: fitted {len(train)} rows in "
                f"{fit_times['ensemble']:.1f}s"
            )
        block = _block_rows(test, n_context, keys)
        probas = _fold_probas(fitted, X, y[train], test, block, classes, fit_times)
        groups = _fold_groups(fold, train, test, index, keys)
        for model, proba in probas.items():
            y_pred = classes[np.argmax(proba, axis=1)]
            model_rows = [
                {
                    **fields,
                    "model": model,
                    "fit_time": fit_times.get(model, 0.0),
                    **_scores(y[test][sub], y_pred[sub], proba[sub], classes, model),
                }
                for fields, sub in groups
            ]
            frame = _prediction_frame(
                index[test], fold, model, y[test], y_pred, proba, classes
            )
            if keys is not None:
                names = keys.instrument_names[keys.instrument[test]]
                frame.insert(2, "instrument", np.asarray(names))
            if trader is not None:
                trader.trade(
                    model_rows, groups, frame, trader.position_of(y_pred), test
                )
            rows += model_rows
            predictions.append(frame)
        if trader is not None:
            nan_scores = dict.fromkeys(_SCORE_COLUMNS, np.nan)
            model_rows = [
                {**fields, "model": _BENCHMARK, "fit_time": 0.0, **nan_scores}
                for fields, _ in groups
            ]
            ones = np.ones(len(test))
            trader.trade(model_rows, groups, None, ones, test, holding_period=1)
            rows += model_rows

    if progress:
        draw_folds(len(splits), len(splits))
    columns = ["fold", "model"] + (["instrument"] if keys is not None else [])
    columns += ["test_start", "test_end", "n_train", "n_test"]
    columns += ["fit_time", *_SCORE_COLUMNS]
    columns += _BACKTEST_COLUMNS if trader is not None else []
    results = pd.DataFrame(rows, columns=columns)
    if return_predictions:
        return results, pd.concat(predictions)
    return results


def _fold_groups(fold, train, test, index, keys):
    """``[(row fields, positions in test)]`` scored separately in a fold.

    A single series is one group. A panel is the whole block (instrument
    ``_ALL``), then each instrument's test rows in date order.
    """
    if keys is None:
        fields = {
            "fold": fold,
            "test_start": index[test[0]],
            "test_end": index[test[-1]],
            "n_train": len(train),
            "n_test": len(test),
        }
        return [(fields, np.arange(len(test)))]
    dates, codes = keys.date[test], keys.instrument[test]
    n_train = np.bincount(keys.instrument[train], minlength=keys.n_instruments)

    def fields(name, sub, n):
        return {
            "fold": fold,
            "instrument": name,
            "test_start": keys.date_values[dates[sub].min()],
            "test_end": keys.date_values[dates[sub].max()],
            "n_train": int(n),
            "n_test": len(sub),
        }

    everything = np.arange(len(test))
    groups = [(fields(_ALL, everything, len(train)), everything)]
    by_instrument = np.lexsort((dates, codes))
    cuts = np.flatnonzero(np.diff(codes[by_instrument])) + 1
    for sub in np.split(by_instrument, cuts):
        code = codes[sub[0]]
        groups.append((fields(keys.instrument_names[code], sub, n_train[code]), sub))
    return groups


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


def summarize(results, *, by_instrument=False):
    """Mean over folds of every score, one row per model.

    Parameters
    ----------
    results : pandas DataFrame
        The table returned by :func:`walk_forward`.
    by_instrument : bool, default=False
        Panels only: one row per model and instrument (the ``"(all)"`` rows
        included) instead of one per model.

    Returns
    -------
    summary : pandas DataFrame
        Indexed by ``model`` in the order of first appearance (members,
        ``"ensemble"``, baselines, ``"buy_and_hold"``); a ``n_folds`` column
        then the mean of each numeric score column (``fold``,
        ``n_train``, ``n_test`` and the test dates are left out). A score
        that is NaN in any fold (e.g. ``hit_rate`` of a model that never
        took a position there) is NaN in the summary. For a panel's
        results, the means are those of the ``"(all)"`` rows (pooled scores,
        the equal-weight portfolio), or with ``by_instrument`` indexed by
        ``(model, instrument)``, ``n_folds`` counting the folds in which the
        instrument was tested.

    Raises
    ------
    ValueError
        If ``results`` is not a walk_forward table, or ``by_instrument`` is
        asked of a table without an ``instrument`` column.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklensemble.evaluate import summarize
    >>> results = pd.DataFrame({"fold": [0, 0, 1, 1], "model": ["a", "b"] * 2,
    ...                         "accuracy": [0.5, 0.4, 0.7, 0.4]})
    >>> summary = summarize(results)
    >>> summary.index.tolist(), summary["n_folds"].tolist()
    (['a', 'b'], [2, 2])
    >>> summary["accuracy"].round(3).tolist()
    [0.6, 0.4]
    """
    if not isinstance(results, pd.DataFrame) or not {"fold", "model"} <= set(
        results.columns
    ):
        raise ValueError(
            "results must be the DataFrame returned by walk_forward, with "
            "'fold' and 'model' columns."
        )
    panel = "instrument" in results.columns
    if by_instrument and not panel:
        raise ValueError(
            "by_instrument=True needs the results of walk_forward on a panel, "
            "with an 'instrument' column; these have none."
        )
    if panel and not by_instrument:
        results = results[results["instrument"] == _ALL]
    skip = {"fold", "model", "instrument", "n_train", "n_test"}
    skip |= {"test_start", "test_end"}
    scores = [
        c
        for c in results.columns
        if c not in skip and pd.api.types.is_numeric_dtype(results[c])
    ]
    grouped = results.groupby(
        ["model", "instrument"] if by_instrument else "model", sort=False
    )
    # skipna=False: a mean over some of the folds would not be comparable.
    summary = grouped[scores].mean(numeric_only=True, skipna=False)
    summary.insert(0, "n_folds", grouped["fold"].nunique())
    return summary


# --------------------------------------------------------------------------
# One fold
# --------------------------------------------------------------------------
def _fold_probas(fitted, X, y_train, test, block, classes, fit_times):
    """Test-row probabilities of the members, the pipeline and the baselines.

    ``block`` are the ascending rows fed to the pipeline (``test`` plus
    context). Returns ``{model: proba in `classes` columns}``; adds the
    members' fit times to ``fit_times``.
    """
    rows = np.searchsorted(block, test)
    block = _take(X, block)
    probas = _member_probas(fitted, block, rows, classes, fit_times)
    probas["ensemble"] = _align(
        fitted.predict_proba(block)[rows], fitted.classes_, classes
    )
    prior = np.array([np.mean(y_train == c) for c in classes])
    majority = np.zeros_like(prior)
    majority[np.argmax(prior)] = 1.0
    probas["majority"] = np.tile(majority, (len(test), 1))
    probas["prior"] = np.tile(prior, (len(test), 1))
    return probas


def _block_rows(test, n_context, keys):
    """Ascending rows to predict for ``test``: its span plus ``n_context`` rows
    of history, per instrument for a panel (an instrument's own past rows)."""
    if keys is None:
        first = max(0, int(test.min()) - n_context)
        return np.arange(first, int(test.max()) + 1)
    rank = keys.positions()
    codes = keys.instrument[test]
    first = np.full(keys.n_instruments, len(rank) + n_context + 1)
    last = np.full(keys.n_instruments, -1)
    np.minimum.at(first, codes, rank[test])
    np.maximum.at(last, codes, rank[test])
    own_first, own_last = first[keys.instrument], last[keys.instrument]
    return np.flatnonzero((rank >= own_first - n_context) & (rank <= own_last))


def _member_probas(fitted, block, rows, classes, fit_times):
    """Each member's probabilities when the final step is a SoftVotingEnsemble."""
    final = fitted.steps[-1][1] if isinstance(fitted, Pipeline) else fitted
    if not isinstance(final, SoftVotingEnsemble):
        return {}
    names = list(final.weights_)
    # Members see what the ensemble sees: the output of the earlier steps.
    member_input = fitted[:-1].transform(block) if final is not fitted else block
    stacked = final.transform(member_input).reshape(
        block.shape[0], len(names), len(final.classes_)
    )[rows]
    fit_times.update(final.fit_times_)
    return {
        name: _align(stacked[:, i], final.classes_, classes)
        for i, name in enumerate(names)
    }


def _align(proba, fitted_classes, classes):
    """Columns of ``fitted_classes`` placed under ``classes`` (missing ones 0)."""
    proba = np.asarray(proba, dtype=np.float64)
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, np.searchsorted(classes, fitted_classes)] = proba
    return out


def _scores(y_true, y_pred, proba, classes, model):
    with warnings.catch_warnings():
        # A test block may lack a predicted class; that is expected here.
        warnings.simplefilter("ignore", UserWarning)
        balanced = balanced_accuracy_score(y_true, y_pred)
    if model == "majority":
        loss = np.nan  # a hard rule has no probabilities to score
    else:
        clipped = np.clip(proba, _EPS, 1.0)
        clipped /= clipped.sum(axis=1, keepdims=True)
        loss = log_loss(y_true, clipped, labels=classes)
    return {
        "accuracy": accuracy_score(y_true, y_pred),
        "balanced_accuracy": balanced,
        "f1_macro": f1_score(y_true, y_pred, average="macro", zero_division=0),
        "log_loss": loss,
    }


def _prediction_frame(index, fold, model, y_true, y_pred, proba, classes):
    frame = pd.DataFrame(
        {"fold": fold, "model": model, "y_true": y_true, "y_pred": y_pred},
        index=index,
    )
    for j, label in enumerate(classes):
        frame[f"proba_{label}"] = proba[:, j]
    return frame


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------
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


def _check_X_y(X, y):
    """Return X (2D, unchanged type), y as a 1D array, and the row index."""
    if isinstance(y, pd.DataFrame):
        if "label" not in y.columns:
            raise ValueError(
                "y is a DataFrame without a 'label' column; pass the label "
                "Series, e.g. y['label']."
            )
        y = y["label"]
    if not hasattr(X, "shape") or getattr(X, "ndim", None) != 2:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(
                f"X must be 2D (n_samples, n_features), got shape {X.shape}."
            )
    y_values = np.asarray(y)
    if y_values.ndim != 1:
        raise ValueError(f"y must be 1D, got shape {y_values.shape}.")
    if X.shape[0] != len(y_values):
        raise ValueError(
            f"X has {X.shape[0]} rows but y has {len(y_values)}; they must "
            "describe the same bars, row for row (use labels.drop_unlabeled "
            "to drop unlabeled rows from both)."
        )
    if pd.isna(pd.Series(y_values)).any():
        raise ValueError(
            "y contains missing labels (NaN/None); drop those rows from X and "
            "y together with labels.drop_unlabeled(X, y)."
        )
    x_index = X.index if isinstance(X, pd.DataFrame) else None
    if isinstance(y, pd.Series) and x_index is not None and not x_index.equals(y.index):
        raise ValueError(
            "X and y have different indexes, so their rows would pair different "
            "bars. Align them first, e.g. y = y.reindex(X.index), or build both "
            "from the same bars with labels.drop_unlabeled."
        )
    if x_index is None:
        x_index = y.index if isinstance(y, pd.Series) else pd.RangeIndex(X.shape[0])
    return X, y_values, x_index


def _check_panel(X, instrument, date):
    """Panel keys of ``X`` (None for a single series); refuse the ``_ALL`` name."""
    keys = panel_keys(X, instrument, date)
    if keys is not None and _ALL in keys.instrument_names:
        raise ValueError(
            f"An instrument is named {_ALL!r}, which walk_forward uses for the "
            "rows over all instruments; rename it."
        )
    return keys


def _panel_cv(cv, instrument, date):
    """A PurgedWalkForwardSplit told walk_forward's ``instrument``/``date``
    when it names neither, so that it reads the same long-form panel."""
    if (
        isinstance(cv, PurgedWalkForwardSplit)
        and (instrument, date) != (None, None)
        and (cv.instrument, cv.date) == (None, None)
    ):
        cv = copy.copy(cv)
        cv.instrument, cv.date = instrument, date
    return cv


def _check_cv_splits(cv, X, y, keys=None):
    """Materialised (train, test) position arrays of ``cv``."""
    if isinstance(cv, numbers.Integral) or not hasattr(cv, "split"):
        raise ValueError(
            "cv must be a splitter with a split(X, y) method, e.g. "
            "PurgedWalkForwardSplit(n_splits=5, purge=horizon); got "
            f"{cv!r}. Integers are refused because they would give an "
            "unpurged K-fold that trains on the future."
        )
    # A panel's time is its dates: its rows may come in any order.
    time = np.arange(len(y)) if keys is None else keys.date
    splits = []
    for train, test in cv.split(X, y):
        train, test = np.asarray(train, dtype=np.intp), np.asarray(test, dtype=np.intp)
        if len(train) == 0 or len(test) == 0:
            raise ValueError("cv yielded an empty training or test set.")
        if time[train].max() >= time[test].min():
            unit = "rows" if keys is None else "dates"
            warnings.warn(
                f"{type(cv).__name__} trains on {unit} at or after the start of "
                "its test block: a walk-forward evaluation should only train "
                "on the past (use PurgedWalkForwardSplit).",
                UserWarning,
                stacklevel=3,
            )
        splits.append((train, test))
    if not splits:
        raise ValueError(f"cv yielded no folds: {cv!r}.")
    return splits


def _check_member_names(pipe):
    """Refuse, before any fit, members named like walk_forward's own rows."""
    final = pipe.steps[-1][1] if isinstance(pipe, Pipeline) else pipe
    if not isinstance(final, SoftVotingEnsemble):
        return
    names = [item[0] for item in final.estimators]
    clash = sorted(set(names) & {"ensemble", *_BASELINES, _BENCHMARK})
    if clash:
        raise ValueError(
            f"Ensemble members named {clash} would clash with walk_forward's "
            "own rows; rename them."
        )


def _check_context(context, pipe):
    if isinstance(context, str) and context == "auto":
        lengths = [
            step.sequence_length
            for step in [pipe, *pipe.get_params(deep=True).values()]
            if isinstance(step, SequenceWindower)
            and isinstance(step.sequence_length, numbers.Integral)
        ]
        return max([n - 1 for n in lengths], default=0)
    return check_int(context, "context", 0)


def _take(X, rows):
    return X.iloc[rows] if isinstance(X, pd.DataFrame | pd.Series) else X[rows]


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
        _check_prices(values)
        forward = np.full(len(values), np.nan)
        forward[:-1] = values[1:] / values[:-1] - 1.0
        return forward[prices.index.get_indexer(index)]
    values = _prices_per_row(
        prices,
        X,
        "when X is a DataFrame, pass a Series whose index contains X's index.",
    )
    forward = np.full(len(values), np.nan)
    forward[:-1] = values[1:] / values[:-1] - 1.0
    return forward


def _panel_next_returns(prices, X, keys, instrument):
    """Return from each row's price to its own instrument's next price."""
    if isinstance(prices, pd.Series) and isinstance(prices.index, pd.MultiIndex):
        level = instrument if instrument in prices.index.names else None
        price_keys = panel_keys(prices.to_frame(), level)
        values = prices.to_numpy(dtype=np.float64, na_value=np.nan)
        _check_prices(values)
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


def _forward_returns(values, keys):
    """Return to the instrument's next row by date (NaN on its last row)."""
    order, starts = keys.segments()
    sorted_values = values[order]
    forward = np.full(len(values), np.nan)
    forward[:-1] = sorted_values[1:] / sorted_values[:-1] - 1.0
    forward[starts[1:] - 1] = np.nan  # never into the next instrument
    out = np.empty(len(values))
    out[order] = forward
    return out


def _check_prices(values):
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise ValueError(
            f"prices contains {int(bad.sum())} NaN, infinite or non-positive "
            f"value(s) (first at position {int(np.flatnonzero(bad)[0])}); "
            "returns need finite prices > 0."
        )


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

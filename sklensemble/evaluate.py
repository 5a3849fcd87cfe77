"""Walk-forward evaluation: per-fold scores of an ensemble, its members and baselines.

* :func:`walk_forward` -- fit a clone of a pipeline on each training block of
  a time-series splitter (e.g. :class:`~sklensemble.PurgedWalkForwardSplit`)
  and score it on the following test block, next to each ensemble member,
  the training fold's majority class and its class prior; optionally a
  long/short/flat backtest of the predicted labels (see
  :mod:`sklensemble.backtest` for its timing convention).
* :func:`summarize` -- mean over folds per model (or per model and
  instrument for a panel).
* :func:`backtest` -- the backtest of one sequence of positions, from
  :mod:`sklensemble.backtest` (also importable from here).
"""

import copy
import numbers
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from ._ensemble import SoftVotingEnsemble
from ._panel import panel_keys, take_rows
from ._progress import draw_folds
from ._splits import PurgedWalkForwardSplit, purge_validation_tails
from ._utils import _final_step, _log_loss
from ._validation import check_int
from ._windowing import SequenceWindower
from .backtest import (
    _BACKTEST_COLUMNS,
    _check_costs,
    _next_returns,
    _position_map,
    _Trader,
    backtest,
)

__all__ = ["backtest", "summarize", "walk_forward"]

_SCORE_COLUMNS = ["accuracy", "balanced_accuracy", "f1_macro", "log_loss"]
_BASELINES = ("majority", "prior")
_BENCHMARK = "buy_and_hold"
# ``instrument`` of a panel's rows over all instruments (no ticker has parentheses).
_ALL = "(all)"


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
        (each row's probabilities scaled to sum 1, the true class's clipped
        to ``[1e-15, 1]``: the definition of the ensemble's logged
        ``val_log_loss``, so the two compare). With ``prices``: the
        :func:`backtest` columns ``hit_rate``, ``cumulative_return``,
        ``sharpe``, ``max_drawdown`` and ``turnover``, plus a
        ``"buy_and_hold"`` row per fold (always long; its classification
        scores are NaN). The final pipeline's own
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
        fitted = clone(pipe).fit(take_rows(X, train), y[train])
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
    block = take_rows(X, block)
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
    final = _final_step(fitted)
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
        loss = _log_loss(proba, np.searchsorted(classes, y_true))
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
    final = _final_step(pipe)
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

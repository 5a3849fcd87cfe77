"""Panels: PurgedWalkForwardSplit folds by date, walk_forward per instrument."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline

from sklensemble import PurgedWalkForwardSplit
from sklensemble._panel import panel_keys
from sklensemble.evaluate import _block_rows, backtest, summarize, walk_forward

INSTRUMENTS = ["A", "B", "C"]


def make_panel(n_dates=30, grouped=False, seed=0):
    """Balanced (date, instrument) panel; ``grouped`` puts one instrument after
    another instead of interleaving them by date."""
    dates = pd.bdate_range("2024-01-01", periods=n_dates, name="date")
    index = pd.MultiIndex.from_product([dates, INSTRUMENTS], names=["date", "ticker"])
    X = pd.DataFrame(
        np.random.default_rng(seed).normal(size=(len(index), 2)),
        index=index,
        columns=["a", "b"],
    )
    if grouped:
        X = X.swaplevel().sort_index()
    return X


def unbalanced_panel():
    """A on dates 0-29, B on 10-29, C on 0-19 with every third date missing."""
    dates = pd.bdate_range("2024-01-01", periods=30)
    pairs = [("A", d) for d in dates]
    pairs += [("B", d) for d in dates[10:]]
    pairs += [("C", d) for i, d in enumerate(dates[:20]) if i % 3]
    index = pd.MultiIndex.from_tuples(pairs, names=["ticker", "date"])
    rng = np.random.default_rng(1)
    return pd.DataFrame({"a": rng.normal(size=len(index))}, index=index)


def key_sets(X, cv):
    """Folds as sets of (instrument, date) pairs."""
    keys = panel_keys(X)
    names = keys.instrument_names[keys.instrument]
    dates = keys.date_values[keys.date]
    pairs = np.array(list(zip(names, dates, strict=True)), dtype=object)
    return [
        ({tuple(p) for p in pairs[train]}, {tuple(p) for p in pairs[test]})
        for train, test in cv.split(X)
    ]


def date_ranks(X, rows):
    return panel_keys(X).date[rows]


class TestPanelSplit:
    def test_interleaved_and_grouped_rows_give_the_same_folds(self):
        cv = PurgedWalkForwardSplit(3, test_size=4, purge=2, embargo=1)
        interleaved, grouped = make_panel(), make_panel(grouped=True)
        assert key_sets(interleaved, cv) == key_sets(grouped, cv)
        # The layout is the single-series one on the 30 dates.
        for (train, test), (train_d, test_d) in zip(
            cv.split(grouped), cv.split(np.zeros((30, 1))), strict=True
        ):
            assert np.unique(date_ranks(grouped, train)).tolist() == train_d.tolist()
            assert np.unique(date_ranks(grouped, test)).tolist() == test_d.tolist()
            assert len(test) == 4 * 3
            assert (np.diff(train) > 0).all() and (np.diff(test) > 0).all()

    def test_first_fold_rows(self):
        cv = PurgedWalkForwardSplit(2, test_size=2, purge=1)
        train, test = next(cv.split(make_panel(n_dates=6, grouped=True)))
        # Grouped by instrument: A's dates are rows 0-5, B's 6-11, C's 12-17.
        assert train.tolist() == [0, 6, 12]
        assert test.tolist() == [2, 3, 8, 9, 14, 15]

    @pytest.mark.parametrize("grouped", [False, True])
    def test_each_date_lies_wholly_in_train_test_or_neither(self, grouped):
        X = make_panel(grouped=grouped)
        dates = panel_keys(X).date
        cv = PurgedWalkForwardSplit(4, test_size=3, purge=2, max_train_size=10)
        for train, test in cv.split(X):
            side = np.zeros(len(X), dtype=int)
            side[train], side[test] = 1, 2
            for d in range(30):
                assert len(set(side[dates == d])) == 1
            assert set(dates[train]).isdisjoint(dates[test])

    @pytest.mark.parametrize("purge, embargo", [(0, 0), (3, 0), (2, 4)])
    def test_purge_and_embargo_count_dates(self, purge, embargo):
        X = make_panel(grouped=True)
        cv = PurgedWalkForwardSplit(3, test_size=4, purge=purge, embargo=embargo)
        for train, test in cv.split(X):
            gap = date_ranks(X, test).min() - date_ranks(X, train).max() - 1
            assert gap == purge + embargo

    def test_max_train_size_counts_dates(self):
        X = make_panel()
        cv = PurgedWalkForwardSplit(3, test_size=5, max_train_size=8)
        n_dates = [len(np.unique(date_ranks(X, train))) for train, _ in cv.split(X)]
        assert n_dates == [8, 8, 8]
        assert [len(train) for train, _ in cv.split(X)] == [24, 24, 24]
        rolling = PurgedWalkForwardSplit(3, test_size=5, purge=1, expanding=False)
        first = [date_ranks(X, train).min() for train, _ in rolling.split(X)]
        assert first == [0, 5, 10]
        assert {len(train) for train, _ in rolling.split(X)} == {14 * 3}

    def test_unbalanced_panel(self):
        X = unbalanced_panel()
        keys = panel_keys(X)
        cv = PurgedWalkForwardSplit(2, test_size=5, purge=1)
        result = list(cv.split(X))
        test_dates = [np.unique(keys.date[test]).tolist() for _, test in result]
        assert test_dates == [list(range(20, 25)), list(range(25, 30))]
        # C stops at date 19: only A and B are tested.
        assert [len(test) for _, test in result] == [10, 10]
        train, _ = result[0]
        assert keys.date[train].max() == 18
        # A: dates 0-18 (19), B: 10-18 (9), C: 0-18 minus every third (12).
        counts = np.bincount(keys.instrument[train], minlength=3)
        assert counts.tolist() == [19, 9, 12]

    def test_long_form_with_instrument_and_date_columns(self):
        X = make_panel(grouped=True).reset_index()
        cv = PurgedWalkForwardSplit(3, test_size=4, purge=1)
        with pytest.raises(ValueError, match="Too few rows"):
            # Without instrument=, a long table is one series of 90 rows.
            list(PurgedWalkForwardSplit(3, test_size=40).split(X))
        panel_cv = PurgedWalkForwardSplit(
            3, test_size=4, purge=1, instrument="ticker", date="date"
        )
        assert key_sets(make_panel(), cv) == [
            (
                {tuple(p) for p in X.iloc[train][["ticker", "date"]].to_numpy()},
                {tuple(p) for p in X.iloc[test][["ticker", "date"]].to_numpy()},
            )
            for train, test in panel_cv.split(X)
        ]

    def test_groups_are_still_ignored_with_a_warning(self):
        with pytest.warns(UserWarning, match="groups parameter is ignored"):
            result = list(PurgedWalkForwardSplit(2).split(make_panel(), groups=[1]))
        assert len(result) == 2

    def test_a_single_index_frame_is_split_by_rows(self):
        X = make_panel().reset_index(level="ticker", drop=True)
        test = [t.tolist() for _, t in PurgedWalkForwardSplit(2, test_size=4).split(X)]
        assert test == [list(range(82, 86)), list(range(86, 90))]


class TestPanelSplitErrors:
    @pytest.mark.parametrize(
        "kwargs, n_dates, match",
        [
            (
                {"n_splits": 5},
                5,
                r"Too few dates: 5 dates cannot make 5 test blocks.*more dates",
            ),
            (
                {"n_splits": 3, "test_size": 5},
                15,
                r"Too few dates: 15 dates leave no training date.*at least 16 dates",
            ),
            (
                {"n_splits": 2, "test_size": 5, "purge": 3, "embargo": 2},
                12,
                r"purge=3, embargo=2\). Need at least 16 dates",
            ),
            (
                {
                    "n_splits": 2,
                    "test_size": 5,
                    "expanding": False,
                    "max_train_size": 11,
                },
                20,
                r"max_train_size=11 dates before every fold.*only 10",
            ),
        ],
    )
    def test_too_few_dates(self, kwargs, n_dates, match):
        # 3 instruments per date: 3x as many rows, still too few dates.
        X = make_panel(n_dates=n_dates)
        with pytest.raises(ValueError, match=match):
            list(PurgedWalkForwardSplit(**kwargs).split(X))

    def test_undated_levels_are_rows_until_instrument_names_one(self):
        X = make_panel()
        X.index = X.index.set_levels(X.index.levels[0].strftime("%Y-%m-%d"), level=0)
        # Neither level holds datetimes nor is named "instrument": plain rows.
        by_rows = list(PurgedWalkForwardSplit(2, test_size=3).split(X))
        plain = list(PurgedWalkForwardSplit(2, test_size=3).split(X.to_numpy()))
        for (train, test), (train_, test_) in zip(by_rows, plain, strict=True):
            np.testing.assert_array_equal(train, train_)
            np.testing.assert_array_equal(test, test_)
        cv = PurgedWalkForwardSplit(2, test_size=3, instrument="ticker")
        assert [len(test) for _, test in cv.split(X)] == [9, 9]

    def test_duplicate_pairs_are_refused(self):
        X = make_panel(n_dates=10)
        with pytest.raises(ValueError, match="repeats"):
            list(PurgedWalkForwardSplit(2).split(pd.concat([X, X.iloc[:1]])))


# --------------------------------------------------------------------------
# walk_forward
# --------------------------------------------------------------------------
def panel_data(grouped=False, n_dates=60):
    X = make_panel(n_dates=n_dates, grouped=grouped, seed=2)
    y = pd.Series(np.where(X["a"] > 0, "buy", "sell"), index=X.index, name="label")
    rng = np.random.default_rng(3)
    close = pd.Series(
        100 * np.exp(np.cumsum(rng.normal(0, 0.01, size=(n_dates, 3)), axis=0)).ravel(),
        index=make_panel(n_dates=n_dates).index,  # (date, ticker), interleaved
    )
    return X, y, close


def panel_cv():
    return PurgedWalkForwardSplit(n_splits=3, test_size=10, purge=1)


class TestWalkForwardOnPanels:
    def test_rows_per_fold_model_and_instrument(self):
        X, y, close = panel_data()
        results = walk_forward(DummyClassifier(), X, y, panel_cv(), prices=close)
        assert results.columns[:4].tolist() == [
            "fold",
            "model",
            "instrument",
            "test_start",
        ]
        models = ["ensemble", "majority", "prior", "buy_and_hold"]
        per_fold = [(m, i) for m in models for i in ["(all)", *INSTRUMENTS]]
        assert list(zip(results["model"], results["instrument"], strict=True)) == (
            per_fold * 3
        )
        assert results["fold"].tolist() == [0] * 16 + [1] * 16 + [2] * 16
        one = results[results["instrument"] != "(all)"]
        assert (one["n_test"] == 10).all()
        assert one["n_train"].unique().tolist() == [29, 39, 49]
        pooled = results[results["instrument"] == "(all)"]
        assert (pooled["n_test"] == 30).all()
        assert pooled["n_train"].unique().tolist() == [87, 117, 147]
        dates = X.index.get_level_values("date").unique()
        assert (results.loc[results["fold"] == 0, "test_start"] == dates[30]).all()
        assert (results.loc[results["fold"] == 2, "test_end"] == dates[59]).all()

    def test_scores_per_instrument_match_the_predictions(self):
        X, y, close = panel_data()
        results, predictions = walk_forward(
            LogisticRegression(),
            X,
            y,
            panel_cv(),
            prices=close,
            return_predictions=True,
        )
        ours = predictions[predictions["model"] == "ensemble"]
        assert len(ours) == 90
        for (fold, name), frame in ours.groupby(["fold", "instrument"]):
            assert frame.index.get_level_values("ticker").unique().tolist() == [name]
            row = results[
                (results["fold"] == fold)
                & (results["model"] == "ensemble")
                & (results["instrument"] == name)
            ].iloc[0]
            accuracy = np.mean(frame["y_true"] == frame["y_pred"])
            assert row["accuracy"] == pytest.approx(accuracy)
            result = backtest(frame["position"], frame["next_return"])
            assert row["cumulative_return"] == pytest.approx(
                result["cumulative_return"]
            )
        pooled = results[
            (results["instrument"] == "(all)") & (results["model"] == "ensemble")
        ]
        by_fold = ours.groupby("fold").apply(
            lambda f: np.mean(f["y_true"] == f["y_pred"])
        )
        np.testing.assert_allclose(pooled["accuracy"], by_fold)

    def test_returns_never_chain_across_instruments(self):
        X, y, close = panel_data(grouped=True)
        _, predictions = walk_forward(
            DummyClassifier(), X, y, panel_cv(), prices=close, return_predictions=True
        )
        frame = predictions[predictions["model"] == "ensemble"]
        wide = close.unstack("ticker")
        for (ticker, date), next_return in frame["next_return"].items():
            position = wide.index.get_loc(date)
            if position + 1 == len(wide):
                assert np.isnan(next_return)  # the last date has no next price
            else:
                expected = wide[ticker].iloc[position + 1] / wide[ticker].iloc[position]
                assert next_return == pytest.approx(expected - 1)

    def test_portfolio_is_the_equal_weight_mean_of_instruments(self):
        X, y, close = panel_data()
        results, predictions = walk_forward(
            LogisticRegression(),
            X,
            y,
            panel_cv(),
            prices=close,
            costs=0.001,
            return_predictions=True,
        )
        ours = predictions[
            (predictions["model"] == "ensemble") & (predictions["fold"] == 1)
        ]
        daily = ours.groupby(level="date")["strategy_return"].mean()
        row = results[
            (results["model"] == "ensemble")
            & (results["fold"] == 1)
            & (results["instrument"] == "(all)")
        ].iloc[0]
        assert row["cumulative_return"] == pytest.approx(np.prod(1 + daily) - 1)
        sharpe = daily.mean() / daily.std(ddof=1) * np.sqrt(252)
        assert row["sharpe"] == pytest.approx(sharpe)
        one = results[
            (results["model"] == "ensemble")
            & (results["fold"] == 1)
            & (results["instrument"] != "(all)")
        ]
        assert row["turnover"] == pytest.approx(one["turnover"].mean())
        hold = results[(results["model"] == "buy_and_hold") & (results["fold"] == 1)]
        assert hold["turnover"].tolist() == [0.1] * 4  # one entry in 10 dates

    def test_interleaved_and_grouped_panels_agree(self):
        runs = []
        for grouped in (False, True):
            X, y, close = panel_data(grouped=grouped)
            runs.append(
                walk_forward(LogisticRegression(), X, y, panel_cv(), prices=close)
            )
        columns = ["accuracy", "log_loss", "cumulative_return", "sharpe"]
        pd.testing.assert_frame_equal(runs[0][columns], runs[1][columns])

    def test_summarize(self):
        X, y, close = panel_data()
        results = walk_forward(DummyClassifier(), X, y, panel_cv(), prices=close)
        summary = summarize(results)
        assert summary.index.tolist() == [
            "ensemble",
            "majority",
            "prior",
            "buy_and_hold",
        ]
        pooled = results[
            (results["instrument"] == "(all)") & (results["model"] == "prior")
        ]
        assert summary.loc["prior", "log_loss"] == pytest.approx(
            pooled["log_loss"].mean()
        )
        by_instrument = summarize(results, by_instrument=True)
        assert by_instrument.loc["ensemble"].index.tolist() == ["(all)", *INSTRUMENTS]
        assert (by_instrument["n_folds"] == 3).all()
        b = results[(results["instrument"] == "B") & (results["model"] == "ensemble")]
        assert by_instrument.loc[("ensemble", "B"), "accuracy"] == pytest.approx(
            b["accuracy"].mean()
        )
        with pytest.raises(ValueError, match="by_instrument=True needs"):
            summarize(results.drop(columns="instrument"), by_instrument=True)

    def test_unbalanced_panel(self):
        X = unbalanced_panel()
        y = pd.Series(np.where(X["a"] > 0, 1, -1), index=X.index)
        prices = pd.Series(np.linspace(100, 120, len(X)), index=X.index)
        cv = PurgedWalkForwardSplit(2, test_size=4, purge=1)
        results = walk_forward(DummyClassifier(), X, y, cv, prices=prices)
        ours = results[results["model"] == "ensemble"]
        # C ends at date 19, so only A and B have test rows.
        assert ours["instrument"].tolist() == ["(all)", "A", "B"] * 2
        assert ours["n_test"].tolist() == [8, 4, 4] * 2
        # Training dates 0-20 then 0-24; C's 13 rows (0-19, every third
        # missing) count in "(all)".
        assert ours["n_train"].tolist() == [45, 21, 11, 53, 25, 15]

    def test_long_form_with_instrument_parameter(self):
        X, y, close = panel_data()
        long = X.reset_index()
        drop_keys = ColumnTransformer([("keep", "passthrough", ["a", "b"])])
        pipe = make_pipeline(drop_keys, LogisticRegression())
        results = walk_forward(
            pipe,
            long,
            y.to_numpy(),
            panel_cv(),
            prices=close.to_numpy(),
            instrument="ticker",
            date="date",
        )
        reference = walk_forward(pipe, X, y, panel_cv(), prices=close.to_numpy())
        columns = ["instrument", "n_train", "accuracy", "cumulative_return"]
        pd.testing.assert_frame_equal(results[columns], reference[columns])

    def test_context_is_each_instruments_own_past_rows(self):
        X = unbalanced_panel()
        keys = panel_keys(X)
        test = np.flatnonzero(np.isin(keys.date, [20, 21]))
        block = _block_rows(test, 2, keys)
        pairs = sorted(zip(keys.instrument[block], keys.date[block], strict=True))
        # A and B: their two dates before 20; C has no test rows, so no context.
        assert pairs == [(0, 18), (0, 19), (0, 20), (0, 21)] + [
            (1, 18),
            (1, 19),
            (1, 20),
            (1, 21),
        ]
        # C has no date 18 (every third missing): its context is 16 and 17.
        test = np.flatnonzero(np.isin(keys.date, [19]) & (keys.instrument == 2))
        block = _block_rows(test, 2, keys)
        assert keys.date[block].tolist() == [16, 17, 19]

    def test_errors(self):
        X, y, close = panel_data()
        with pytest.raises(ValueError, match=r"no price for 3 row\(s\) of X"):
            walk_forward(DummyClassifier(), X, y, panel_cv(), prices=close.iloc[3:])
        named = X.rename(index={"A": "(all)"}, level="ticker")
        with pytest.raises(ValueError, match=r"named '\(all\)'"):
            walk_forward(DummyClassifier(), named, y.set_axis(named.index), panel_cv())
        flat = pd.Series(close.to_numpy(), index=range(len(close)))
        with pytest.raises(ValueError, match="indexed by \\(instrument, date\\)"):
            walk_forward(DummyClassifier(), X, y, panel_cv(), prices=flat)

    def test_training_on_later_dates_warns(self):
        X, y, _ = panel_data(grouped=True)
        # Grouped rows: positions say nothing of time, the dates do.
        with pytest.warns(UserWarning, match="KFold trains on dates at or after"):
            walk_forward(DummyClassifier(), X, y, KFold(3))

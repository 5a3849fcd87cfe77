import gzip
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklensemble import MarketFeatures, PurgedWalkForwardSplit
from sklensemble.datasets import (
    DEFAULT_REGIMES,
    load_sp500,
    make_synthetic_market,
    make_synthetic_panel,
)
from sklensemble.labels import drop_unlabeled, return_labels

OHLCV = ["open", "high", "low", "close", "volume"]


def assert_valid_bars(bars):
    assert (bars[["open", "high", "low", "close"]] > 0).all().all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["volume"] > 0).all()
    assert bars.notna().all().all()


class TestLoadSP500:
    def test_frame_layout(self):
        bars = load_sp500()
        assert bars.shape == (5031, 6)
        assert list(bars.columns) == [*OHLCV[:4], "adj_close", "volume"]
        assert (bars.dtypes == np.float64).all()
        assert isinstance(bars.index, pd.DatetimeIndex)
        assert bars.index.name == "date"
        assert bars.index.is_monotonic_increasing and bars.index.is_unique
        assert bars.index[0] == pd.Timestamp("1999-01-04")
        assert bars.index[-1] == pd.Timestamp("2018-12-31")
        assert_valid_bars(bars)

    def test_values_match_the_file(self):
        bars = load_sp500()
        first = bars.iloc[0]
        assert first["open"] == pytest.approx(1229.229980)
        assert first["close"] == pytest.approx(1228.099976)
        assert first["volume"] == 877000000.0
        np.testing.assert_array_equal(bars["adj_close"], bars["close"])

    def test_data_ships_inside_the_package(self):
        data = resources.files("sklensemble.datasets").joinpath(
            "data", "sp500_daily.csv.gz"
        )
        with data.open("rb") as handle:
            header = gzip.decompress(handle.read()).split(b"\n", 1)[0]
        assert header == b"Date,Open,High,Low,Close,Adj Close,Volume"

    def test_each_call_returns_a_fresh_frame(self):
        bars = load_sp500()
        bars.iloc[0, 0] = -1.0
        assert load_sp500().iloc[0, 0] == pytest.approx(1229.229980)


class TestSyntheticMarket:
    def test_layout_and_valid_bars(self):
        bars = make_synthetic_market(300, seed=0)
        assert bars.shape == (300, 5)
        assert list(bars.columns) == OHLCV
        assert (bars.dtypes == np.float64).all()
        assert bars.index.name == "date"
        assert bars.index.equals(pd.bdate_range("2000-01-03", periods=300, name="date"))
        assert_valid_bars(bars)

    def test_deterministic_given_seed(self):
        a = make_synthetic_market(200, seed=7)
        pd.testing.assert_frame_equal(a, make_synthetic_market(200, seed=7))
        assert not a.equals(make_synthetic_market(200, seed=8))
        rng_bars = make_synthetic_market(200, seed=np.random.default_rng(7))
        pd.testing.assert_frame_equal(a, rng_bars)

    def test_regimes_are_persistent_and_drift_as_planted(self):
        bars, regime = make_synthetic_market(5000, seed=1, return_regimes=True)
        assert regime.index.equals(bars.index)
        assert set(regime) == set(DEFAULT_REGIMES)
        run_lengths = regime.ne(regime.shift()).cumsum().value_counts()
        assert 25 < run_lengths.mean() < 100  # 1 / (1 - 0.98) = 50 bars
        log_ret = np.log(bars["close"]).diff()
        mean_by_regime = log_ret.groupby(regime).mean()
        assert mean_by_regime["bull"] > 0.001
        assert mean_by_regime["bear"] < -0.001
        assert abs(mean_by_regime["flat"]) < 0.001

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_trailing_return_sign_predicts_forward_return(self, seed):
        # The planted structure: sign of the last 10 bars' return predicts the
        # next 5 bars' sign clearly better than chance.
        assert _momentum_hit_rate(make_synthetic_market(5000, seed=seed)) > 0.55

    def test_without_structure_it_is_a_coin_flip(self):
        # The same measurement on a driftless random walk: the test above can fail.
        flat = {"only": (0.0, 0.01)}
        bars = make_synthetic_market(5000, seed=0, regimes=flat, momentum=0.0)
        assert abs(_momentum_hit_rate(bars) - 0.5) < 0.03

    def test_structure_is_learnable_from_market_features(self):
        bars = make_synthetic_market(3000, seed=4)
        features = MarketFeatures().fit_transform(bars)
        y = return_labels(bars["close"], horizon=5)
        y = y.where(y != "hold", "buy")  # two classes, ties are rare anyway
        X, y = drop_unlabeled(features, y, drop_nan_features=True)
        model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression())
        cv = PurgedWalkForwardSplit(5, purge=5)
        scores = cross_val_score(model, X, y, cv=cv, scoring="balanced_accuracy")
        assert scores.mean() > 0.55

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"n_bars": 1}, "n_bars must be an integer >= 2"),
            ({"regimes": {}}, "non-empty dict"),
            ({"regimes": {"a": (0.1,)}}, r"regimes\['a'\] must be a \(drift, vol"),
            ({"regimes": {"a": (0.0, 0.0)}}, "volatility > 0"),
            ({"persistence": 1.5}, r"persistence must be a number in \[0, 1\]"),
            ({"momentum": 1.0}, r"momentum must be a number in \[0, 1\)"),
            ({"momentum_window": 0}, "momentum_window must be an integer >= 1"),
            ({"start_price": 0}, "start_price must be a number > 0"),
        ],
    )
    def test_bad_parameters(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            make_synthetic_market(**{"n_bars": 50, **kwargs})


class TestSyntheticPanel:
    def test_layout(self):
        X, y = make_synthetic_panel(3, 20, 4, random_state=0)
        assert X.shape == (60, 4)
        assert list(X.columns) == ["feature_0", "feature_1", "feature_2", "feature_3"]
        assert (X.dtypes == np.float64).all()
        assert X.index.names == ["instrument", "date"]
        assert X.index.is_unique
        assert y.index.equals(X.index)
        assert y.name == "label"
        assert set(y) == {"sell", "hold", "buy"}
        dates = pd.bdate_range("2000-01-03", periods=20, name="date")
        assert X.index.get_level_values("date").unique().equals(dates)
        # Interleaved: all instruments of a date, then the next date.
        assert X.index[:4].tolist() == [
            ("INS00", dates[0]),
            ("INS01", dates[0]),
            ("INS02", dates[0]),
            ("INS00", dates[1]),
        ]

    def test_grouped_order_holds_the_same_rows(self):
        X, y = make_synthetic_panel(3, 20, 4, random_state=0)
        Xg, yg = make_synthetic_panel(3, 20, 4, interleave=False, random_state=0)
        assert Xg.index.get_level_values("instrument")[:20].tolist() == ["INS00"] * 20
        assert Xg.index.is_monotonic_increasing
        pd.testing.assert_frame_equal(X.sort_index(), Xg)
        pd.testing.assert_series_equal(y.sort_index(), yg)

    def test_deterministic_given_random_state(self):
        X, y = make_synthetic_panel(2, 30, 3, random_state=7)
        X2, y2 = make_synthetic_panel(2, 30, 3, random_state=7)
        pd.testing.assert_frame_equal(X, X2)
        pd.testing.assert_series_equal(y, y2)
        rng = np.random.RandomState(7)
        pd.testing.assert_frame_equal(
            X, make_synthetic_panel(2, 30, 3, random_state=rng)[0]
        )
        assert not X.equals(make_synthetic_panel(2, 30, 3, random_state=8)[0])

    def test_each_instrument_follows_its_own_rule(self):
        length = 5
        X, y = make_synthetic_panel(4, 300, 3, sequence_length=length, random_state=0)
        for i, name in enumerate(["INS00", "INS01", "INS02", "INS03"]):
            own = X.loc[name, f"feature_{i % 3}"] * (-1) ** i
            signal = own.rolling(length).sum().to_numpy() / np.sqrt(length)
            rule = np.select(
                [signal > 0.4307, signal < -0.4307], ["buy", "sell"], "hold"
            )
            labels = y.loc[name].to_numpy()
            # Exact from the first full window (rounding may flip a tie).
            assert np.mean(rule[length - 1 :] == labels[length - 1 :]) > 0.995
            assert np.mean(rule == labels) > 0.97
            # Another instrument's rule does not explain these labels.
            other = X.loc[name, f"feature_{(i + 1) % 3}"].rolling(length).sum()
            other = np.select(
                [other > 0.4307 * np.sqrt(length), other < -0.4307 * np.sqrt(length)],
                ["buy", "sell"],
                "hold",
            )
            assert np.mean(other == labels) < 0.5
        assert y.value_counts(normalize=True).between(0.25, 0.42).all()

    def test_pooling_instruments_loses_the_rule(self):
        X, y = make_synthetic_panel(random_state=0, interleave=False)
        sums = X.groupby(level="instrument").rolling(10).sum().droplevel(0)
        keep = sums.notna().all(axis=1).to_numpy()
        S, Y = sums[keep], y[keep]
        pooled = LogisticRegression(max_iter=500).fit(S, Y).score(S, Y)
        per_instrument = [
            LogisticRegression(max_iter=500)
            .fit(S.loc[i], Y.loc[i])
            .score(S.loc[i], Y.loc[i])
            for i in S.index.unique("instrument")
        ]
        assert min(per_instrument) > 0.95
        assert pooled < 0.7

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"n_instruments": 0}, "n_instruments must be an integer >= 1"),
            ({"n_days": 2.5}, "n_days must be an integer >= 1"),
            ({"n_features": True}, "n_features must be an integer >= 1"),
            ({"sequence_length": 0}, "sequence_length must be an integer >= 1"),
            ({"interleave": "yes"}, "interleave must be True or False"),
        ],
    )
    def test_bad_parameters(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            make_synthetic_panel(**kwargs)


def _momentum_hit_rate(bars, lookback=10, horizon=5):
    log_close = np.log(bars["close"].to_numpy())
    past = log_close[lookback:-horizon] - log_close[: -lookback - horizon]
    future = log_close[lookback + horizon :] - log_close[lookback:-horizon]
    return np.mean(np.sign(past) == np.sign(future))

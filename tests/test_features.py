import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklensemble import MarketFeatures
from sklensemble.datasets import make_synthetic_market

# Short windows so that scikit-learn's small check arrays have enough rows.
SMALL = dict(
    return_horizons=(1, 2),
    volatility_window=2,
    rsi_window=2,
    macd_windows=(2, 3, 2),
    bollinger_window=2,
    atr_window=2,
    volume_window=2,
    ma_windows=(2, 3),
)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------
def bars_from_close(close, seed=0):
    """Valid OHLCV bars around a close path."""
    rng = np.random.default_rng(seed)
    close = np.asarray(close, dtype=float)
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, len(close)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, len(close)))
    volume = rng.uniform(1e5, 2e5, len(close))
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=pd.bdate_range("2020-01-01", periods=len(close), name="date"),
    )


def random_bars(n, seed):
    rng = np.random.default_rng(seed)
    return bars_from_close(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), seed)


def ema_loop(x, span):
    alpha = 2.0 / (span + 1)
    out = np.empty(len(x))
    out[0] = x[0]
    for t in range(1, len(x)):
        out[t] = alpha * x[t] + (1 - alpha) * out[t - 1]
    return out


def wilder_loop(x, n):
    """Wilder average of x[1:], textbook definition."""
    out = np.full(len(x), np.nan)
    out[n] = np.mean(x[1 : n + 1])
    for t in range(n + 1, len(x)):
        out[t] = (out[t - 1] * (n - 1) + x[t]) / n
    return out


def rsi_loop(close, n):
    delta = np.diff(close, prepend=np.nan)
    gain = wilder_loop(np.where(delta > 0, delta, 0.0), n)
    loss = wilder_loop(np.where(delta < 0, -delta, 0.0), n)
    return 100 - 100 / (1 + gain / loss)


@pytest.fixture(scope="module")
def bars():
    return random_bars(300, seed=1)


@pytest.fixture(scope="module")
def features(bars):
    return MarketFeatures().fit_transform(bars)


# --------------------------------------------------------------------------
# Values against independent computations
# --------------------------------------------------------------------------
class TestValues:
    def test_columns_and_shape(self, bars, features):
        expected = [
            "log_return_1",
            "log_return_5",
            "log_return_10",
            "log_return_20",
            "volatility_20",
            "rsi_14",
            "macd",
            "macd_signal",
            "bollinger_pctb_20",
            "atr_14",
            "hl_range",
            "volume_zscore_20",
            "dist_sma_10",
            "dist_sma_50",
        ]
        assert list(features.columns) == expected
        assert features.shape == (300, 14)
        assert features.index.equals(bars.index)
        assert (features.dtypes == np.float64).all()

    def test_log_returns(self, bars, features):
        c = bars["close"].to_numpy()
        for h in (1, 5, 10, 20):
            col = features[f"log_return_{h}"].to_numpy()
            assert np.isnan(col[:h]).all()
            np.testing.assert_allclose(col[h:], np.log(c[h:] / c[:-h]), rtol=1e-12)

    def test_rsi_by_hand(self):
        # deltas +1, +1, -1, +2 with n=2: gains 1 -> 0.5 -> 1.25,
        # losses 0 -> 0.5 -> 0.25, so RSI = 100, 50, 100 - 100 / 6.
        close = [10.0, 11.0, 12.0, 11.0, 13.0]
        params = {**SMALL, "macd_windows": (1, 2, 1), "ma_windows": (2,)}
        out = MarketFeatures(**params).fit_transform(bars_from_close(close))
        np.testing.assert_allclose(
            out["rsi_2"].to_numpy()[2:], [100.0, 50.0, 100 - 100 / 6], rtol=1e-12
        )

    def test_rsi_matches_textbook_loop(self, bars, features):
        expected = rsi_loop(bars["close"].to_numpy(), 14)
        np.testing.assert_allclose(features["rsi_14"], expected, rtol=1e-10)
        assert features["rsi_14"].iloc[:14].isna().all()
        assert features["rsi_14"].iloc[14:].between(0, 100).all()

    def test_rsi_without_price_change_is_neutral(self):
        out = MarketFeatures(**SMALL).fit_transform(bars_from_close([5.0] * 8))
        np.testing.assert_array_equal(out["rsi_2"].iloc[2:], 50.0)

    def test_macd_is_relative_ema_spread(self, bars, features):
        c = bars["close"].to_numpy()
        macd = ema_loop(c, 12) / ema_loop(c, 26) - 1
        signal = ema_loop(macd, 9)
        np.testing.assert_allclose(features["macd"].iloc[25:], macd[25:], rtol=1e-10)
        np.testing.assert_allclose(
            features["macd_signal"].iloc[33:], signal[33:], rtol=1e-10
        )
        assert features["macd"].iloc[:25].isna().all()
        assert features["macd_signal"].iloc[:33].isna().all()

    def test_bollinger_percent_b_by_hand(self):
        # closes 1, 2, 3 with window 3, k=1: mean 2, population std sqrt(2/3)
        params = {**SMALL, "bollinger_window": 3, "bollinger_std": 1.0}
        out = MarketFeatures(**params).fit_transform(bars_from_close([1.0, 2, 3, 3]))
        s = np.sqrt(2 / 3)
        assert out["bollinger_pctb_3"].iloc[2] == pytest.approx(0.5 + 1 / (2 * s))
        assert np.isnan(out["bollinger_pctb_3"].iloc[1])

    def test_bollinger_percent_b_matches_numpy(self, bars, features):
        c = bars["close"].to_numpy()
        t = 150
        window = c[t - 19 : t + 1]
        lower = window.mean() - 2 * window.std()
        upper = window.mean() + 2 * window.std()
        expected = (c[t] - lower) / (upper - lower)
        assert features["bollinger_pctb_20"].iloc[t] == pytest.approx(expected)

    def test_atr_matches_wilder_loop(self, bars, features):
        h, lo, c = (bars[k].to_numpy() for k in ("high", "low", "close"))
        prev = np.r_[np.nan, c[:-1]]
        tr = np.array(
            [np.nan]
            + [
                max(h[t] - lo[t], abs(h[t] - prev[t]), abs(lo[t] - prev[t]))
                for t in range(1, len(c))
            ]
        )
        expected = wilder_loop(tr, 14) / c
        np.testing.assert_allclose(features["atr_14"], expected, rtol=1e-10)

    def test_rolling_features_match_numpy(self, bars, features):
        c, v = bars["close"].to_numpy(), bars["volume"].to_numpy()
        r1 = np.diff(np.log(c))
        for t in (60, 123, 299):
            row = features.iloc[t]
            assert row["volatility_20"] == pytest.approx(np.std(r1[t - 20 : t], ddof=1))
            vw = v[t - 19 : t + 1]
            assert row["volume_zscore_20"] == pytest.approx(
                (v[t] - vw.mean()) / vw.std(ddof=1)
            )
            assert row["dist_sma_50"] == pytest.approx(
                c[t] / c[t - 49 : t + 1].mean() - 1
            )
            assert row["dist_sma_10"] == pytest.approx(
                c[t] / c[t - 9 : t + 1].mean() - 1
            )
            hl = (bars["high"].iloc[t] - bars["low"].iloc[t]) / c[t]
            assert row["hl_range"] == pytest.approx(hl)

    def test_flat_volume_gives_zero_zscore(self):
        bars = random_bars(10, seed=0).assign(volume=7.0)
        out = MarketFeatures(**SMALL).fit_transform(bars)
        np.testing.assert_array_equal(out["volume_zscore_2"].iloc[1:], 0.0)


# --------------------------------------------------------------------------
# Warm-up
# --------------------------------------------------------------------------
class TestWarmup:
    def test_each_feature_is_nan_exactly_during_its_own_warmup(self, features):
        mf = MarketFeatures().fit(random_bars(60, 0))
        assert mf.n_warmup_rows_ == 49
        first_valid = features.notna().to_numpy().argmax(axis=0)
        expected = dict(
            log_return_1=1, log_return_5=5, log_return_10=10, log_return_20=20,
            volatility_20=20, rsi_14=14, macd=25, macd_signal=33,
            bollinger_pctb_20=19, atr_14=14, hl_range=0, volume_zscore_20=19,
            dist_sma_10=9, dist_sma_50=49,
        )  # fmt: skip
        assert dict(zip(features.columns, first_valid, strict=True)) == expected
        assert not features.iloc[49:].isna().any().any()

    def test_drop_removes_warmup_rows(self, bars, features):
        dropped = MarketFeatures(warmup="drop").fit_transform(bars)
        pd.testing.assert_frame_equal(dropped, features.iloc[49:])

    def test_minimum_rows(self):
        mf = MarketFeatures()
        assert mf.fit_transform(random_bars(50, 0)).shape == (50, 14)
        with pytest.raises(ValueError, match="49 sample.*at least 50 rows"):
            mf.fit(random_bars(49, 0))
        mf.fit(random_bars(60, 0))
        with pytest.raises(ValueError, match="at least 50 rows"):
            mf.transform(random_bars(30, 0))


# --------------------------------------------------------------------------
# No look-ahead
# --------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(60, 120),
    cut=st.floats(0, 1),
    small=st.booleans(),
)
def test_changing_future_rows_never_changes_past_features(seed, n, cut, small):
    bars = random_bars(n, seed)
    t = int(cut * (n - 1))
    future = random_bars(n, seed + 1) * 3.0  # different, still valid bars
    changed = pd.concat([bars.iloc[: t + 1], future.iloc[t + 1 :]])
    mf = MarketFeatures(**SMALL) if small else MarketFeatures()
    before = mf.fit_transform(bars).iloc[: t + 1]
    after = mf.fit_transform(changed).iloc[: t + 1]
    pd.testing.assert_frame_equal(before, after, check_exact=True)
    if t + 1 < n:  # the change itself is visible from t + 1 on
        assert (
            not mf.fit_transform(bars)
            .iloc[t + 1 :]
            .equals(mf.fit_transform(changed).iloc[t + 1 :])
        )


# --------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------
class TestInput:
    def test_column_names_are_case_insensitive_and_extras_ignored(self, bars, features):
        renamed = bars.rename(columns=str.upper).assign(EXTRA="x")
        mf = MarketFeatures().fit(renamed)
        assert mf.n_features_in_ == 6
        assert list(mf.feature_names_in_) == [*renamed.columns]
        pd.testing.assert_frame_equal(mf.transform(renamed), features)

    def test_array_in_ohlcv_order(self, bars, features):
        out = MarketFeatures().fit_transform(bars.to_numpy())
        assert out.index.equals(pd.RangeIndex(len(bars)))
        np.testing.assert_array_equal(out.to_numpy(), features.to_numpy())

    def test_columns_mapping(self, bars, features):
        frame = bars.rename(columns={"close": "adj_close"}).assign(close=1.0)
        out = MarketFeatures(columns={"close": "adj_close"}).fit_transform(frame)
        pd.testing.assert_frame_equal(out, features)
        shuffled = bars[["volume", "close", "open", "low", "high"]].to_numpy()
        positions = {"volume": 0, "close": 1, "open": 2, "low": 3, "high": 4}
        out = MarketFeatures(columns=positions).fit_transform(shuffled)
        np.testing.assert_array_equal(out.to_numpy(), features.to_numpy())

    @pytest.mark.parametrize(
        "make_bad, match",
        [
            (lambda b: b.drop(columns=["volume", "high"]), r"missing the column.*high"),
            (lambda b: b.assign(close="x"), "'close' must be numeric"),
            (lambda b: b.assign(Close=b["close"]), "several columns matching 'close'"),
            (lambda b: b.iloc[::-1], "increasing time order"),
            (lambda b: b.assign(volume=np.r_[np.nan, b["volume"].iloc[1:]]), "NaN"),
            (lambda b: b.assign(open=-b["open"]), "non-positive prices"),
            (lambda b: b.assign(volume=-1.0), "negative"),
            (lambda b: b.rename(columns={"high": "low", "low": "high"}), "high < low"),
            (lambda b: b.to_numpy()[:, :4], r"4 feature\(s\).*exactly 5 columns"),
            (lambda b: b["close"].to_numpy(), "Expected 2D array"),
        ],
    )
    def test_bad_input_raises_with_fix(self, bars, make_bad, match):
        with pytest.raises(ValueError, match=match):
            MarketFeatures().fit(make_bad(bars))

    @pytest.mark.parametrize(
        "params, match",
        [
            ({"warmup": "ffill"}, "warmup must be 'nan' or 'drop'"),
            ({"macd_windows": (26, 12, 9)}, "fast < slow"),
            ({"macd_windows": (12, 26)}, "macd_windows must be"),
            ({"bollinger_std": 0}, "bollinger_std must be"),
            ({"return_horizons": (1, 1)}, "duplicates"),
            ({"return_horizons": 5}, "sequence of integers"),
            ({"volatility_window": 1}, "volatility_window must be an integer >= 2"),
            ({"rsi_window": 2.5}, "rsi_window must be an integer"),
            ({"columns": {"adj": "x"}}, "columns must be a dict"),
            ({"columns": {"close": "nope"}}, "not a column of X"),
        ],
    )
    def test_bad_params_raise(self, bars, params, match):
        with pytest.raises(ValueError, match=match):
            MarketFeatures(**params).fit(bars)

    def test_transform_checks_columns_seen_in_fit(self, bars):
        mf = MarketFeatures().fit(bars)
        with pytest.raises(ValueError, match="feature names"):
            mf.transform(bars.assign(extra=1.0))
        mf = MarketFeatures().fit(bars.to_numpy())
        with pytest.raises(ValueError, match="expecting 5 features"):
            mf.transform(np.c_[bars.to_numpy(), np.ones(len(bars))])

    def test_unfitted_transform_raises(self, bars):
        with pytest.raises(Exception, match="not fitted"):
            MarketFeatures().transform(bars)


# --------------------------------------------------------------------------
# scikit-learn integration (the common checks cannot feed OHLCV bars)
# --------------------------------------------------------------------------
class TestEstimatorApi:
    def test_fit_is_stateless_and_returns_self(self, bars, features):
        mf = MarketFeatures()
        assert mf.fit(bars) is mf
        assert mf.fit(random_bars(80, 5)).transform(bars).equals(features)
        assert clone(mf).get_params() == MarketFeatures().get_params()

    def test_get_feature_names_out(self, bars, features):
        mf = MarketFeatures(return_horizons=(3,), ma_windows=(7,)).fit(bars)
        names = mf.get_feature_names_out()
        assert names.dtype == object
        assert list(names) == list(mf.transform(bars).columns)
        assert names[0] == "log_return_3" and names[-1] == "dist_sma_7"
        np.testing.assert_array_equal(mf.get_feature_names_out(bars.columns), names)
        with pytest.raises(ValueError, match="input_features"):
            mf.get_feature_names_out(["a", "b"])

    def test_pickle_round_trip(self, bars, features):
        mf = pickle.loads(pickle.dumps(MarketFeatures().fit(bars)))
        pd.testing.assert_frame_equal(mf.transform(bars), features)

    def test_read_only_and_fortran_input(self, bars, features):
        X = np.asfortranarray(bars.to_numpy())
        X.flags.writeable = False
        np.testing.assert_array_equal(
            MarketFeatures().fit_transform(X).to_numpy(), features.to_numpy()
        )

    def test_pipeline_with_scaler_and_pandas_output(self, bars, features):
        pipe = make_pipeline(MarketFeatures(), StandardScaler()).set_output(
            transform="pandas"
        )
        out = pipe.fit_transform(bars)
        assert list(out.columns) == list(features.columns)
        assert out.index.equals(bars.index)
        np.testing.assert_allclose(np.nanmean(out, axis=0), 0, atol=1e-12)
        assert list(pipe.get_feature_names_out()) == list(features.columns)

    def test_pipeline_classifier_end_to_end(self):
        from sklensemble.labels import drop_unlabeled, return_labels

        bars = make_synthetic_market(600, seed=3)
        y = return_labels(bars["close"], horizon=5)
        X, y = drop_unlabeled(bars, y)
        pipe = make_pipeline(
            MarketFeatures(), SimpleImputer(), StandardScaler(), LogisticRegression()
        ).fit(X, y)
        pred = pipe.predict(X)
        assert pred.shape == (len(X),)
        assert set(pred) <= {"buy", "hold", "sell"}


# --------------------------------------------------------------------------
# Fewer columns: closes alone, OHLC without volume
# --------------------------------------------------------------------------
RANGE_FEATURES = ["atr_14", "hl_range"]
VOLUME_FEATURES = ["volume_zscore_20"]


class TestFewerColumns:
    @pytest.mark.parametrize(
        "columns, left_out",
        [
            (["close"], RANGE_FEATURES + VOLUME_FEATURES),
            (["open", "high", "low", "close"], VOLUME_FEATURES),
            (["high", "low", "close"], VOLUME_FEATURES),
            (["close", "volume"], RANGE_FEATURES),
            (["high", "low", "close", "volume"], []),
        ],
    )
    def test_each_column_set_gives_the_features_it_allows(
        self, bars, features, columns, left_out
    ):
        mf = MarketFeatures().fit(bars[columns])
        out = mf.transform(bars[columns])
        expected = features.drop(columns=left_out)
        # Bit-for-bit the OHLCV values: the same kernels on the same closes.
        pd.testing.assert_frame_equal(out, expected, check_exact=True)
        assert list(mf.get_feature_names_out()) == list(expected.columns)
        assert mf.fields_ == tuple(c for c in bars.columns if c in columns)

    def test_close_only_warmup_and_drop(self, bars):
        closes = bars[["close"]]
        mf = MarketFeatures().fit(closes)
        assert mf.n_warmup_rows_ == 49
        out = MarketFeatures(warmup="drop").fit_transform(closes)
        assert out.shape == (251, 11) and not out.isna().any().any()
        short = dict(SMALL, ma_windows=(2,))  # the ATR no longer sets the warm-up
        assert MarketFeatures(**short).fit(closes).n_warmup_rows_ == 3
        assert MarketFeatures(**short).fit(bars).n_warmup_rows_ == 3
        with pytest.raises(ValueError, match="1 sample.*at least 4 rows"):
            MarketFeatures(**short).fit(closes.iloc[:1])

    def test_one_column_array_is_the_close(self, bars, features):
        out = MarketFeatures().fit_transform(bars[["close"]].to_numpy())
        expected = features.drop(columns=RANGE_FEATURES + VOLUME_FEATURES)
        assert list(out.columns) == list(expected.columns)
        np.testing.assert_array_equal(out.to_numpy(), expected.to_numpy())

    def test_array_mapping_names_every_field_it_holds(self, bars, features):
        wide = np.c_[np.ones(len(bars)), bars["close"].to_numpy(), -np.ones(len(bars))]
        mf = MarketFeatures(columns={"close": 1}).fit(wide)
        assert mf.fields_ == ("close",) and mf.n_features_in_ == 3
        expected = features.drop(columns=RANGE_FEATURES + VOLUME_FEATURES)
        np.testing.assert_array_equal(mf.transform(wide).to_numpy(), expected)
        ohlc = {"open": 0, "high": 1, "low": 2, "close": 3}
        out = MarketFeatures(columns=ohlc).fit_transform(bars.to_numpy()[:, :4])
        np.testing.assert_array_equal(
            out.to_numpy(), features.drop(columns=VOLUME_FEATURES).to_numpy()
        )

    @pytest.mark.parametrize(
        "make_bad, match",
        [
            (
                lambda b: b.drop(columns="close"),
                r"missing the column\(s\) \['close'\].*columns=\{'close'",
            ),
            (
                lambda b: pd.DataFrame({"AAA": b["close"], "BBB": b["close"]}),
                r"missing the column\(s\) \['close'\].*wide_to_panel",
            ),
            (
                lambda b: b[["high", "close"]],
                r"has a 'high' column but is missing the column\(s\) \['low'\]",
            ),
            (
                lambda b: b[["close", "volume"]].to_numpy(),
                r"2 feature\(s\).*1 column \(close prices\) or exactly 5",
            ),
            (lambda b: b[["close"]].assign(close=0.0), "non-positive prices"),
        ],
    )
    def test_what_cannot_be_computed_is_refused_with_fix(self, bars, make_bad, match):
        with pytest.raises(ValueError, match=match):
            MarketFeatures().fit(make_bad(bars))

    def test_array_mapping_without_close_is_refused(self, bars):
        with pytest.raises(ValueError, match=r"missing the column\(s\) \['close'\]"):
            MarketFeatures(columns={"volume": 0}).fit(bars.to_numpy())
        with pytest.raises(ValueError, match="out of range"):
            MarketFeatures(columns={"close": 5}).fit(bars.to_numpy())

    def test_transform_with_fewer_columns_than_fit_is_refused(self, bars):
        mf = MarketFeatures().fit(bars)
        with pytest.raises(
            ValueError,
            match=r"missing the column\(s\) \['open', 'high', 'low', 'volume'\], "
            "which MarketFeatures was fitted with.*fit again",
        ):
            mf.transform(bars[["close"]])
        mf = MarketFeatures().fit(bars[["high", "low", "close"]])
        with pytest.raises(ValueError, match=r"column\(s\) \['high', 'low'\], which"):
            mf.transform(bars[["close"]])
        # Columns beyond those of fit: scikit-learn's check of the names.
        with pytest.raises(ValueError, match="feature names"):
            MarketFeatures().fit(bars[["close"]]).transform(bars)

    def test_fields_decided_in_fit_survive_set_params(self, bars):
        mf = MarketFeatures(columns={"close": 1}).fit(
            bars[["open", "close"]].to_numpy()
        )
        mf.set_params(columns=None)  # the 2-column array is now ambiguous
        with pytest.raises(ValueError, match="2 feature"):
            mf.transform(bars[["open", "close"]].to_numpy())

    def test_instance_fitted_before_fields_existed_keeps_ohlcv(self, bars, features):
        mf = MarketFeatures().fit(bars)
        del mf.fields_  # as unpickled from an older version
        pd.testing.assert_frame_equal(mf.transform(bars), features)
        assert list(mf.get_feature_names_out()) == list(features.columns)

    def test_close_only_long_panel_matches_each_instrument_alone(self):
        a, b = random_bars(80, 1)[["close"]], random_bars(60, 2)[["close"]]
        long = pd.concat([a.assign(ticker="A"), b.assign(ticker="B")])
        long = long.rename_axis("date").reset_index().sort_values(["date", "ticker"])
        out = MarketFeatures(instrument="ticker", date="date").fit_transform(long)
        assert out.shape == (140, 11) and out.index.names == ["instrument", "date"]
        for name, alone in (("A", a), ("B", b)):
            expected = MarketFeatures().fit_transform(alone)
            np.testing.assert_array_equal(
                out.loc[name].sort_index().to_numpy(), expected.to_numpy()
            )

    def test_close_only_safe_format_round_trip(self, bars, tmp_path):
        from sklensemble import load, save

        pytest.importorskip("skops")
        closes = bars[["close"]]
        mf = MarketFeatures().fit(closes)
        save(mf, tmp_path / "features.skens")
        loaded = load(tmp_path / "features.skens")
        assert loaded.fields_ == ("close",)
        pd.testing.assert_frame_equal(loaded.transform(closes), mf.transform(closes))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(60, 120),
    cut=st.floats(0, 1),
    small=st.booleans(),
)
def test_changing_future_closes_never_changes_past_close_only_features(
    seed, n, cut, small
):
    closes = random_bars(n, seed)[["close"]]
    t = int(cut * (n - 1))
    future = random_bars(n, seed + 1)[["close"]] * 3.0
    changed = pd.concat([closes.iloc[: t + 1], future.iloc[t + 1 :]])
    mf = MarketFeatures(**SMALL) if small else MarketFeatures()
    before = mf.fit_transform(closes)
    after = mf.fit_transform(changed)
    assert mf.fields_ == ("close",) and before.shape[1] == (9 if small else 11)
    pd.testing.assert_frame_equal(
        before.iloc[: t + 1], after.iloc[: t + 1], check_exact=True
    )
    if t + 1 < n:  # the change itself is visible from t + 1 on
        assert not before.iloc[t + 1 :].equals(after.iloc[t + 1 :])


# --------------------------------------------------------------------------
# Wide tables of closes
# --------------------------------------------------------------------------
class TestWideToPanel:
    @pytest.fixture
    def wide(self):
        closes = pd.DataFrame(
            {"AAA": random_bars(70, 1)["close"], "BBB": random_bars(70, 2)["close"]}
        )
        closes.iloc[:10, 1] = np.nan  # BBB listed ten days later
        return closes

    def test_reshapes_to_the_canonical_panel(self, wide):
        from sklensemble import wide_to_panel

        panel = wide_to_panel(wide)
        assert panel.index.names == ["instrument", "date"]
        assert list(panel.columns) == ["close"] and len(panel) == 130
        pd.testing.assert_series_equal(
            panel.loc["AAA", "close"], wide["AAA"], check_names=False, check_freq=False
        )
        np.testing.assert_array_equal(panel.loc["BBB", "close"], wide["BBB"].iloc[10:])
        assert list(wide_to_panel(wide, name="adj_close").columns) == ["adj_close"]

    def test_features_of_the_panel_are_each_instruments_own(self, wide):
        from sklensemble import wide_to_panel

        out = MarketFeatures(cross_sectional="rank").fit_transform(wide_to_panel(wide))
        assert out.shape == (130, 11 + 5)
        for name in wide:
            closes = wide[name].dropna().to_frame("close")
            alone = MarketFeatures().fit_transform(closes)
            np.testing.assert_array_equal(
                out.loc[name, alone.columns].to_numpy(), alone.to_numpy()
            )

    @pytest.mark.parametrize(
        "make_bad, match",
        [
            (lambda w: w["AAA"], "one column per instrument"),
            (lambda w: w.iloc[:, :0], "one column per instrument"),
            (lambda w: w.set_axis(["AAA", "AAA"], axis=1), "each named once"),
            (lambda w: w.stack().to_frame("close"), "already a panel"),
        ],
    )
    def test_bad_tables_are_refused(self, wide, make_bad, match):
        from sklensemble import wide_to_panel

        with pytest.raises(ValueError, match=match):
            wide_to_panel(make_bad(wide))

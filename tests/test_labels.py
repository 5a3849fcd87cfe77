import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklensemble.labels import drop_unlabeled, return_labels, triple_barrier_labels


def random_close(n, seed, index=True):
    rng = np.random.default_rng(seed)
    values = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    if not index:
        return values
    return pd.Series(values, index=pd.bdate_range("2021-01-01", periods=n))


def past_volatility(close, t, window):
    """Reference: std of the one-bar returns ending at rows t-window+1 .. t."""
    prices = np.asarray(close)[t - window : t + 1]
    return np.std(prices[1:] / prices[:-1] - 1, ddof=1)


def triple_barrier_loop(close, t, horizon, up, down, vertical):
    """Reference: walk the path bar by bar; returns (label, offset)."""
    for j in range(1, horizon + 1):
        ret = close[t + j] / close[t] - 1
        if ret >= up:
            return "buy", j
        if ret <= -down:
            return "sell", j
    if vertical == "hold":
        return "hold", horizon
    final = close[t + horizon] / close[t] - 1
    return {1: "buy", -1: "sell", 0: "hold"}[int(np.sign(final))], horizon


# --------------------------------------------------------------------------
# return_labels
# --------------------------------------------------------------------------
class TestReturnLabels:
    def test_forward_return_sign(self):
        close = pd.Series([100.0, 102.0, 101.0, 101.0, 103.0])
        y = return_labels(close)
        assert y.tolist()[:4] == ["buy", "sell", "hold", "buy"]
        assert np.isnan(y.iloc[-1])
        assert y.name == "label"
        assert y.dtype == object

    def test_horizon_and_tail(self):
        close = random_close(50, 0)
        for horizon in (1, 3, 10):
            y = return_labels(close, horizon=horizon)
            assert y.index.equals(close.index)
            assert y.iloc[-horizon:].isna().all()
            assert y.iloc[:-horizon].notna().all()
            forward = close.shift(-horizon) / close - 1
            expected = np.where(
                forward > 0, "buy", np.where(forward < 0, "sell", "hold")
            )
            assert y.iloc[:-horizon].tolist() == expected[:-horizon].tolist()

    def test_hold_band_includes_its_boundaries(self):
        close = pd.Series([100.0, 101.0, 100.0, 99.0])
        up = close[1] / close[0] - 1  # exactly the computed forward return
        assert return_labels(close, threshold=up).iloc[0] == "hold"
        assert return_labels(close, threshold=np.nextafter(up, 0)).iloc[0] == "buy"
        down = -(close[3] / close[2] - 1)
        assert return_labels(close, threshold=down).iloc[2] == "hold"
        assert return_labels(close, threshold=np.nextafter(down, 0)).iloc[2] == "sell"

    def test_custom_labels_and_array_input(self):
        y = return_labels([1.0, 2.0, 1.0, 1.0], labels=(-1, 0, 1))
        assert y.index.equals(pd.RangeIndex(4))
        assert y.tolist()[:3] == [1, -1, 0]

    def test_volatility_threshold_matches_reference(self):
        close = random_close(80, 1)
        window, k, horizon = 10, 0.8, 3
        y = return_labels(
            close, horizon, volatility_window=window, volatility_multiplier=k
        )
        assert y.iloc[:window].isna().all()
        assert y.iloc[-horizon:].isna().all()
        values = close.to_numpy()
        for t in range(window, len(close) - horizon):
            band = k * past_volatility(values, t, window)
            ret = values[t + horizon] / values[t] - 1
            expected = "buy" if ret > band else "sell" if ret < -band else "hold"
            assert y.iloc[t] == expected, t
        assert set(y.dropna()) == {"buy", "hold", "sell"}

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"horizon": 0}, "horizon must be an integer >= 1"),
            ({"horizon": 1.5}, "horizon must be an integer"),
            ({"threshold": -0.01}, "threshold must be a finite number >= 0"),
            ({"threshold": np.nan}, "threshold must be a finite number"),
            ({"volatility_window": 1}, "volatility_window must be an integer >= 2"),
            ({"volatility_window": 5, "threshold": 0.01}, "pass threshold=0"),
            (
                {"volatility_window": 5, "volatility_multiplier": 0},
                "volatility_multiplier must be a finite number > 0",
            ),
            ({"labels": ("a", "b")}, "three values"),
            ({"labels": ("a", "a", "b")}, "three distinct values"),
        ],
    )
    def test_bad_parameters(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            return_labels(random_close(20, 0), **kwargs)


class TestPriceValidation:
    @pytest.mark.parametrize("func", ["return", "barrier"])
    @pytest.mark.parametrize(
        "make_bad, match",
        [
            (lambda c: c.iloc[::-1], r"not sorted.*sort_index\(\)"),
            (lambda c: pd.concat([c, c.iloc[-1:]]), "duplicate index.*duplicated"),
            (lambda c: c.where(c.index != c.index[3], -1.0), "non-positive"),
            (lambda c: c.where(c.index != c.index[3], 0.0), "non-positive"),
            (lambda c: c.where(c.index != c.index[3]), r"1 NaN price.*ffill"),
            (lambda c: c.where(c.index != c.index[3], np.inf), "infinite"),
            (lambda c: c.to_frame("close"), r"DataFrame.*frame\['close'\]"),
            (lambda c: np.c_[c, c], r"must be 1D.*shape \(20, 2\)"),
            (lambda c: ["a"] * len(c), "could not convert"),
            (lambda c: c.astype(str), "numeric prices"),
            (lambda c: c > 100, "numeric prices"),
        ],
    )
    def test_bad_prices(self, func, make_bad, match):
        bad = make_bad(random_close(20, 0))
        with pytest.raises(ValueError, match=match):
            if func == "return":
                return_labels(bad)
            else:
                triple_barrier_labels(bad, 2, 0.01, 0.01)

    def test_error_names_the_first_bad_row(self):
        close = random_close(10, 0)
        close.iloc[[4, 6]] = np.nan
        with pytest.raises(ValueError, match=r"2 NaN.*first at index Timestamp"):
            return_labels(close)


# --------------------------------------------------------------------------
# triple_barrier_labels
# --------------------------------------------------------------------------
class TestTripleBarrier:
    def test_by_hand(self):
        close = pd.Series([100.0, 103.0, 96.0, 97.0, 97.5, 97.0])
        events = triple_barrier_labels(close, 2, profit_take=0.02, stop_loss=0.05)
        assert list(events.columns) == ["label", "known_at"]
        # t=0: +3% at bar 1 -> buy; t=1: -6.8% at bar 2 -> sell;
        # t=2: +1.0%, +1.6% -> vertical; t=3: +0.5%, 0% -> vertical
        assert events["label"].tolist()[:4] == ["buy", "sell", "hold", "hold"]
        assert events["label"].isna().tolist()[4:] == [True, True]
        assert events["known_at"].tolist()[:4] == [1, 2, 4, 5]
        assert events["known_at"].dtype == "Int64"
        assert events["known_at"].isna().tolist()[4:] == [True, True]

    def test_vertical_sign(self):
        close = pd.Series([100.0, 103.0, 96.0, 97.0, 97.5, 97.0])
        events = triple_barrier_labels(close, 2, 0.02, 0.05, vertical="sign")
        # t=2 ends at +1.6% -> buy; t=3 ends exactly flat -> hold
        assert events["label"].tolist()[:4] == ["buy", "sell", "buy", "hold"]

    def test_disabled_barriers(self):
        close = pd.Series([100.0, 110.0, 90.0, 100.0])
        no_top = triple_barrier_labels(close, 2, None, 0.05)
        assert no_top["label"].tolist()[:2] == ["sell", "sell"]
        assert no_top["known_at"].tolist()[:2] == [2, 2]
        none = triple_barrier_labels(close, 2, None, None, vertical="sign")
        assert none["label"].tolist()[:2] == ["sell", "sell"]

    def test_datetime_known_at(self):
        close = random_close(30, 2)
        events = triple_barrier_labels(close, 5, 0.01, 0.01)
        assert events.index.equals(close.index)
        assert pd.api.types.is_datetime64_any_dtype(events["known_at"])
        assert events["known_at"].iloc[-5:].isna().all()
        assert events["label"].iloc[-5:].isna().all()

    @pytest.mark.parametrize("vertical", ["hold", "sign"])
    @pytest.mark.parametrize("window", [None, 8])
    def test_matches_reference_loop(self, vertical, window):
        close = random_close(120, 3, index=False)
        horizon, pt, sl = 6, 1.5, 1.0
        if window is None:
            pt, sl = 0.015, 0.01
        events = triple_barrier_labels(
            close, horizon, pt, sl, volatility_window=window, vertical=vertical
        )
        first = window or 0
        assert events["label"].iloc[:first].isna().all()
        for t in range(first, len(close) - horizon):
            scale = 1.0 if window is None else past_volatility(close, t, window)
            label, offset = triple_barrier_loop(
                close, t, horizon, pt * scale, sl * scale, vertical
            )
            assert events["label"].iloc[t] == label, t
            assert events["known_at"].iloc[t] == t + offset, t
        assert set(events["label"].dropna()) >= {"buy", "sell"}

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"horizon": 0}, "horizon must be an integer >= 1"),
            ({"profit_take": 0}, "profit_take must be a finite number > 0 or None"),
            ({"stop_loss": -0.1}, "stop_loss must be a finite number > 0 or None"),
            ({"vertical": "zero"}, "vertical must be 'hold' or 'sign'"),
            ({"volatility_window": 0}, "volatility_window must be an integer >= 2"),
        ],
    )
    def test_bad_parameters(self, kwargs, match):
        args = {"horizon": 3, "profit_take": 0.01, "stop_loss": 0.01, **kwargs}
        with pytest.raises(ValueError, match=match):
            triple_barrier_labels(random_close(20, 0), **args)

    def test_short_series_has_no_labels(self):
        events = triple_barrier_labels(pd.Series([1.0, 2.0]), 5, 0.1, 0.1)
        assert events["label"].isna().all() and events["known_at"].isna().all()


# --------------------------------------------------------------------------
# No look-ahead: a label depends on its horizon (and the past for the band)
# --------------------------------------------------------------------------
def _perturb_outside(close, lo, hi, seed):
    """Multiply every price outside rows [lo, hi] by a random factor."""
    rng = np.random.default_rng(seed)
    out = close.copy()
    outside = np.ones(len(close), dtype=bool)
    outside[max(lo, 0) : hi + 1] = False
    out[outside] *= rng.uniform(0.5, 2.0, outside.sum())
    return out


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    horizon=st.integers(1, 8),
    window=st.one_of(st.none(), st.integers(2, 10)),
    t_frac=st.floats(0, 1),
)
def test_return_label_depends_only_on_its_window(seed, horizon, window, t_frac):
    close = random_close(60, seed, index=False)
    t = int(t_frac * 59)
    kwargs = {"volatility_window": window, "volatility_multiplier": 0.5}
    label = return_labels(close, horizon, **kwargs).iloc[t]
    lo = t - window if window else t
    changed = _perturb_outside(close, lo, t + horizon, seed)
    relabelled = return_labels(changed, horizon, **kwargs).iloc[t]
    assert label == relabelled or (pd.isna(label) and pd.isna(relabelled))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    horizon=st.integers(1, 8),
    window=st.one_of(st.none(), st.integers(2, 10)),
    vertical=st.sampled_from(["hold", "sign"]),
)
def test_triple_barrier_outcome_known_within_horizon(seed, horizon, window, vertical):
    close = random_close(60, seed, index=False)
    pt, sl = (1.0, 1.0) if window else (0.01, 0.01)
    kw = {"volatility_window": window, "vertical": vertical}
    events = triple_barrier_labels(close, horizon, pt, sl, **kw)
    labelled = events["label"].notna().to_numpy()
    assert events["known_at"].notna().to_numpy().tolist() == labelled.tolist()
    rows = np.flatnonzero(labelled)
    known = events["known_at"].to_numpy(dtype=float, na_value=np.nan)[rows]
    assert (known >= rows).all() and (known <= rows + horizon).all()
    # Prices outside [t - window, t + horizon] do not change the outcome at t.
    rng = np.random.default_rng(seed)
    t = int(rng.integers(0, 60))
    lo = t - window if window else t
    changed = triple_barrier_labels(
        _perturb_outside(close, lo, t + horizon, seed), horizon, pt, sl, **kw
    )
    pd.testing.assert_series_equal(events.iloc[t], changed.iloc[t], check_names=False)


# --------------------------------------------------------------------------
# drop_unlabeled
# --------------------------------------------------------------------------
class TestDropUnlabeled:
    def test_keeps_rows_aligned(self):
        close = random_close(30, 4)
        X = pd.DataFrame({"ret": close.pct_change(), "t": np.arange(30)}, close.index)
        y = return_labels(close, horizon=3)
        X2, y2 = drop_unlabeled(X, y)
        assert X2.index.equals(y2.index)
        assert X2.index.equals(close.index[:-3])
        assert y2.tolist() == y.iloc[:-3].tolist()
        # Re-inferred from the remaining labels: strings (object on pandas 2).
        assert pd.api.types.is_string_dtype(y2.dtype) and y2.notna().all()

    def test_integer_labels_become_integers(self):
        y = return_labels([1.0, 2.0, 1.0, 3.0], labels=(-1, 0, 1))
        _, y2 = drop_unlabeled(np.zeros((4, 2)), y)
        assert y2.dtype == np.int64
        assert y2.tolist() == [1, -1, 1]

    def test_drop_nan_features(self):
        X = pd.DataFrame({"a": [np.nan, 1.0, 2.0, 3.0]})
        y = pd.Series(["buy", "sell", "buy", np.nan])
        X2, y2 = drop_unlabeled(X, y, drop_nan_features=True)
        assert X2.index.tolist() == [1, 2]
        assert y2.tolist() == ["sell", "buy"]

    def test_arrays(self):
        X = np.arange(8.0).reshape(4, 2)
        y = np.array(["buy", None, "sell", np.nan], dtype=object)
        X2, y2 = drop_unlabeled(X, y)
        np.testing.assert_array_equal(X2, [[0, 1], [4, 5]])
        assert isinstance(y2, np.ndarray) and y2.tolist() == ["buy", "sell"]

    def test_triple_barrier_frame_keeps_known_at(self):
        close = random_close(20, 5)
        events = triple_barrier_labels(close, 3, 0.01, 0.01)
        X = pd.DataFrame({"c": close})
        X2, events2 = drop_unlabeled(X, events)
        assert list(events2.columns) == ["label", "known_at"]
        assert len(X2) == len(events2) == 17
        assert events2["known_at"].notna().all()

    def test_errors(self):
        X = pd.DataFrame({"a": range(4)})
        y = pd.Series(["buy"] * 4)
        with pytest.raises(ValueError, match="different indexes.*reindex"):
            drop_unlabeled(X, y.set_axis([1, 2, 3, 4]))
        with pytest.raises(ValueError, match="X has 4 rows but y has 3"):
            drop_unlabeled(X, y.iloc[:3])
        with pytest.raises(ValueError, match="'label' column"):
            drop_unlabeled(X, y.to_frame("target"))
        with pytest.raises(ValueError, match="y must be 1D"):
            drop_unlabeled(X, np.zeros((4, 2)))


# --------------------------------------------------------------------------
# Panels (more in test_panel_market.py)
# --------------------------------------------------------------------------
def test_panel_with_bar_numbers_labels_each_instrument():
    # Level "instrument" plus integer bars, grouped by bar: known_at is a bar.
    index = pd.MultiIndex.from_product(
        [range(4), ["B", "A"]], names=["bar", "instrument"]
    )
    close = pd.Series([10.0, 50.0, 10.3, 49.0, 10.2, 51.0, 10.1, 51.0], index=index)
    events = triple_barrier_labels(close, 2, profit_take=0.02, stop_loss=0.02)
    assert events.index.equals(index)
    assert events["label"].tolist()[:4] == ["buy", "sell", "hold", "buy"]
    assert events["label"].iloc[4:].isna().all()
    assert events["known_at"].dtype == "Int64"
    assert events["known_at"].tolist()[:4] == [1, 1, 3, 2]
    y = return_labels(close, horizon=1, threshold=0.015)
    assert y.iloc[:6].tolist() == ["buy", "sell", "hold", "buy", "hold", "hold"]
    assert y.iloc[6:].isna().all()

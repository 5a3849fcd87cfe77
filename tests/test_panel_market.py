"""Panels in features and labels: per instrument, in date order, rows kept.

Each test builds a small panel of a few instruments with different lengths
(one lists late) and checks a property that breaks if any window or label
crosses from one instrument into another, or depends on the row order.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklensemble import MarketFeatures
from sklensemble.labels import return_labels, triple_barrier_labels

# Short windows keep the panels small.
SMALL = dict(
    return_horizons=(1, 3),
    volatility_window=3,
    rsi_window=3,
    macd_windows=(2, 4, 2),
    bollinger_window=3,
    atr_window=3,
    volume_window=3,
    ma_windows=(2, 5),
)
N_WARMUP = 4  # first row where every SMALL feature exists (dist_sma_5)
CS = ["log_return_1", "log_return_3", "volatility_3"]
LABELLERS = {
    "return": lambda c: return_labels(c, horizon=2).to_frame(),
    "return_vol": lambda c: return_labels(c, horizon=3, volatility_window=4).to_frame(),
    "barrier": lambda c: triple_barrier_labels(c, 3, 0.01, 0.01),
    "barrier_vol": lambda c: triple_barrier_labels(
        c, 4, 1.0, 1.5, volatility_window=3, vertical="sign"
    ),
}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------
def random_bars(n, seed, start="2021-01-04"):
    """Valid OHLCV bars on consecutive business days."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    return pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.uniform(1e5, 2e5, n),
        },
        index=pd.bdate_range(start, periods=n, name="date"),
    )


def make_instruments(n_days=40, seed=0):
    """Three instruments; "CCC" lists 10 business days after the others."""
    return {
        "AAA": random_bars(n_days, seed),
        "BBB": random_bars(n_days, seed + 1),
        "CCC": random_bars(n_days - 10, seed + 2, start="2021-01-18"),
    }


def make_panel(instruments, interleave=True):
    """``(instrument, date)`` panel, rows by date (interleaved) or by instrument."""
    panel = pd.concat(instruments, names=["instrument", "date"])
    if interleave:
        panel = panel.sort_index(level="date", sort_remaining=True)
    return panel


def alone(frame, instrument):
    """One instrument's rows of a panel output, by date."""
    return frame.xs(instrument, level="instrument").sort_index()


def assert_same_rows(left, right):
    """Equal values, exactly, after aligning the rows by index."""
    pd.testing.assert_frame_equal(
        left.sort_index(), right.sort_index(), check_exact=True, check_freq=False
    )


# --------------------------------------------------------------------------
# (a) Nothing crosses an instrument boundary
# --------------------------------------------------------------------------
@pytest.mark.parametrize("interleave", [True, False])
def test_changing_one_instrument_changes_nothing_elsewhere(interleave):
    instruments = make_instruments()
    # A different path for BBB: scaled, shifted and reshaped, still valid bars.
    changed = dict(instruments)
    n = len(instruments["BBB"])
    factor = 3.0 * np.exp(np.random.default_rng(0).normal(0, 0.05, n))
    changed["BBB"] = instruments["BBB"] * np.c_[np.tile(factor, (4, 1)).T, [7.0] * n]
    before, after = make_panel(instruments, interleave), make_panel(changed, interleave)

    mf = MarketFeatures(**SMALL)
    out_before, out_after = mf.fit_transform(before), mf.fit_transform(after)
    assert not alone(out_before, "BBB").equals(alone(out_after, "BBB"))
    for name in ("AAA", "CCC"):
        assert alone(out_before, name).equals(alone(out_after, name))

    for label in LABELLERS.values():
        y_before, y_after = label(before["close"]), label(after["close"])
        assert not alone(y_before, "BBB").equals(alone(y_after, "BBB"))
        for name in ("AAA", "CCC"):
            assert alone(y_before, name).equals(alone(y_after, name))


# --------------------------------------------------------------------------
# (b) A panel's outputs are each instrument's own, row for row
# --------------------------------------------------------------------------
@pytest.mark.parametrize("interleave", [True, False])
@pytest.mark.parametrize("warmup", ["nan", "drop"])
def test_features_equal_each_instrument_alone(interleave, warmup):
    instruments = make_instruments()
    panel = make_panel(instruments, interleave)
    mf = MarketFeatures(**SMALL, warmup=warmup)
    out = mf.fit_transform(panel)
    assert mf.n_warmup_rows_ == N_WARMUP
    assert out.index.equals(panel.index[panel.index.isin(out.index)])
    assert len(out) == len(panel) - (3 * N_WARMUP if warmup == "drop" else 0)
    for name, bars in instruments.items():
        expected = mf.fit_transform(bars)
        pd.testing.assert_frame_equal(
            alone(out, name), expected, check_exact=True, check_freq=False
        )


@pytest.mark.parametrize("labeller", LABELLERS, ids=list(LABELLERS))
def test_labels_equal_each_instrument_alone(labeller):
    instruments = make_instruments()
    panel = make_panel(instruments)
    y = LABELLERS[labeller](panel["close"])
    assert y.index.equals(panel.index)
    for name, bars in instruments.items():
        expected = LABELLERS[labeller](bars["close"])
        pd.testing.assert_frame_equal(
            alone(y, name), expected, check_exact=True, check_freq=False
        )


def test_known_at_is_a_date_of_the_same_instrument():
    instruments = make_instruments()
    events = triple_barrier_labels(make_panel(instruments)["close"], 3, 0.01, 0.01)
    ccc = alone(events, "CCC")
    dates = ccc.index
    known = ccc["known_at"].dropna()
    assert known.isin(dates).all()
    gap = dates.get_indexer(known) - dates.get_indexer(known.index)
    assert ((gap >= 1) & (gap <= 3)).all()
    # The last 3 bars of each instrument have no label and no known_at.
    assert ccc.iloc[-3:].isna().all().all()
    assert alone(events, "AAA").iloc[:-3].notna().all().all()


def test_date_instrument_order_and_long_form_match_the_multiindex():
    instruments = make_instruments()
    panel = make_panel(instruments)
    mf = MarketFeatures(**SMALL, cross_sectional="zscore")
    expected = mf.fit_transform(panel)

    swapped = panel.swaplevel()
    out = mf.fit_transform(swapped)
    assert out.index.equals(swapped.index)
    assert_same_rows(out.swaplevel(), expected)
    y = return_labels(swapped["close"], horizon=2)
    assert_same_rows(
        y.swaplevel().to_frame(), return_labels(panel["close"], 2).to_frame()
    )

    long = panel.reset_index().rename(columns={"instrument": "ticker", "date": "day"})
    long_mf = MarketFeatures(**SMALL, cross_sectional="zscore", instrument="ticker")
    out = long_mf.set_params(date="day").fit_transform(long)
    assert out.index.names == ["instrument", "day"]
    assert long_mf.n_features_in_ == 5  # the key columns are not features
    np.testing.assert_array_equal(out.to_numpy(), expected.to_numpy())


# --------------------------------------------------------------------------
# (c) Row order never matters
# --------------------------------------------------------------------------
PANEL = make_panel(make_instruments(n_days=25), interleave=False)
PANEL_MF = MarketFeatures(**SMALL, cross_sectional=("rank", "zscore"))
PANEL_FEATURES = PANEL_MF.fit_transform(PANEL)
PANEL_LABELS = {name: label(PANEL["close"]) for name, label in LABELLERS.items()}


@settings(max_examples=20, deadline=None)
@given(order=st.permutations(range(len(PANEL))))
def test_any_row_order_gives_the_same_rows(order):
    shuffled = PANEL.iloc[list(order)]
    features = PANEL_MF.fit_transform(shuffled)
    assert features.index.equals(shuffled.index)
    assert_same_rows(features, PANEL_FEATURES)
    for name, label in LABELLERS.items():
        y = label(shuffled["close"])
        assert y.index.equals(shuffled.index)
        assert_same_rows(y, PANEL_LABELS[name])


# --------------------------------------------------------------------------
# (d) Clear errors
# --------------------------------------------------------------------------
def test_duplicate_instrument_date_raises():
    panel = make_panel(make_instruments())
    duplicated = pd.concat([panel, panel.iloc[[4]]])
    with pytest.raises(ValueError, match=r"repeats \(instrument, date\)"):
        MarketFeatures(**SMALL).fit(duplicated)
    with pytest.raises(ValueError, match=r"repeats \(instrument, date\)"):
        return_labels(duplicated["close"])
    with pytest.raises(ValueError, match=r"repeats \(instrument, date\)"):
        triple_barrier_labels(duplicated["close"], 2, 0.01, 0.01)


def test_undated_levels_are_rows_and_instrument_makes_them_a_panel():
    panel = make_panel(make_instruments())
    # Bar numbers instead of dates: neither level holds datetimes.
    codes = panel.index.get_level_values("date").factorize(sort=True)[0]
    index = pd.MultiIndex.from_arrays(
        [panel.index.get_level_values("instrument"), codes], names=["ticker", "bar"]
    )
    ambiguous = panel.set_axis(index)
    # One series in increasing index order, the same as without the keys.
    one_series = ambiguous.sort_index()
    rows = one_series.reset_index(drop=True)
    np.testing.assert_array_equal(
        MarketFeatures(**SMALL).fit_transform(one_series).to_numpy(),
        MarketFeatures(**SMALL).fit_transform(rows).to_numpy(),
    )
    pd.testing.assert_series_equal(
        return_labels(one_series["close"], horizon=2),
        return_labels(rows["close"], horizon=2),
        check_index=False,
    )

    y = return_labels(ambiguous["close"], horizon=2, instrument="ticker")
    expected = return_labels(panel["close"], horizon=2)
    pd.testing.assert_series_equal(y, expected, check_index=False)
    features = MarketFeatures(**SMALL, instrument="ticker").fit_transform(ambiguous)
    np.testing.assert_array_equal(
        features.to_numpy(), MarketFeatures(**SMALL).fit_transform(panel).to_numpy()
    )


def test_cross_sectional_on_a_single_series_raises():
    bars = random_bars(30, 0)
    with pytest.raises(ValueError, match="cross_sectional=.*not a panel"):
        MarketFeatures(**SMALL, cross_sectional="rank").fit(bars)
    with pytest.raises(ValueError, match="cross_sectional=.*not a panel"):
        MarketFeatures(**SMALL, cross_sectional="rank").fit(bars.to_numpy())
    mf = MarketFeatures(**SMALL).fit(bars)
    with pytest.raises(ValueError, match="cross_sectional=.*not a panel"):
        mf.set_params(cross_sectional="zscore").transform(bars)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"cross_sectional": "percentile"}, "cross_sectional must be None, 'rank'"),
        ({"cross_sectional": ("rank", "rank")}, "cross_sectional must be None"),
        ({"cross_sectional": ()}, "cross_sectional must be None"),
        ({"instrument": 3}, "instrument must be None or the name"),
        ({"instrument": "ticker"}, "instrument='ticker' is neither a column"),
        ({"date": "day"}, "date='day' names the date column of a long-form"),
    ],
)
def test_bad_panel_params_raise(params, match):
    with pytest.raises(ValueError, match=match):
        MarketFeatures(**SMALL, **params).fit(make_panel(make_instruments()))


def test_labels_reject_instrument_without_a_panel():
    close = random_bars(20, 0)["close"]
    with pytest.raises(ValueError, match="instrument='ticker'.*not a Series with"):
        return_labels(close, instrument="ticker")
    with pytest.raises(ValueError, match="instrument='ticker'.*not a Series with"):
        triple_barrier_labels(close.to_numpy(), 2, 0.01, 0.01, instrument="ticker")


def test_panel_needs_one_instrument_with_a_full_warmup():
    short = {name: bars.iloc[:N_WARMUP] for name, bars in make_instruments().items()}
    with pytest.raises(ValueError, match="longest instrument has 4 row"):
        MarketFeatures(**SMALL).fit(make_panel(short))


def test_short_instrument_stays_in_warmup():
    instruments = make_instruments()
    instruments["DDD"] = random_bars(3, 9, start="2021-02-01")
    out = MarketFeatures(**SMALL).fit_transform(make_panel(instruments))
    assert alone(out, "DDD")["dist_sma_5"].isna().all()
    dropped = MarketFeatures(**SMALL, warmup="drop").fit_transform(
        make_panel(instruments)
    )
    assert "DDD" not in dropped.index.get_level_values("instrument")


# --------------------------------------------------------------------------
# (e) Cross-sectional features use only their own date
# --------------------------------------------------------------------------
def hand_rank(x):
    """(average rank - 1) / (n - 1), by explicit comparisons."""
    less = (x[:, None] > x[None, :]).sum(axis=1)
    ties = (x[:, None] == x[None, :]).sum(axis=1) - 1
    return (less + ties / 2) / (len(x) - 1)


def test_cross_sectional_by_hand_on_one_date():
    panel = make_panel(make_instruments())
    mf = MarketFeatures(**SMALL, cross_sectional=("zscore", "rank"))
    out = mf.fit_transform(panel)
    names = list(mf.get_feature_names_out())
    base = MarketFeatures(**SMALL).fit(panel).get_feature_names_out()
    assert names[:-6] == list(base)
    assert names[-6:] == [f"{n}_cs_zscore" for n in CS] + [f"{n}_cs_rank" for n in CS]
    assert list(out.columns) == names

    day = out.xs(pd.Timestamp("2021-02-03"), level="date")
    assert len(day) == 3  # all three instruments trade that day
    for name in CS:
        x = day[name].to_numpy()
        z = (x - x.mean()) / x.std()
        np.testing.assert_allclose(day[f"{name}_cs_zscore"], z, rtol=1e-12)
        np.testing.assert_array_equal(day[f"{name}_cs_rank"], hand_rank(x))

    # On a date where only AAA and BBB trade and volatility_3 exists.
    early = out.xs(pd.Timestamp("2021-01-08"), level="date")
    assert list(early.index) == ["AAA", "BBB"]
    x = early["volatility_3"].to_numpy()
    np.testing.assert_array_equal(early["volatility_3_cs_rank"], hand_rank(x))
    np.testing.assert_allclose(early["volatility_3_cs_zscore"], np.sign(x - x[::-1]))


def test_cross_sectional_ignores_other_dates():
    instruments = make_instruments()
    panel = make_panel(instruments)
    mf = MarketFeatures(**SMALL, cross_sectional=("rank", "zscore"))
    cs = [c for c in mf.fit(panel).get_feature_names_out() if "_cs_" in c]
    day = pd.Timestamp("2021-02-03")
    expected = mf.fit_transform(panel).xs(day, level="date")[cs]

    # Later dates: other prices, and BBB missing on one of them.
    later = panel.index.get_level_values("date") > day
    changed = panel.copy()
    factor = np.random.default_rng(0).uniform(0.5, 2.0, (later.sum(), 1))
    changed.loc[later, ["open", "high", "low", "close"]] *= factor
    changed = changed.drop(("BBB", pd.Timestamp("2021-02-10")))
    out = mf.fit_transform(changed)
    pd.testing.assert_frame_equal(
        out.xs(day, level="date")[cs], expected, check_exact=True
    )
    next_day = pd.Timestamp("2021-02-10")
    assert not out.xs(next_day, level="date")[cs].equals(
        mf.fit_transform(panel).xs(next_day, level="date")[cs]
    )

    # An earlier date, before every window that ends on `day`. Equal up to
    # rounding: pandas' rolling std carries running sums from earlier rows.
    early = panel.index.get_level_values("date") == pd.Timestamp("2021-01-05")
    changed = panel.copy()
    changed.loc[early, ["open", "high", "low", "close"]] *= 1.5
    out = mf.fit_transform(changed).xs(day, level="date")[cs]
    pd.testing.assert_frame_equal(out, expected, rtol=1e-9)


def test_cross_sectional_flat_date_and_single_instrument():
    flat = {name: random_bars(10, 0) for name in ("AAA", "BBB")}  # identical bars
    flat["CCC"] = random_bars(10, 5, start="2021-01-15")  # alone on its 1st day
    out = MarketFeatures(**SMALL, cross_sectional=("rank", "zscore")).fit_transform(
        make_panel(flat)
    )
    pair = out.xs(pd.Timestamp("2021-01-08"), level="date")
    assert (pair["log_return_1_cs_rank"] == 0.5).all()
    assert (pair["log_return_1_cs_zscore"] == 0.0).all()
    # CCC's first bar has no return: it stays NaN and leaves the others alone.
    day = out.xs(pd.Timestamp("2021-01-15"), level="date")
    assert np.isnan(day.loc["CCC", "log_return_1_cs_rank"])
    assert (day.loc[["AAA", "BBB"], "log_return_1_cs_rank"] == 0.5).all()

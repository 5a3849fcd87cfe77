"""No look-ahead, proven: changing the future never changes the past.

For each stage of the chain bars -> MarketFeatures -> SequenceWindower ->
fitted pipeline, and for the walk-forward harness, the outputs at or before
a time ``t`` are compared on the original bars and on bars whose rows after
``t`` were replaced by other values: they must be identical, bit for bit.
Labels look forward by design, so for them the property is bounded: the
label at ``t`` depends on prices up to ``t + horizon`` only, and the time it
becomes known lies in ``[t, t + horizon]``.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklensemble import (
    MarketFeatures,
    PurgedWalkForwardSplit,
    SequenceWindower,
    make_ensemble_pipeline,
)
from sklensemble.datasets import make_synthetic_market
from sklensemble.evaluate import walk_forward
from sklensemble.labels import drop_unlabeled, return_labels, triple_barrier_labels

N_BARS = 360
SEQUENCE_LENGTH = 8
FIT_ROWS = 200  # the pipeline is fitted once, on the first labelled rows
FAST = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


pytestmark = pytest.mark.usefixtures("seeded_one_thread")


@pytest.fixture(scope="module")
def bars():
    return make_synthetic_market(N_BARS, seed=7)


def perturb_after(bars, t, seed):
    """Copy of ``bars`` whose rows after position ``t`` are different bars.

    Each later row is scaled by its own random factor (OHLC together, so the
    bar stays valid) and its volume by another: every later value changes.
    """
    rng = np.random.default_rng(seed)
    changed = bars.copy()
    later = slice(t + 1, None)
    n_later = len(bars) - t - 1
    factor = np.exp(rng.normal(0.0, 0.05, n_later))[:, None]
    prices = ["open", "high", "low", "close"]
    changed.iloc[later, changed.columns.get_indexer(prices)] = (
        bars[prices].iloc[later].to_numpy() * factor
    )
    changed.iloc[later, changed.columns.get_loc("volume")] = bars["volume"].iloc[
        later
    ].to_numpy() * np.exp(rng.normal(0.0, 0.5, n_later))
    return changed


def assert_past_equal_future_differs(original, changed, t):
    """Rows ``<= t`` identical (NaN included); some row ``> t`` different."""
    original, changed = np.asarray(original), np.asarray(changed)
    np.testing.assert_array_equal(original[: t + 1], changed[: t + 1])
    assert not np.array_equal(original[t + 1 :], changed[t + 1 :], equal_nan=True)


times = st.integers(min_value=60, max_value=N_BARS - 2)
seeds = st.integers(min_value=0, max_value=2**16)


class TestFeaturesAndWindows:
    @FAST
    @given(t=times, seed=seeds)
    def test_market_features(self, bars, t, seed):
        features = MarketFeatures().fit(bars)
        assert_past_equal_future_differs(
            features.transform(bars),
            features.transform(perturb_after(bars, t, seed)),
            t,
        )

    @FAST
    @given(t=times, seed=seeds, sequence_length=st.integers(1, 30))
    def test_sequence_windows(self, bars, t, seed, sequence_length):
        features = MarketFeatures().fit(bars)
        windower = SequenceWindower(sequence_length)
        original = windower.fit_transform(features.transform(bars))
        changed = windower.transform(features.transform(perturb_after(bars, t, seed)))
        assert_past_equal_future_differs(original, changed, t)


@pytest.fixture(scope="module")
def fitted_pipeline(bars):
    """make_ensemble_pipeline (fast, tiny budgets) fitted on the first rows."""
    features = MarketFeatures().fit(bars)
    labels = return_labels(
        bars["close"], volatility_window=20, volatility_multiplier=0.4
    )
    X, y = drop_unlabeled(features.transform(bars), labels, drop_nan_features=True)
    pipe = make_ensemble_pipeline(
        preset="fast", sequence_length=SEQUENCE_LENGTH, device="cpu", random_state=0
    )
    pipe.set_params(
        ensemble__importance=None,
        ensemble__xgboost__n_estimators=20,
        ensemble__lightgbm__n_estimators=20,
        ensemble__lstm__net__max_epochs=2,
        ensemble__transformer__net__max_epochs=2,
    )
    pipe.fit(X.iloc[:FIT_ROWS], y.iloc[:FIT_ROWS])
    return features, pipe


class TestFittedPipeline:
    @FAST
    @given(t=st.integers(min_value=FIT_ROWS, max_value=N_BARS - 2), seed=seeds)
    def test_probabilities_before_t(self, bars, fitted_pipeline, t, seed):
        # Full chain: the perturbed bars go through the features, then the
        # fitted scaler, windows and members. Rows up to t (some of them
        # never seen in fit) must get the very same probabilities.
        features, pipe = fitted_pipeline
        first = features.n_warmup_rows_  # rows before it have NaN features
        original = pipe.predict_proba(features.transform(bars).iloc[first:])
        changed = pipe.predict_proba(
            features.transform(perturb_after(bars, t, seed)).iloc[first:]
        )
        assert_past_equal_future_differs(original, changed, t - first)

    def test_each_member_before_t(self, bars, fitted_pipeline):
        features, pipe = fitted_pipeline
        first, t = features.n_warmup_rows_, 300
        members = [
            pipe[:-1].transform(features.transform(b).iloc[first:])
            for b in (bars, perturb_after(bars, t, 0))
        ]
        for name, member in pipe[-1].named_estimators_.items():
            (
                assert_past_equal_future_differs(
                    member.predict_proba(members[0].to_numpy()),
                    member.predict_proba(members[1].to_numpy()),
                    t - first,
                ),
                name,
            )


class TestLabels:
    @FAST
    @given(
        t=times,
        seed=seeds,
        horizon=st.integers(1, 10),
        volatility=st.booleans(),
    )
    def test_return_labels_depend_on_prices_up_to_t_plus_horizon(
        self, bars, t, seed, horizon, volatility
    ):
        kwargs = (
            dict(volatility_window=20, volatility_multiplier=0.5)
            if volatility
            else dict(threshold=0.002)
        )
        last_used = min(t + horizon, N_BARS - 1)
        original = return_labels(bars["close"], horizon, **kwargs)
        changed = return_labels(
            perturb_after(bars, last_used, seed)["close"], horizon, **kwargs
        )
        pd.testing.assert_series_equal(original.iloc[: t + 1], changed.iloc[: t + 1])

    @FAST
    @given(
        t=times,
        seed=seeds,
        horizon=st.integers(1, 10),
        barrier=st.floats(0.005, 0.05),
        volatility=st.booleans(),
    )
    def test_triple_barrier_known_within_horizon(
        self, bars, t, seed, horizon, barrier, volatility
    ):
        kwargs = dict(profit_take=barrier, stop_loss=barrier)
        if volatility:
            kwargs = dict(profit_take=2.0, stop_loss=1.0, volatility_window=20)
        events = triple_barrier_labels(bars["close"], horizon, **kwargs)
        labelled = events["label"].notna().to_numpy()
        assert labelled.sum() > 0
        row = np.flatnonzero(labelled)
        known = bars.index.get_indexer(events["known_at"].iloc[row])
        assert (known >= row).all() and (known <= row + horizon).all()
        # The label and its known_at at t ignore prices after t + horizon.
        last_used = min(t + horizon, N_BARS - 1)
        changed = triple_barrier_labels(
            perturb_after(bars, last_used, seed)["close"], horizon, **kwargs
        )
        pd.testing.assert_frame_equal(events.iloc[: t + 1], changed.iloc[: t + 1])


def _flatten(windows):
    return windows.reshape(len(windows), -1)


class TestWalkForward:
    def test_a_fold_ignores_the_future(self, bars):
        """A fold's predictions ignore labels from its purge gap on and rows
        after its test block."""
        features = MarketFeatures().fit_transform(bars)
        labels = return_labels(bars["close"], horizon=3, threshold=0.003)
        X, y = drop_unlabeled(features, labels, drop_nan_features=True)
        pipe = make_pipeline(
            StandardScaler(),
            SequenceWindower(5),
            FunctionTransformer(_flatten),
            LogisticRegression(max_iter=500),
        )
        cv = PurgedWalkForwardSplit(n_splits=3, test_size=60, purge=3)
        train, test = list(cv.split(X))[1]
        rng = np.random.default_rng(0)
        X_changed, y_changed = X.copy(), y.copy()
        X_changed.iloc[test[-1] + 1 :] = rng.normal(size=X.iloc[test[-1] + 1 :].shape)
        y_changed.iloc[train[-1] + 1 :] = rng.permutation(y.iloc[train[-1] + 1 :])

        def fold_probas(X, y):
            _, predictions = walk_forward(pipe, X, y, cv, return_predictions=True)
            ensemble = predictions[predictions["model"] == "ensemble"]
            return ensemble.filter(like="proba_")

        original, changed = fold_probas(X, y), fold_probas(X_changed, y_changed)
        n_kept = 2 * 60  # folds 0 and 1
        np.testing.assert_array_equal(original[:n_kept], changed[:n_kept])
        assert not np.array_equal(original[n_kept:], changed[n_kept:])

"""The fast route of ``predict_proba_last``: same answers, same errors.

``make_ensemble_pipeline``'s Pipeline takes a route that checks the input
once and calls each member's one-row path; these tests pin that it agrees
with the general route (each step's own checks), that it is the route taken,
and that whatever it does not handle falls back to the general route's
answers and errors.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, RobustScaler, StandardScaler

from sklensemble import (
    AttentionLSTMClassifier,
    LightGBMClassifier,
    SequenceWindower,
    SoftVotingEnsemble,
    TransformerClassifier,
    XGBoostClassifier,
    make_ensemble_pipeline,
    predict_proba_last,
)
from sklensemble._serving import _checked_rows

SEQUENCE_LENGTH = 5


def _frame(n_rows=300, seed=0):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(rng.normal(size=(n_rows, 4)), columns=list("abcd"))
    X.index = pd.date_range("2020-01-01", periods=n_rows, freq="D")
    y = np.digitize(
        X["a"].shift(1).fillna(0) + 0.3 * rng.normal(size=n_rows), [-0.3, 0.3]
    )
    return X, y


@pytest.fixture(scope="module")
def fitted():
    X, y = _frame()
    pipe = make_ensemble_pipeline(
        preset="fast", sequence_length=SEQUENCE_LENGTH, random_state=0
    ).set_params(
        ensemble__xgboost__n_estimators=15,
        ensemble__lightgbm__n_estimators=15,
        ensemble__xgboost__n_jobs=1,
        ensemble__lightgbm__n_jobs=1,
        ensemble__lstm__net__max_epochs=2,
        ensemble__transformer__net__max_epochs=2,
    )
    return pipe.fit(X, y), X


def _general(pipe, X):
    return pipe[-1].predict_proba_last(pipe[:-1].transform(X))[0]


def test_fast_route_is_taken_and_agrees(fitted):
    pipe, X = fitted
    rows = X.iloc[-20:]
    assert _checked_rows(pipe.steps, rows) is not None
    fast = predict_proba_last(pipe, rows)
    assert fast.shape == (3,)
    np.testing.assert_allclose(fast, _general(pipe, rows), atol=1e-6)
    np.testing.assert_allclose(fast, pipe.predict_proba(rows)[-1], atol=1e-5)
    assert fast.sum() == pytest.approx(1.0)


def test_fast_route_takes_arrays_for_models_fitted_on_arrays():
    X, y = _frame()
    pipe = make_pipeline(
        StandardScaler(),
        SoftVotingEnsemble(
            [("xgb", XGBoostClassifier(n_estimators=10, n_jobs=1, random_state=0))]
        ),
    ).fit(X.to_numpy(), y)
    rows = X.to_numpy()[-3:]
    assert _checked_rows(pipe.steps, rows) is not None
    np.testing.assert_allclose(
        predict_proba_last(pipe, rows), pipe.predict_proba(rows)[-1], atol=1e-6
    )


def test_missing_values_take_the_fast_route(fitted):
    pipe, X = fitted
    rows = X.iloc[-20:].copy()
    rows.iloc[-1, 1] = np.nan
    rows.iloc[-3, 0] = np.nan
    assert _checked_rows(pipe.steps, rows) is not None
    np.testing.assert_allclose(
        predict_proba_last(pipe, rows), pipe.predict_proba(rows)[-1], atol=1e-5
    )


def test_too_few_rows_for_a_window_fall_back_to_padding(fitted):
    pipe, X = fitted
    rows = X.iloc[-2:]  # shorter than the window: padded by the windower
    np.testing.assert_allclose(
        predict_proba_last(pipe, rows), pipe.predict_proba(rows)[-1], atol=1e-5
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda X: X[list("bacd")], "feature names"),
        (lambda X: X.assign(a=np.inf), "infinity"),
        (lambda X: X.iloc[::-1], "not in time order"),
        (lambda X: X.drop(columns="d"), "feature"),
    ],
)
def test_refused_input_raises_the_general_routes_error(fitted, change, message):
    pipe, X = fitted
    rows = change(X.iloc[-20:])
    with pytest.raises(ValueError, match=message) as fast:
        predict_proba_last(pipe, rows)
    with pytest.raises(ValueError) as general:
        pipe.predict_proba(rows)
    assert str(fast.value) == str(general.value)


@pytest.mark.parametrize(
    "scaler",
    [
        RobustScaler(with_centering=False),
        StandardScaler(with_mean=False),
        MaxAbsScaler(),
    ],
)
def test_each_known_scaler_is_applied_as_its_transform(scaler):
    X, y = _frame(120)
    members = [("lgbm", LightGBMClassifier(n_estimators=10, n_jobs=1, random_state=0))]
    pipe = make_pipeline(scaler, SoftVotingEnsemble(members)).fit(X, y)
    rows = X.iloc[-4:]
    np.testing.assert_array_equal(
        _checked_rows(pipe.steps, rows), np.asarray(scaler.transform(rows))
    )


def test_other_steps_take_the_general_route():
    class OwnScaler(RobustScaler):
        def transform(self, X):
            return super().transform(X) * 2.0

    X, y = _frame(120)
    members = [("xgb", XGBoostClassifier(n_estimators=10, n_jobs=1, random_state=0))]
    pipe = make_pipeline(OwnScaler(), SoftVotingEnsemble(members)).fit(X, y)
    rows = X.iloc[-4:]
    assert _checked_rows(pipe.steps, rows) is None
    np.testing.assert_allclose(
        predict_proba_last(pipe, rows), pipe.predict_proba(rows)[-1], atol=1e-12
    )


@pytest.mark.parametrize("booster", [XGBoostClassifier, LightGBMClassifier])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_boosters_one_row_call_equals_predict_proba(booster, n_classes):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    y = np.digitize(X[:, 0], np.linspace(-0.5, 0.5, n_classes - 1))
    clf = booster(n_estimators=20, n_jobs=1, random_state=0).fit(X, y)
    proba = clf._serve_row(X[-1:])
    assert proba.shape == (1, n_classes)
    np.testing.assert_allclose(proba, clf.predict_proba(X[-1:]), atol=1e-12)


@pytest.mark.parametrize("network", [AttentionLSTMClassifier, TransformerClassifier])
def test_networks_window_call_equals_predict_proba(network):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] > 0).astype(int)
    windows = SequenceWindower(SEQUENCE_LENGTH).fit_transform(X)
    clf = network(
        **(
            {"hidden_size": 8} if network is AttentionLSTMClassifier else {"d_model": 8}
        ),
        num_layers=1,
        num_heads=2,
        max_epochs=2,
        device="cpu",
        random_state=0,
    ).fit(windows, y)
    proba = clf._serve_window(X[-SEQUENCE_LENGTH:])
    assert proba.shape == (1, 2)
    np.testing.assert_allclose(proba, clf.predict_proba(windows[-1:]), atol=1e-5)
    with pytest.raises(ValueError, match="sequences of length 4"):
        clf._serve_window(X[-4:])

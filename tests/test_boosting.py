"""Tests for XGBoostClassifier and LightGBMClassifier."""

import pickle

import lightgbm
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import xgboost
from sklearn.base import clone
from sklearn.datasets import make_classification

from sklensemble import LightGBMClassifier, XGBoostClassifier
from sklensemble._validation import tail_split

# Small, seeded, single-threaded configurations (fast and reproducible).
FAST = {
    XGBoostClassifier: dict(n_estimators=20, early_stopping_rounds=5, n_jobs=1),
    LightGBMClassifier: dict(
        n_estimators=20, early_stopping_rounds=5, min_child_samples=2, n_jobs=1
    ),
}
BOOSTERS = list(FAST)


def make(cls, **params):
    return cls(**{**FAST[cls], "random_state": 0, **params})


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return X, y


@pytest.mark.parametrize("cls", BOOSTERS)
class TestBooster:
    @pytest.mark.parametrize(
        "labels", [np.array(["buy", "hold", "sell"]), np.array([-1, 0, 1])]
    )
    def test_any_labels(self, cls, data, labels):
        X, y = data
        clf = make(cls).fit(X, labels[y])
        assert clf.classes_.tolist() == sorted(labels.tolist())
        assert set(clf.predict(X)) <= set(labels.tolist())
        proba = clf.predict_proba(X)
        assert proba.shape == (300, 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert clf.score(X, labels[y]) > 0.7

    def test_binary_and_multiclass_objectives(self, cls, data):
        X, y = data
        binary = make(cls).fit(X, y == 1).model_
        multi = make(cls).fit(X, y).model_
        if cls is XGBoostClassifier:
            assert binary.objective == "binary:logistic"
            assert multi.objective == "multi:softprob"
        else:
            assert binary.objective_ == "binary"
            assert multi.objective_ == "multiclass"

    def test_early_stopping_on_the_tail(self, cls):
        # Pure noise: validation loss stops improving after a few rounds.
        rng = np.random.RandomState(0)
        X, y = rng.normal(size=(400, 5)), rng.randint(0, 2, 400)
        clf = make(cls, n_estimators=300, learning_rate=0.3).fit(X, y)
        assert clf.n_estimators_ < 300
        assert clf.best_iteration_ == clf.n_estimators_ - 1

    def test_no_validation_uses_all_trees(self, cls, data):
        X, y = data
        clf = make(cls, validation_fraction=None, n_estimators=15).fit(X, y)
        assert clf.n_estimators_ == 15

    def test_head_missing_class_disables_early_stopping(self, cls, data):
        X, _ = data
        y = np.r_[np.zeros(150, int), np.ones(130, int), np.full(20, 2)]
        with pytest.warns(UserWarning, match=r"lack the classes \[2\].*disabled"):
            clf = make(cls, n_estimators=15).fit(X, y)
        assert clf.n_estimators_ == 15
        assert clf.predict_proba(X).shape == (300, 3)

    def test_feature_importances(self, cls, data):
        X, y = data
        clf = make(cls).fit(X, y)
        assert clf.feature_importances_.shape == (6,)
        assert clf.feature_importances_.sum() == pytest.approx(1.0)
        assert (clf.feature_importances_ >= 0).all()

    def test_pandas_feature_names(self, cls, data):
        X, y = data
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
        clf = make(cls).fit(frame, y)
        assert clf.feature_names_in_.tolist() == list(frame.columns)
        with pytest.raises(ValueError, match="feature names should match"):
            clf.predict(frame.rename(columns={"f0": "g0"}))

    def test_nan_is_supported_inf_is_not(self, cls, data):
        X, y = data
        X = X.copy()
        X[::7, 0] = np.nan
        clf = make(cls).fit(X, y)
        assert np.isfinite(clf.predict_proba(X)).all()
        X[0, 1] = np.inf
        with pytest.raises(ValueError, match="infinity"):
            clf.fit(X, y)

    def test_sparse_input(self, cls, data):
        X, y = data
        clf = make(cls).fit(sp.csr_matrix(X), y)
        assert clf.predict_proba(sp.csc_matrix(X)).shape == (300, 3)

    def test_class_weight(self, cls, data):
        X, y = data
        plain = make(cls).fit(X, y).predict_proba(X)
        weighted = make(cls, class_weight={0: 10.0}).fit(X, y).predict_proba(X)
        assert weighted[:, 0].mean() > plain[:, 0].mean()
        balanced = make(cls, class_weight="balanced").fit(X, y)
        assert balanced.predict_proba(X).shape == (300, 3)
        with pytest.raises(ValueError, match=r"class_weight names classes \['7'\]"):
            make(cls, class_weight={7: 2.0}).fit(X, y)

    def test_booster_params(self, cls, data):
        X, y = data
        clf = make(cls, booster_params={"max_bin": 63}).fit(X, y)
        assert clf.model_.get_params()["max_bin"] == 63
        with pytest.raises(ValueError, match=r"repeats the parameters \['max_depth'\]"):
            make(cls, booster_params={"max_depth": 3}).fit(X, y)

    @pytest.mark.parametrize(
        "params, match",
        [
            ({"n_estimators": 0}, "n_estimators"),
            ({"learning_rate": -1.0}, "learning_rate"),
            ({"validation_fraction": 1.5}, "validation_fraction"),
            ({"class_weight": "auto"}, "class_weight"),
        ],
    )
    def test_invalid_params(self, cls, data, params, match):
        X, y = data
        with pytest.raises(ValueError, match=match):
            make(cls, **params).fit(X, y)

    def test_single_class(self, cls, data):
        X, _ = data
        with pytest.raises(ValueError, match="only one class"):
            make(cls).fit(X, np.zeros(300))

    def test_pickle_round_trip(self, cls, data):
        X, y = data
        clf = make(cls).fit(X, y)
        loaded = pickle.loads(pickle.dumps(clf))
        np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))

    def test_verbose_prints_validation_loss(self, cls, data, capsys):
        X, y = data
        make(cls, verbose=5).fit(X, y)
        assert "logloss" in capsys.readouterr().out

    def test_deterministic_with_random_state(self, cls, data):
        X, y = data
        clf = make(cls)
        a = clone(clf).fit(X, y).predict_proba(X)
        b = clone(clf).fit(X, y).predict_proba(X)
        np.testing.assert_array_equal(a, b)


def test_xgboost_matches_manual_tail_early_stopping(data):
    """The wrapper equals XGBClassifier early-stopped on the last 10% of rows."""
    X, y = data
    clf = make(XGBoostClassifier, n_estimators=200, learning_rate=0.3).fit(X, y)
    n_train = tail_split(len(y), 0.1)
    manual = xgboost.XGBClassifier(
        **{
            k: v
            for k, v in clf.model_.get_params().items()
            if k not in ("objective", "eval_metric")
        },
        eval_metric="mlogloss",
    ).fit(
        X[:n_train], y[:n_train], eval_set=[(X[n_train:], y[n_train:])], verbose=False
    )
    assert clf.best_iteration_ == manual.best_iteration
    np.testing.assert_allclose(clf.predict_proba(X), manual.predict_proba(X), rtol=1e-6)


def test_lightgbm_subsample_is_active():
    clf = LightGBMClassifier(subsample=0.5)._make_model(2, 0, True)
    assert clf.get_params()["subsample_freq"] == 1
    assert LightGBMClassifier(subsample=1.0)._make_model(2, 0, True).subsample_freq == 0
    assert isinstance(clf, lightgbm.LGBMClassifier)

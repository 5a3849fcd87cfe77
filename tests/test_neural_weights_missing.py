"""Sample weights and missing values in the sequence classifiers."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from sklensemble import (
    AttentionLSTMClassifier,
    SequenceWindower,
    TransformerClassifier,
    load,
    save,
)

SMALL = {
    AttentionLSTMClassifier: dict(hidden_size=8, num_layers=1, num_heads=2),
    TransformerClassifier: dict(d_model=8, num_layers=1, num_heads=2),
}
NETWORKS = list(SMALL)
by_name = pytest.mark.parametrize("cls", NETWORKS, ids=lambda c: c.__name__)


def small(cls, **params):
    defaults = dict(max_epochs=3, lr=1e-2, random_state=0, device="cpu")
    return cls(**{**SMALL[cls], **defaults, **params})


def rows(n=60, n_features=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, n_features))
    return X, (X[:, 0] > 0).astype(int)


def panel_rows(n_dates=20, seed=0):
    index = pd.MultiIndex.from_product(
        [pd.bdate_range("2020-01-01", periods=n_dates), ["AAA", "BBB"]],
        names=["date", "instrument"],
    )
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(rng.normal(size=(len(index), 3)), index=index)
    return X, (X[0].to_numpy() > 0).astype(int)


class TestSampleWeight:
    @by_name
    def test_validation_loss_is_the_hand_computed_weighted_mean(self, cls):
        X, y = rows(n=60)
        w = np.random.RandomState(1).randint(0, 4, size=60).astype(float)
        w[-15:][:3] = 0.0  # zero weights inside the validation tail too
        clf = small(cls, max_epochs=1, validation_fraction=0.25, batch_size=8)
        clf.fit(X, y, sample_weight=w)
        # One epoch: the final module is the one the tail was scored with.
        proba = clf.predict_proba(X[-15:])
        losses = -np.log(proba[np.arange(15), y[-15:]])
        expected = np.sum(w[-15:] * losses) / np.sum(w[-15:])
        valid_loss = clf.net_.history[-1, "valid_loss"]
        assert valid_loss == pytest.approx(expected, rel=1e-5)
        assert abs(valid_loss - losses.mean()) > 1e-3  # the weights mattered

    @by_name
    def test_batch_loss_is_mean_of_weight_times_loss(self, cls):
        X, y = rows(n=20)
        clf = small(cls, max_epochs=1, validation_fraction=None)
        clf.fit(X, y, sample_weight=np.ones(20))
        w = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])
        with torch.no_grad():
            logits = clf.module_(torch.from_numpy(X[:5, None, :]).float())
            loss = clf.net_.get_loss(logits, (torch.from_numpy(y[:5]), w))
        log_p = np.log(logits.double().softmax(1).numpy())
        by_hand = -log_p[np.arange(5), y[:5]] * np.arange(5.0)
        assert float(loss) == pytest.approx(by_hand.mean(), rel=1e-6)

    def test_class_weight_multiplies_sample_weight(self):
        X, y = rows(n=40)
        clf = small(AttentionLSTMClassifier, class_weight={0: 3.0}).fit(X, y)
        w = np.linspace(0, 1, 40)
        np.testing.assert_allclose(
            clf._loss_weights(y, w), w * np.where(y == 0, 3.0, 1.0)
        )

    @pytest.mark.parametrize("layout", ["series", "panel"])
    @by_name
    def test_zero_weight_windows_are_dropped_from_training(self, cls, layout):
        # One batch per epoch, no dropout, no tail: a window of weight 0 must
        # change nothing, so the fit equals a fit on the other windows alone.
        X, y = panel_rows() if layout == "panel" else rows(n=40)
        windows = SequenceWindower(3).fit_transform(X)
        n = len(y)
        w = np.ones(n)
        w[::3] = 0.0
        y_flipped = np.where(w == 0, 1 - y, y)  # the ignored rows lie
        params = dict(validation_fraction=None, batch_size=n, dropout=0.0)
        weighted = small(cls, **params).fit(windows, y_flipped, sample_weight=w)
        keep = np.flatnonzero(w)
        dropped = small(cls, **params).fit(windows[keep], y[keep])
        unweighted = small(cls, **params).fit(windows, y_flipped)
        proba = weighted.predict_proba(windows)
        np.testing.assert_allclose(proba, dropped.predict_proba(windows), atol=1e-5)
        assert np.abs(proba - unweighted.predict_proba(windows)).max() > 1e-3

    @pytest.mark.parametrize(
        "w, match",
        [
            (np.r_[np.zeros(30), np.ones(30)], "at least 2 classes with a positive"),
            (np.r_[np.ones(50), np.zeros(10)], "all validation rows .* are zero"),
            (-np.ones(60), "Negative values"),
            (np.ones(59), "sample_weight.shape"),
        ],
    )
    def test_bad_weights_are_refused(self, w, match):
        X, y = rows(n=60)
        y = np.r_[np.zeros(30, int), np.ones(30, int)]
        with pytest.raises(ValueError, match=match):
            small(AttentionLSTMClassifier, max_epochs=1).fit(X, y, sample_weight=w)


class TestMissingValues:
    @by_name
    def test_imputation_uses_training_statistics_only(self, cls):
        X, y = rows(n=60)
        X[[3, 10, 20], 1] = np.nan
        X[55, 2] = np.nan  # in the validation tail only: no indicator
        clf = small(cls, validation_fraction=0.1).fit(X, y)
        np.testing.assert_allclose(
            clf.missing_fill_, np.nanmedian(X[:54], axis=0), rtol=1e-6
        )
        assert clf.missing_indicator_features_.tolist() == [1]
        fill = clf.missing_fill_.copy()
        X_test = rows(n=20, seed=5)[0] + 100.0  # other statistics
        X_test[4, 0] = np.nan
        proba = clf.predict_proba(X_test)
        np.testing.assert_array_equal(clf.missing_fill_, fill)
        assert np.isfinite(proba).all()
        # A feature without an indicator: NaN is read as its training median.
        X_filled = X_test.copy()
        X_filled[4, 0] = fill[0]
        np.testing.assert_allclose(proba, clf.predict_proba(X_filled), atol=1e-12)

    @by_name
    def test_missing_indicator_is_an_input(self, cls):
        # The label is "x0 is missing": only the indicator can reveal it.
        rng = np.random.RandomState(0)
        X = rng.normal(size=(400, 2))
        y = (rng.rand(400) < 0.5).astype(int)
        X[y == 1, 0] = np.nan
        clf = small(cls, max_epochs=15, validation_fraction=None, batch_size=32)
        clf.fit(X[:300], y[:300])
        assert clf.missing_indicator_features_.tolist() == [0]
        assert clf.score(X[300:], y[300:]) > 0.95

    @by_name
    def test_windows_and_panels_with_missing_values(self, cls):
        X, y = panel_rows()
        X.iloc[[4, 9, 17], 2] = np.nan
        windows = SequenceWindower(3).fit_transform(X)
        clf = small(cls).fit(windows, y)
        assert clf.missing_indicator_features_.tolist() == [2]
        assert np.isfinite(clf.predict_proba(windows)).all()
        series = SequenceWindower(3, padding="zero").fit_transform(rows(n=40)[0])
        # Zero padding is data, not missing: no indicator appears.
        clf = small(cls).fit(series, rows(n=40)[1])
        assert clf.missing_indicator_features_.size == 0

    @by_name
    def test_infinity_is_a_clear_error(self, cls):
        X, y = rows(n=30)
        X[3, 1] = np.inf
        with pytest.raises(ValueError, match="contains infinity. Replace"):
            small(cls).fit(X, y)
        with pytest.raises(ValueError, match="contains infinity. Replace"):
            small(cls).fit(SequenceWindower(3).fit_transform(X), y)
        clf = small(cls).fit(*rows(n=30))
        with pytest.raises(ValueError, match="contains infinity. Replace"):
            clf.predict(X)

    @by_name
    def test_imputation_state_survives_pickle_and_safe_format(self, cls, tmp_path):
        X, y = rows(n=60)
        X[::7, 0] = np.nan
        clf = small(cls).fit(X, y)
        expected = clf.predict_proba(X)
        restored = pickle.loads(pickle.dumps(clf))
        np.testing.assert_array_equal(restored.predict_proba(X), expected)
        save(clf, tmp_path / "model.skl")
        loaded = load(tmp_path / "model.skl")
        np.testing.assert_array_equal(loaded.missing_fill_, clf.missing_fill_)
        np.testing.assert_array_equal(
            loaded.missing_indicator_features_, clf.missing_indicator_features_
        )
        np.testing.assert_allclose(loaded.predict_proba(X), expected, atol=1e-12)

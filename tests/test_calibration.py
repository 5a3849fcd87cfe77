"""Calibration in time order: TimeOrderedCalibratedClassifier, calibrate_walk_forward,
expected_calibration_error and plot_reliability."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import InvalidParameterError

import sklensemble._calibration as calibration
from sklensemble import (
    PurgedWalkForwardSplit,
    SoftVotingEnsemble,
    TimeOrderedCalibratedClassifier,
    XGBoostClassifier,
    calibrate_walk_forward,
    expected_calibration_error,
    load,
    plot_reliability,
    save,
)


class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Column 0 holds the row number: records the rows fitted and predicted,
    and predicts ``(row + 1) / 1000`` as the second class's probability, so
    that the calibrator's input names the rows it calibrates on."""

    def fit(self, X, y):
        X = np.asarray(X)
        self.classes_ = np.unique(y)
        self.fitted_rows_ = X[:, 0].astype(int)
        self.predicted_rows_ = []
        return self

    def predict_proba(self, X):
        rows = np.asarray(X)[:, 0].astype(int)
        self.predicted_rows_.append(rows)
        p = (rows + 1) / 1000.0
        return np.column_stack([1 - p, p])


class OverconfidentClassifier(ClassifierMixin, BaseEstimator):
    """True probability ``expit(x)``; predicts the far sharper ``expit(5x)``."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        p = expit(5 * np.asarray(X, dtype=float)[:, 0])
        return np.column_stack([1 - p, p])


def _recorded(monkeypatch):
    """Spy on the calibrator fits: the rows whose probabilities they get."""
    seen = []
    original = calibration._fit_calibrators

    def spy(proba, y, method):
        seen.append(np.rint(proba[:, 1] * 1000 - 1).astype(int))
        return original(proba, y, method)

    monkeypatch.setattr(calibration, "_fit_calibrators", spy)
    return seen


def _rows_data(n=100, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.arange(n), rng.normal(size=n)])
    return X, np.tile([0, 1], n // 2)


def _planted(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1))
    y = (rng.uniform(size=n) < expit(x[:, 0])).astype(int)
    return x, y


class TestTimeOrder:
    def test_tail_calibrates_only_after_the_training_rows_and_the_gap(
        self, monkeypatch
    ):
        seen = _recorded(monkeypatch)
        X, y = _rows_data(100)
        model = TimeOrderedCalibratedClassifier(
            RecordingClassifier(),
            validation_fraction=0.2,
            validation_gap=3,
            refit=False,
        ).fit(X, y)
        head = model.estimator_
        # tail: rows 80..99; rows 77..79 purged; the model trained on 0..76.
        np.testing.assert_array_equal(head.fitted_rows_, np.arange(77))
        np.testing.assert_array_equal(seen[0], np.arange(80, 100))
        assert seen[0].min() > head.fitted_rows_.max() + 3
        # The model never saw a row after the last calibration row.
        assert max(rows.max() for rows in head.predicted_rows_) == 99

    def test_refit_trains_the_final_model_on_all_rows(self):
        X, y = _rows_data(100)
        model = TimeOrderedCalibratedClassifier(
            RecordingClassifier(), validation_gap=3
        ).fit(X, y)
        np.testing.assert_array_equal(model.estimator_.fitted_rows_, np.arange(100))

    def test_walk_forward_folds_calibrate_out_of_fold_in_time_order(self, monkeypatch):
        seen = _recorded(monkeypatch)
        fits = []
        original = RecordingClassifier.fit

        def fit(self, X, y):
            fits.append(self)
            return original(self, X, y)

        monkeypatch.setattr(RecordingClassifier, "fit", fit)
        X, y = _rows_data(100)
        cv = PurgedWalkForwardSplit(n_splits=3, test_size=20, purge=2)
        TimeOrderedCalibratedClassifier(
            RecordingClassifier(), cv=cv, validation_gap=2
        ).fit(X, y)
        np.testing.assert_array_equal(seen[0], np.arange(40, 100))
        folds, refit = fits[:3], fits[3]
        for model, start in zip(folds, (40, 60, 80), strict=True):
            assert model.fitted_rows_.max() == start - 3  # purge of 2 rows
            assert max(rows.max() for rows in model.predicted_rows_) == start + 19
        np.testing.assert_array_equal(refit.fitted_rows_, np.arange(100))

    def test_panel_tail_is_split_by_date(self):
        dates = pd.bdate_range("2024-01-01", periods=60)
        index = pd.MultiIndex.from_product(
            [["A", "B"], dates], names=["ticker", "date"]
        )
        rng = np.random.default_rng(0)
        X = pd.DataFrame({"x": rng.normal(size=120)}, index=index)
        y = (X["x"] + rng.normal(size=120) > 0).astype(int)
        model = TimeOrderedCalibratedClassifier(
            LogisticRegression(), validation_gap=2
        ).fit(X, y)
        proba = model.predict_proba(X)
        assert proba.shape == (120, 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)


class TestCalibration:
    @pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
    def test_expected_calibration_error_falls_on_an_overconfident_model(self, method):
        X, y = _planted(3000, seed=0)
        X_test, y_test = _planted(3000, seed=1)
        raw = OverconfidentClassifier().fit(X, y)
        model = TimeOrderedCalibratedClassifier(
            OverconfidentClassifier(), method=method, validation_fraction=0.5
        ).fit(X, y)
        before = expected_calibration_error(y_test, raw.predict_proba(X_test))
        after = expected_calibration_error(y_test, model.predict_proba(X_test))
        assert before > 0.1
        assert after < 0.03

    @pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
    def test_multiclass_rows_sum_to_one(self, method):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(300, 3))
        y = np.array(["buy", "hold", "sell"])[
            np.argmax(X + rng.normal(size=X.shape), 1)
        ]
        model = TimeOrderedCalibratedClassifier(
            LogisticRegression(), method=method
        ).fit(X, y)
        proba = model.predict_proba(X)
        assert proba.shape == (300, 3)
        assert len(model.calibrators_) == 3
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert proba.min() >= 0.0
        assert set(model.predict(X)) <= {"buy", "hold", "sell"}

    def test_a_class_missing_from_the_training_rows_gets_a_column(self):
        X, _ = _rows_data(100)
        y = np.r_[np.tile([0, 1], 40), np.tile([1, 2], 10)]  # class 2 only late
        model = TimeOrderedCalibratedClassifier(LogisticRegression()).fit(X, y)
        proba = model.predict_proba(X)
        assert proba.shape == (100, 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)


class TestComposition:
    def test_pipeline_clone_and_grid_search(self):
        X, y = _planted(300, seed=0)
        pipe = make_pipeline(
            StandardScaler(), TimeOrderedCalibratedClassifier(LogisticRegression())
        )
        search = GridSearchCV(
            pipe,
            {"timeorderedcalibratedclassifier__method": ["sigmoid", "isotonic"]},
            cv=PurgedWalkForwardSplit(n_splits=2, purge=1),
            scoring="neg_log_loss",
        ).fit(X, y)
        assert search.best_params_["timeorderedcalibratedclassifier__method"] in {
            "sigmoid",
            "isotonic",
        }
        twin = clone(pipe).fit(X, y)
        np.testing.assert_allclose(
            twin.predict_proba(X), clone(twin).fit(X, y).predict_proba(X)
        )

    @pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
    def test_wraps_the_ensemble_and_survives_save_and_load(self, method, tmp_path):
        X, y = _planted(300, seed=0)
        ensemble = SoftVotingEnsemble(
            [
                ("xgb", XGBoostClassifier(n_estimators=5, n_jobs=1, random_state=0)),
                ("logreg", LogisticRegression()),
            ],
            weights="auto",
        )
        model = TimeOrderedCalibratedClassifier(
            ensemble, method=method, validation_gap=1
        ).fit(X, y)
        loaded = load(save(model, tmp_path / "model.sklensemble"))
        np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
        assert type(loaded.calibrators_[0]) is type(model.calibrators_[0])


class TestErrors:
    def test_k_fold_that_trains_on_the_future_is_refused(self):
        X, y = _planted(100, seed=0)
        model = TimeOrderedCalibratedClassifier(LogisticRegression(), cv=KFold(3))
        with pytest.raises(ValueError, match="saw their future.*PurgedWalkForward"):
            model.fit(X, y)

    def test_folds_closer_than_the_gap_are_refused(self):
        X, y = _planted(100, seed=0)
        cv = PurgedWalkForwardSplit(n_splits=2, purge=1)
        model = TimeOrderedCalibratedClassifier(
            LogisticRegression(), cv=cv, validation_gap=5
        )
        with pytest.raises(ValueError, match="validation_gap=5"):
            model.fit(X, y)

    def test_estimator_without_predict_proba(self):
        X, y = _planted(100, seed=0)
        with pytest.raises(ValueError, match="no predict_proba"):
            TimeOrderedCalibratedClassifier(LinearSVC()).fit(X, y)

    def test_not_a_classifier(self):
        X, y = _planted(100, seed=0)
        with pytest.raises(TypeError, match="classifier instance"):
            TimeOrderedCalibratedClassifier(StandardScaler()).fit(X, y)

    def test_single_class_before_the_tail(self):
        X, _ = _planted(100, seed=0)
        y = np.r_[np.zeros(80, int), np.ones(20, int)]
        with pytest.raises(ValueError, match="single class"):
            TimeOrderedCalibratedClassifier(LogisticRegression()).fit(X, y)

    def test_bad_method(self):
        X, y = _planted(100, seed=0)
        with pytest.raises(InvalidParameterError, match="method"):
            TimeOrderedCalibratedClassifier(LogisticRegression(), method="beta").fit(
                X, y
            )

    def test_shuffled_dates_are_refused(self):
        X, y = _planted(100, seed=0)
        dates = pd.bdate_range("2024-01-01", periods=100)[::-1]
        frame = pd.DataFrame(X, index=dates)
        with pytest.raises(ValueError, match="not in time order"):
            TimeOrderedCalibratedClassifier(LogisticRegression()).fit(frame, y)


class TestDiagnostics:
    def test_expected_calibration_error_values(self):
        y = np.array([1, 1, 0, 0])
        proba = np.array([[0.2, 0.8], [0.2, 0.8], [0.6, 0.4], [0.6, 0.4]])
        # top label: 0.8 right twice (gap 0.2), 0.6 right twice (gap 0.4).
        assert expected_calibration_error(y, proba) == pytest.approx(0.3)
        np.testing.assert_allclose(
            expected_calibration_error(y, proba, kind="class"), [0.3, 0.3]
        )
        perfect = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
        assert expected_calibration_error(y, perfect) == 0.0

    def test_expected_calibration_error_errors(self):
        y = np.array([0, 1, 2])
        with pytest.raises(ValueError, match="shape"):
            expected_calibration_error(y, np.full((3, 2), 0.5))
        with pytest.raises(ValueError, match=r"labels \[2\]"):
            expected_calibration_error(y, np.full((3, 2), 0.5), classes=[0, 1])
        with pytest.raises(ValueError, match="kind"):
            expected_calibration_error(y, np.full((3, 3), 1 / 3), kind="all")
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            expected_calibration_error(y, np.full((3, 3), 2.0))

    def test_plot_reliability_draws_a_curve_per_model(self):
        pytest.importorskip("matplotlib")
        X, y = _planted(500, seed=0)
        raw = OverconfidentClassifier().fit(X, y).predict_proba(X)
        fig = plot_reliability(y, {"member": raw, "ensemble": raw}, title="t")
        labels = [line.get_label() for line in fig.axes[0].get_lines()]
        assert labels[0] == "perfect"
        assert labels[1].startswith("member (ECE ")
        assert len(labels) == 3

    def test_calibrate_walk_forward_uses_only_earlier_folds(self):
        X, y = _planted(2000, seed=0)
        p = OverconfidentClassifier().fit(X, y).predict_proba(X)
        frame = pd.DataFrame(
            {
                "fold": np.repeat([0, 1, 2, 3], 500),
                "model": "m",
                "y_true": y,
                "y_pred": p.argmax(1),
                "proba_0": p[:, 0],
                "proba_1": p[:, 1],
            }
        )
        out = calibrate_walk_forward(frame, gap=1)
        assert out["fold"].unique().tolist() == [1, 2, 3]
        proba = out[["proba_0", "proba_1"]].to_numpy()
        before = expected_calibration_error(y[500:], p[500:])
        assert expected_calibration_error(y[500:], proba) < before / 3
        # Fold 1 is calibrated on fold 0 alone: changing fold 3 leaves it alone.
        changed = frame.assign(proba_1=np.where(frame["fold"] == 3, 0.5, p[:, 1]))
        again = calibrate_walk_forward(changed, gap=1)
        np.testing.assert_allclose(
            again[again["fold"] == 1]["proba_1"], out[out["fold"] == 1]["proba_1"]
        )

    def test_calibrate_walk_forward_refuses_other_frames(self):
        with pytest.raises(ValueError, match="walk_forward's predictions"):
            calibrate_walk_forward(pd.DataFrame({"fold": [0]}))

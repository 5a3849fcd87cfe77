"""PurgedStackingClassifier: out-of-fold rows from the past only, then a refit."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import RobustScaler
from sklearn.utils._param_validation import InvalidParameterError

import sklensemble
from sklensemble import (
    AttentionLSTMClassifier,
    PurgedStackingClassifier,
    PurgedWalkForwardSplit,
    SequenceWindower,
    SoftVotingEnsemble,
    XGBoostClassifier,
    to_panel,
)
from sklensemble._splits import purge_validation_tails
from sklensemble.tuning import default_search_space, tune

_XGB = dict(n_estimators=5, n_jobs=1, random_state=0)


class _Recorder(ClassifierMixin, BaseEstimator):
    """Records the row ids (column 0) it fits on and predicts, in ``LOG``."""

    LOG = []

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.rows_ = np.asarray(X)[:, 0].astype(int)
        self.LOG.append(("fit", self.rows_))
        return self

    def predict_proba(self, X):
        self.LOG.append(("predict", self.rows_, np.asarray(X)[:, 0].astype(int)))
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


def _rows_and_labels(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.arange(n, dtype=float), rng.normal(size=n)])
    y = np.where(X[:, 1] > 0, "buy", "sell")
    return X, y


def _planted(n=400, seed=0):
    """Column 0 decides the label (with noise), column 1 is noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)
    return X, y


def _on_column(j):
    select = ColumnTransformer([("column", "passthrough", [j])])
    return make_pipeline(select, LogisticRegression())


def _stack(**params):
    members = [
        ("xgb", XGBoostClassifier(**_XGB)),
        ("logreg", LogisticRegression()),
    ]
    return PurgedStackingClassifier(members, n_splits=2, **params)


class TestTimeOrder:
    def test_out_of_fold_rows_come_from_members_fitted_before_them(self):
        X, y = _rows_and_labels(60)
        _Recorder.LOG.clear()
        stack = PurgedStackingClassifier(
            [("rec", _Recorder()), ("logreg", LogisticRegression())],
            n_splits=3,
            validation_gap=2,
        ).fit(X, y)
        fits = [entry[1] for entry in _Recorder.LOG if entry[0] == "fit"]
        predicted = [entry[1:] for entry in _Recorder.LOG if entry[0] == "predict"]
        # Three folds of 15 rows from row 15; training ends 2 rows before each.
        assert [len(rows) for rows in fits] == [13, 28, 43, 60]
        assert len(predicted) == 3
        for (trained, rows), start in zip(predicted, (15, 30, 45), strict=True):
            np.testing.assert_array_equal(rows, np.arange(start, start + 15))
            np.testing.assert_array_equal(trained, np.arange(start - 2))
        assert stack.n_meta_rows_ == 45

    def test_final_members_are_refitted_on_all_rows(self):
        X, y = _rows_and_labels(60)
        stack = PurgedStackingClassifier(
            [("rec", _Recorder()), ("logreg", LogisticRegression())], n_splits=3
        ).fit(X, y)
        np.testing.assert_array_equal(stack.named_estimators_.rec.rows_, np.arange(60))
        assert stack.estimators_[1].n_features_in_ == 2

    def test_sequence_member_sees_history_but_never_a_later_row(self):
        X, y = _rows_and_labels(60)
        _Recorder.LOG.clear()
        member = make_pipeline(SequenceWindower(4), _Recorder3D())
        PurgedStackingClassifier([("seq", member)], n_splits=3).fit(X, y)
        predicted = [entry[1:] for entry in _Recorder.LOG if entry[0] == "predict"]
        for (trained, rows), start in zip(predicted[:3], (15, 30, 45), strict=True):
            # The block's own rows plus the 3 rows its first window looks back on.
            np.testing.assert_array_equal(rows, np.arange(start - 3, start + 15))
            assert trained.max() == start - 1

    def test_walk_forward_purge_reaches_the_gap(self):
        purged = purge_validation_tails(_stack(), PurgedWalkForwardSplit(purge=3))
        assert purged.validation_gap == 3


class _Recorder3D(_Recorder):
    """A recorder for windows: the row id is the last step's column 0."""

    def fit(self, X, y):
        return super().fit(np.asarray(X)[:, -1, :], y)

    def predict_proba(self, X):
        return super().predict_proba(np.asarray(X)[:, -1, :])


class TestMetaLearner:
    def test_trusts_the_informative_member(self):
        X, y = _planted(400)
        members = [("signal", _on_column(0)), ("noise", _on_column(1))]
        stack = PurgedStackingClassifier(members, n_splits=3).fit(X[:300], y[:300])
        coef = stack.final_estimator_.coef_[0]  # signal_0, signal_1, noise_0, noise_1
        signal, noise = coef[1] - coef[0], coef[3] - coef[2]
        assert signal > 2.0
        assert abs(noise) < signal / 5
        voting = SoftVotingEnsemble(members).fit(X[:300], y[:300])
        stacked = log_loss(y[300:], stack.predict_proba(X[300:]))
        assert stacked < log_loss(y[300:], voting.predict_proba(X[300:])) - 0.05

    def test_final_estimator_is_cloned_and_used(self):
        X, y = _planted(200)
        meta = LogisticRegression(C=0.01)
        stack = _stack(final_estimator=meta).fit(X, y)
        assert stack.final_estimator_ is not meta
        assert stack.final_estimator_.C == 0.01
        assert not hasattr(meta, "coef_")

    def test_labels_and_a_class_missing_from_an_early_fold(self):
        X, y = _rows_and_labels(90)
        y = np.array(y, dtype=object)
        y[60:75] = "hold"  # first seen after the first fold's training rows
        stack = _stack().fit(X, y)
        assert stack.classes_.tolist() == ["buy", "hold", "sell"]
        proba = stack.predict_proba(X)
        assert proba.shape == (90, 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert set(stack.predict(X)) <= {"buy", "hold", "sell"}

    def test_panel_folds_by_date(self):
        rng = np.random.default_rng(0)
        dates = pd.bdate_range("2024-01-01", periods=40)
        frame = pd.DataFrame(
            {
                "date": np.tile(dates, 2),
                "ticker": np.repeat(["AAA", "BBB"], 40),
                "x": rng.normal(size=80),
            }
        )
        X = to_panel(frame, "ticker", date="date")
        y = (X["x"] > 0).astype(int).to_numpy()
        stack = _stack(validation_gap=1).fit(X, y)
        assert stack.n_meta_rows_ == 2 * 26  # dates 14..39 of 40, both tickers
        assert stack.predict_proba(X).shape == (80, 2)


class TestCompatibility:
    def test_pipeline_clone_and_grid_search(self):
        X, y = _planted(200)
        pipe = make_pipeline(RobustScaler(), _stack())
        search = GridSearchCV(
            pipe,
            {
                "purgedstackingclassifier__final_estimator": [
                    None,
                    LogisticRegression(C=0.1),
                ],
                "purgedstackingclassifier__xgb__max_depth": [2],
            },
            cv=PurgedWalkForwardSplit(n_splits=2, purge=1),
            scoring="neg_log_loss",
        ).fit(X, y)
        assert search.best_estimator_.predict_proba(X).shape == (200, 2)
        unfitted = clone(search.best_estimator_)
        assert not hasattr(unfitted[-1], "final_estimator_")
        assert unfitted[-1].get_params()["xgb__max_depth"] == 2

    def test_safe_format_round_trip(self, tmp_path):
        X, y = _planted(200)
        pipe = make_pipeline(RobustScaler(), _stack()).fit(X, y)
        path = sklensemble.save(pipe, tmp_path / "stack.sklensemble")
        loaded = sklensemble.load(path)
        assert type(loaded[-1]) is PurgedStackingClassifier
        np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))

    def test_search_space_reaches_the_members(self):
        space = default_search_space(make_pipeline(RobustScaler(), _stack()))
        assert "purgedstackingclassifier__xgb__max_depth" in space
        assert not any("weights" in key for key in space)

    def test_tune(self):
        X, y = _planted(200)
        pipe = make_pipeline(RobustScaler(), _stack())
        result = tune(
            pipe,
            X,
            y,
            cv=PurgedWalkForwardSplit(n_splits=2, purge=1),
            n_trials=2,
            random_state=0,
            show_progress_bar=False,
        )
        assert len(result.study_.trials) == 2
        assert "purgedstackingclassifier__xgb__max_depth" in result.best_params_
        best = result.best_estimator_[-1]
        depth = result.best_params_["purgedstackingclassifier__xgb__max_depth"]
        assert best.named_estimators_["xgb"].max_depth == depth

    @pytest.mark.usefixtures("seeded_one_thread")
    def test_network_member(self):
        X, y = _planted(120)
        net = AttentionLSTMClassifier(
            hidden_size=4, num_heads=1, max_epochs=2, random_state=0, device="cpu"
        )
        members = [
            ("lstm", make_pipeline(SequenceWindower(5), net)),
            ("logreg", LogisticRegression()),
        ]
        stack = PurgedStackingClassifier(members, n_splits=2).fit(X, y)
        assert stack.n_meta_rows_ == 80
        proba = stack.predict_proba(X[-10:])
        assert proba.shape == (10, 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


class TestErrors:
    def test_one_class(self):
        X, _ = _planted(50)
        with pytest.raises(ValueError, match="at least two classes in y, got 1 class"):
            _stack().fit(X, np.zeros(50))

    def test_too_few_rows(self):
        X, y = _planted(4)
        with pytest.raises(ValueError, match="Too few rows.*lower n_splits"):
            _stack(validation_gap=3).fit(X, y)

    def test_meta_rows_of_one_class(self):
        X, _ = _planted(60)
        y = np.r_[np.zeros(10), np.ones(10), np.ones(40)]
        with pytest.raises(ValueError, match="out of fold .* hold a single class"):
            _stack().fit(X, y)

    def test_final_estimator_without_predict_proba(self):
        X, y = _planted(60)
        with pytest.raises(InvalidParameterError, match="'final_estimator'"):
            _stack(final_estimator=LinearRegression()).fit(X, y)

    def test_final_estimator_without_sample_weight(self):
        X, y = _planted(60)
        stack = _stack(final_estimator=KNeighborsClassifier())
        with pytest.raises(TypeError, match="does not accept sample_weight"):
            stack.fit(X, y, sample_weight=np.ones(60))

    def test_member_without_predict_proba_is_named(self):
        X, y = _planted(60)
        stack = PurgedStackingClassifier([("reg", LinearRegression())])
        with pytest.raises(ValueError, match="Member 'reg'"):
            stack.fit(X, y)

    def test_failed_fit_leaves_no_fitted_state(self):
        X, y = _planted(60)
        stack = _stack().fit(X, y)
        with pytest.raises(ValueError):
            stack.fit(X, np.zeros(60))
        assert not hasattr(stack, "final_estimator_")

"""Tests for SoftVotingEnsemble."""

import os
import pickle
import signal
import threading
import time

import joblib
import lightgbm
import numpy as np
import pandas as pd
import pytest
import torch
import xgboost
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import make_classification
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from skorch.callbacks import Callback

import sklensemble._lanes as lanes_module
from sklensemble import (
    AttentionLSTMClassifier,
    LightGBMClassifier,
    SequenceWindower,
    SoftVotingEnsemble,
    XGBoostClassifier,
)
from sklensemble._interrupt import current_stop
from sklensemble._lanes import _cap_threads
from sklensemble._utils import _context_rows
from sklensemble._validation import tail_split
from sklensemble._weights import _simplex_log_loss_weights


def xgb(**params):
    return XGBoostClassifier(
        **{"n_estimators": 10, "n_jobs": 1, "random_state": 0, **params}
    )


def lgbm(**params):
    return LightGBMClassifier(
        **{
            "n_estimators": 10,
            "min_child_samples": 5,
            "n_jobs": 1,
            "random_state": 0,
            **params,
        }
    )


def lstm(**params):
    return make_pipeline(
        SequenceWindower(5),
        AttentionLSTMClassifier(
            **{
                "hidden_size": 8,
                "num_layers": 1,
                "num_heads": 2,
                "max_epochs": 2,
                "batch_size": 64,
                "device": "cpu",
                "random_state": 0,
                **params,
            }
        ),
    )


def trees_and_logreg(**params):
    return SoftVotingEnsemble(
        [("xgb", xgb()), ("lgbm", lgbm()), ("logreg", LogisticRegression())],
        random_state=0,
        **params,
    )


pytestmark = pytest.mark.usefixtures("seeded_one_thread")


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=240,
        n_features=5,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        random_state=0,
    )
    return X, y


class TestWeights:
    def test_none_is_equal(self, data):
        ens = trees_and_logreg().fit(*data)
        assert ens.weights_ == pytest.approx(
            {"xgb": 1 / 3, "lgbm": 1 / 3, "logreg": 1 / 3}
        )

    def test_proba_is_weighted_mean_of_members(self, data):
        X, y = data
        ens = trees_and_logreg(weights=[2, 1, 1]).fit(X, y)
        assert ens.weights_ == pytest.approx({"xgb": 0.5, "lgbm": 0.25, "logreg": 0.25})
        members = [est.predict_proba(X) for est in ens.estimators_]
        expected = 0.5 * members[0] + 0.25 * members[1] + 0.25 * members[2]
        np.testing.assert_allclose(ens.predict_proba(X), expected)
        np.testing.assert_array_equal(ens.predict(X), expected.argmax(axis=1))

    def test_dict_and_dropped_member(self, data):
        ens = trees_and_logreg(weights={"xgb": 3, "logreg": 1})
        ens.set_params(lgbm="drop").fit(*data)
        assert ens.weights_ == {"xgb": 0.75, "logreg": 0.25}
        assert len(ens.estimators_) == 2
        assert ens.named_estimators_["lgbm"] == "drop"
        # A sequence includes dropped members; their weight is ignored.
        ens.set_params(weights=[1, 5, 1]).fit(*data)
        assert ens.weights_ == {"xgb": 0.5, "logreg": 0.5}

    @pytest.mark.parametrize(
        "weights, error, match",
        [
            (
                {"xgb": 1, "lgbm": 1, "logreg": 1, "rf": 1},
                ValueError,
                r"unknown members \['rf'\]",
            ),
            (
                {"xgb": 1, "lgbm": 1},
                ValueError,
                r"no weight for the members \['logreg'\]",
            ),
            ([1, 2], ValueError, "got 2 weights for 3 estimators"),
            ([1, -1, 1], ValueError, "non-negative"),
            ([0, 0, 0], ValueError, "all zero"),
            ([1, np.nan, 1], ValueError, "finite"),
            (["a", "b", "c"], TypeError, "weights must be numbers"),
            ("best", ValueError, "'weights' parameter"),
        ],
    )
    def test_invalid(self, data, weights, error, match):
        with pytest.raises(error, match=match):
            trees_and_logreg(weights=weights).fit(*data)

    def test_auto_prefers_the_informative_member(self, data):
        X, y = data
        ens = SoftVotingEnsemble(
            [
                ("logreg", LogisticRegression()),
                ("noise", DummyClassifier(strategy="uniform")),
            ],
            weights="auto",
        ).fit(X, y)
        assert sum(ens.weights_.values()) == pytest.approx(1.0)
        assert ens.weights_["logreg"] > 0.9
        assert min(ens.weights_.values()) >= 0

    def test_auto_weights_are_learned_on_the_tail(self, data):
        """weights_ equal the simplex optimum computed by hand on the tail."""
        X, y = data
        ens = trees_and_logreg(weights="auto", validation_fraction=0.25).fit(X, y)
        n_train = 180
        heads = [clone(est).fit(X[:n_train], y[:n_train]) for _, est in ens.estimators]
        probas = np.stack([est.predict_proba(X[n_train:]) for est in heads])
        expected = _simplex_log_loss_weights(probas, y[n_train:], None)
        np.testing.assert_allclose(list(ens.weights_.values()), expected, atol=1e-6)

    def test_auto_single_class_head(self, data):
        X, _ = data
        y = np.r_[np.zeros(200, int), np.ones(40, int)]
        with pytest.raises(ValueError, match="hold a single class"):
            trees_and_logreg(weights="auto").fit(X, y)

    def test_simplex_optimum(self):
        y = np.array([0, 1, 1, 0])
        perfect = np.eye(2)[y]
        uniform = np.full((4, 2), 0.5)
        weights = _simplex_log_loss_weights(np.stack([uniform, perfect]), y, None)
        np.testing.assert_allclose(weights, [0.0, 1.0], atol=1e-6)


class TestMembers:
    @pytest.mark.parametrize(
        "estimators, match",
        [
            ([], "non-empty list"),
            ([("a", LogisticRegression()), ("a", LogisticRegression())], "not unique"),
            ([("a__b", LogisticRegression())], "must not contain __"),
            ([("weights", LogisticRegression())], "conflict with constructor"),
            ([("a", "drop")], "All estimators are dropped"),
            ([("ols", LinearRegression())], "Member 'ols' .* is not a classifier"),
            ([("svc", SVC())], "Member 'svc' .* has no predict_proba"),
            ([("x", LogisticRegression(), 1)], "non-empty list"),
        ],
    )
    def test_invalid_estimators(self, data, estimators, match):
        with pytest.raises(ValueError, match=match):
            SoftVotingEnsemble(estimators).fit(*data)

    def test_estimator_class_instead_of_instance(self, data):
        with pytest.raises(TypeError, match="estimator instance"):
            SoftVotingEnsemble([("lr", LogisticRegression)]).fit(*data)

    def test_members_are_cloned(self, data):
        member = LogisticRegression()
        ens = SoftVotingEnsemble([("lr", member)]).fit(*data)
        assert not hasattr(member, "coef_")
        assert ens.estimators_[0] is not member

    def test_failing_member_is_named(self, data):
        ens = SoftVotingEnsemble(
            [("lr", LogisticRegression()), ("bad", _FailingClassifier())]
        )
        with pytest.raises(
            ValueError, match=r"Member 'bad' \(_FailingClassifier\) failed to fit: boom"
        ) as info:
            ens.fit(*data)
        assert isinstance(info.value.__cause__, ValueError)
        assert str(info.value.__cause__) == "boom"

    def test_plain_library_classifiers(self, data):
        X, y = data
        ens = SoftVotingEnsemble(
            [
                ("xgb", xgboost.XGBClassifier(n_estimators=5, n_jobs=1)),
                (
                    "lgbm",
                    lightgbm.LGBMClassifier(n_estimators=5, n_jobs=1, verbosity=-1),
                ),
            ]
        ).fit(X, y)
        assert ens.predict_proba(X).shape == (240, 3)
        assert ens.get_feature_importance().sum() == pytest.approx(1.0)

    def test_sample_weight(self, data):
        X, y = data
        w = np.where(y == 0, 5.0, 1.0)
        plain = trees_and_logreg().fit(X, y).predict_proba(X)
        weighted = trees_and_logreg().fit(X, y, sample_weight=w).predict_proba(X)
        assert weighted[:, 0].mean() > plain[:, 0].mean()
        pipe = SoftVotingEnsemble(
            [("p", make_pipeline(StandardScaler(), LogisticRegression()))]
        )
        assert pipe.fit(X, y, sample_weight=w).predict(X).shape == (240,)
        with pytest.raises(
            TypeError, match="Member 'stub' .* does not accept sample_weight"
        ):
            SoftVotingEnsemble([("stub", _FailingClassifier())]).fit(
                X, y, sample_weight=w
            )


class TestLabels:
    @pytest.mark.parametrize(
        "labels", [np.array(["buy", "hold", "sell"]), np.array([-1, 0, 1])]
    )
    def test_any_labels(self, data, labels):
        X, y = data
        ens = trees_and_logreg().fit(X, labels[y])
        np.testing.assert_array_equal(ens.classes_, np.sort(labels))
        assert set(ens.predict(X)) <= set(labels.tolist())
        assert ens.score(X, labels[y]) > 0.7
        # Members see encoded labels 0..K-1.
        assert ens.estimators_[0].classes_.tolist() == [0, 1, 2]

    def test_member_missing_a_class_is_aligned(self, data):
        X, y = data
        labels = np.array(["buy", "hold", "sell"])
        ens = SoftVotingEnsemble(
            [("full", LogisticRegression()), ("partial", _DropsLastClass())]
        ).fit(X, labels[y])
        by_member = ens.transform(X).reshape(240, 2, 3)
        assert (by_member[:, 1, 2] == 0).all()  # "sell" column of the partial member
        np.testing.assert_allclose(by_member.sum(axis=2), 1.0)
        np.testing.assert_allclose(ens.predict_proba(X), by_member.mean(axis=1))

    def test_auto_weights_with_class_missing_from_head(self, data):
        X, y = data
        y = y.copy()
        y[:200][y[:200] == 1] = 0  # class 1 only in the tail
        ens = SoftVotingEnsemble(
            [
                ("xgb", xgboost.XGBClassifier(n_estimators=5, n_jobs=1)),
                ("lr", LogisticRegression()),
            ],
            weights="auto",
            validation_fraction=0.2,
        ).fit(X, y)
        assert sum(ens.weights_.values()) == pytest.approx(1.0)
        assert ens.predict_proba(X).shape == (240, 3)


class TestOutputs:
    def test_transform_shape_and_names(self, data):
        X, y = data
        ens = trees_and_logreg().fit(X, np.array(["b", "h", "s"])[y])
        out = ens.transform(X)
        assert out.shape == (240, 9)
        np.testing.assert_allclose(out[:, :3], ens.estimators_[0].predict_proba(X))
        names = ens.get_feature_names_out()
        assert names[:3].tolist() == ["xgb_b", "xgb_h", "xgb_s"]
        assert len(names) == 9

    def test_verbose(self, data, capsys):
        trees_and_logreg(verbose=True).fit(*data)
        out = capsys.readouterr().out
        assert "[SoftVotingEnsemble] fitted 'lgbm' in" in out

    def test_fit_times(self, data):
        ens = trees_and_logreg().fit(*data)
        assert list(ens.fit_times_) == ["xgb", "lgbm", "logreg"]
        assert all(t > 0 for t in ens.fit_times_.values())

    def test_feature_importance_pandas(self, data):
        X, y = data
        frame = pd.DataFrame(X, columns=["ret", "vol", "rsi", "macd", "obv"])
        ens = trees_and_logreg(weights=[2, 1, 1]).fit(frame, y)
        imp = ens.get_feature_importance(frame, y)
        assert imp.index.tolist() == list(frame.columns)
        assert imp.sum() == pytest.approx(1.0)
        assert (imp >= 0).all()
        frame_imp = ens.get_feature_importance(frame, y, by_member=True)
        assert frame_imp.columns.tolist() == ["xgb", "lgbm", "logreg"]
        np.testing.assert_allclose(frame_imp.sum(), 1.0)
        np.testing.assert_allclose(
            frame_imp["xgb"], ens.estimators_[0].feature_importances_
        )
        expected = frame_imp @ np.array([0.5, 0.25, 0.25])
        np.testing.assert_allclose(imp, expected / expected.sum())

    def test_feature_importance_without_permutation(self, data):
        X, y = data
        ens = trees_and_logreg(importance=None).fit(X, y)
        assert ens.get_feature_importance(by_member=True)["logreg"].isna().all()
        with pytest.raises(ValueError, match=r"Members \['logreg'\] have no"):
            ens.get_feature_importance()
        with pytest.raises(ValueError, match="importance=None: permutation"):
            ens.get_feature_importance(X, y)
        trees = ens.set_params(logreg="drop").fit(X, y).get_feature_importance()
        assert trees.index.tolist() == [f"x{i}" for i in range(5)]
        assert trees.sum() == pytest.approx(1.0)

    def test_permutation_importances_on_rows_or_at_fit(self, data):
        X, y = data
        auto = trees_and_logreg().fit(X, y)
        # Nothing measured at fit: the model keeps no rows to measure on.
        assert auto.get_feature_importance(by_member=True)["logreg"].isna().all()
        with pytest.raises(ValueError, match=r"get_feature_importance\(X, y\)"):
            auto.get_feature_importance()
        at_fit = trees_and_logreg(importance="fit").fit(X, y)
        measured = at_fit.get_feature_importance(by_member=True)["logreg"]
        assert measured.sum() == pytest.approx(1.0)
        # "fit" measures on the tail: the same rows passed by hand agree.
        tail = slice(tail_split(len(X), 0.2), None)
        on_tail = auto.get_feature_importance(X[tail], y[tail], by_member=True)
        np.testing.assert_allclose(on_tail["logreg"], measured)
        # Passing rows returns numbers and stores nothing.
        assert auto.get_feature_importance(by_member=True)["logreg"].isna().all()

    @pytest.mark.parametrize(
        "args, message",
        [
            ({"y": [0, 1]}, "Pass both X and y"),
            ({"X": "rows"}, "Pass both X and y"),
            ({"X": "rows", "y": "short"}, "X has 240 rows but y has 10 labels"),
            ({"X": "rows", "y": "unknown"}, r"labels \[7\] that the ensemble"),
        ],
    )
    def test_feature_importance_on_bad_rows(self, data, args, message):
        X, y = data
        values = {"rows": X, "short": y[:10], "unknown": np.where(y == 2, 7, y)}
        args = {
            k: values.get(v, v) if isinstance(v, str) else v for k, v in args.items()
        }
        ens = trees_and_logreg().fit(X, y)
        with pytest.raises(ValueError, match=message):
            ens.get_feature_importance(**args)

    def test_pipeline_members_importance_source(self, data):
        X, y = data
        scaled = make_pipeline(StandardScaler(), xgb())
        ens = SoftVotingEnsemble(
            [("scaled", scaled), ("lstm", lstm())], random_state=0
        ).fit(X, y)
        by_member = ens.get_feature_importance(X, y, by_member=True)
        np.testing.assert_allclose(
            by_member["scaled"], ens.estimators_[0][-1].feature_importances_
        )
        assert by_member["lstm"].sum() == pytest.approx(1.0)
        assert _context_rows(lstm()) == 4

    def test_nan_follows_member_tags(self, data):
        X, y = data
        X = X.copy()
        X[::5, 1] = np.nan
        trees = SoftVotingEnsemble([("xgb", xgb()), ("lgbm", lgbm())]).fit(X, y)
        assert np.isfinite(trees.predict_proba(X)).all()
        with_net = SoftVotingEnsemble([("xgb", xgb()), ("lstm", lstm())]).fit(X, y)
        assert np.isfinite(with_net.predict_proba(X)).all()
        with pytest.raises(ValueError, match="NaN"):
            trees_and_logreg().fit(X, y)
        # A Pipeline accepts NaN only when every step does (the scaler
        # passes NaN on to the logistic regression).
        scaled_logreg = make_pipeline(StandardScaler(), LogisticRegression())
        with pytest.raises(ValueError, match="NaN"):
            SoftVotingEnsemble([("xgb", xgb()), ("lr", scaled_logreg)]).fit(X, y)

    def test_unfitted_and_wrong_width(self, data):
        X, y = data
        from sklearn.exceptions import NotFittedError

        with pytest.raises(NotFittedError):
            trees_and_logreg().predict(X)
        ens = trees_and_logreg().fit(X, y)
        with pytest.raises(ValueError, match="X has 4 features"):
            ens.predict_proba(X[:, :4])


class TestConcurrency:
    def test_concurrent_equals_sequential(self, data):
        X, y = data

        def build(n_jobs):
            return SoftVotingEnsemble(
                [("xgb", xgb()), ("lgbm", lgbm()), ("lstm", lstm())],
                n_jobs=n_jobs,
                random_state=0,
            )

        sequential = build(None).fit(X, y)
        concurrent = build(3).fit(X, y)
        np.testing.assert_array_equal(concurrent.predict(X), sequential.predict(X))
        # Boosters' thread caps change float summation order, nothing more.
        np.testing.assert_allclose(
            concurrent.predict_proba(X), sequential.predict_proba(X), atol=1e-6
        )
        np.testing.assert_array_equal(
            concurrent.named_estimators_["lstm"].predict_proba(X),
            sequential.named_estimators_["lstm"].predict_proba(X),
        )

    def test_torch_members_share_one_lane(self, data):
        record = _SharedLog()
        ens = SoftVotingEnsemble(
            [
                ("t1", _SleepyClassifier(record, torch_member=True)),
                ("tree", _SleepyClassifier(record)),
                ("t2", _SleepyClassifier(record, torch_member=True)),
            ],
            n_jobs=3,
        ).fit(*data)
        spans = {name: (start, end) for name, start, end, _ in _named(record, ens)}
        (s1, e1), (s2, e2) = spans["t1"], spans["t2"]
        assert e1 <= s2 or e2 <= s1, "torch members overlapped"
        assert s1 < s2  # the torch lane keeps the given order

    def test_thread_caps(self, data, monkeypatch):
        monkeypatch.setattr(lanes_module, "cpu_count", lambda: 4)
        record = _SharedLog()
        torch.set_num_threads(4)  # above the cap (the fixture restores it)
        before = torch.get_num_threads()
        ens = SoftVotingEnsemble(
            [
                ("auto", _SleepyClassifier(record, n_jobs=None)),
                (
                    "pipe",
                    make_pipeline(
                        StandardScaler(), _SleepyClassifier(record, n_jobs=-1)
                    ),
                ),
                ("torch", _SleepyClassifier(record, torch_member=True)),
                ("one", _SleepyClassifier(record, n_jobs=1)),
            ],
            n_jobs=2,  # 4 lanes, 2 at a time on 4 cores: 2 threads each
        ).fit(*data)
        assert ens.named_estimators_["auto"].n_jobs == 2
        assert ens.named_estimators_["pipe"][-1].n_jobs == 2
        assert ens.named_estimators_["one"].n_jobs == 1  # already below the cap
        torch_threads = {name: t for name, _, _, t in _named(record, ens)}["torch"]
        # torch's count is process-wide and a network's floats depend on it.
        assert torch_threads == before  # never changed, not even during its fit
        assert torch.get_num_threads() == before
        # The user's estimators are untouched, and sequential fits change nothing.
        assert ens.estimators[0][1].n_jobs is None
        seq = clone(ens).set_params(n_jobs=None).fit(*data)
        assert seq.named_estimators_["auto"].n_jobs is None
        assert seq.named_estimators_["pipe"][-1].n_jobs == -1

    def test_cap_threads_library_params(self):
        est = lightgbm.LGBMClassifier(n_jobs=8, num_threads=8)
        _cap_threads(est, 2)
        assert est.get_params()["n_jobs"] == 2
        assert est.get_params()["num_threads"] == 2
        est = make_pipeline(StandardScaler(), xgboost.XGBClassifier())
        _cap_threads(est, 3)
        assert est[-1].n_jobs == 3


class TestInterrupts:
    def test_interrupt_in_a_network_epoch_propagates(self, data):
        interrupted = lstm(callbacks=[_InterruptAfterEpoch()])
        ens = SoftVotingEnsemble([("xgb", xgb()), ("lstm", interrupted)])
        fitted = SoftVotingEnsemble([("xgb", xgb()), ("lstm", lstm())]).fit(*data)
        for est in (ens, fitted.set_params(lstm=interrupted)):  # fit and refit
            with pytest.raises(KeyboardInterrupt):
                est.fit(*data)
            # Neither half of a fit nor the previous model passes as fitted.
            assert not hasattr(est, "estimators_") and not hasattr(est, "classes_")
            with pytest.raises(NotFittedError):
                est.predict(data[0])

    @pytest.mark.usefixtures("ctrl_c_raises")
    def test_sigint_while_lanes_run_in_threads(self, data):
        """Ctrl-C reaches the waiting main thread; the network lane stops too."""
        signaller = _InterruptAfterEpoch(send_sigint=True)
        ens = SoftVotingEnsemble(
            [
                ("xgb", xgb()),
                ("lstm", lstm(max_epochs=200, callbacks=[signaller])),
            ],
            n_jobs=2,
        )
        with pytest.raises(KeyboardInterrupt):
            ens.fit(*data)
        assert not hasattr(ens, "estimators_")
        assert signaller.ended.wait(60), "the network lane kept training"
        assert signaller.thread != threading.main_thread().ident
        # Interrupted after epoch 1, the lane stopped before epoch 2's first batch.
        assert signaller.epochs == 2


class TestSklearnIntegration:
    def test_nested_params(self, data):
        ens = trees_and_logreg()
        params = ens.get_params(deep=True)
        assert params["xgb__max_depth"] == 4
        ens.set_params(xgb__max_depth=2, logreg__C=0.5)
        assert ens.get_params()["xgb__max_depth"] == 2
        cloned = clone(ens)
        assert cloned.get_params()["logreg__C"] == 0.5
        assert cloned.estimators[0][1] is not ens.estimators[0][1]
        assert ens.fit(*data).named_estimators_.xgb.max_depth == 2

    def test_pickle_and_joblib_round_trip(self, data, tmp_path):
        X, y = data
        ens = SoftVotingEnsemble(
            [("xgb", xgb()), ("lgbm", lgbm()), ("lstm", lstm())], random_state=0
        ).fit(X, y)
        expected = ens.predict_proba(X)
        np.testing.assert_array_equal(
            pickle.loads(pickle.dumps(ens)).predict_proba(X), expected
        )
        joblib.dump(ens, tmp_path / "ens.joblib")
        loaded = joblib.load(tmp_path / "ens.joblib")
        np.testing.assert_array_equal(loaded.predict_proba(X), expected)
        pd.testing.assert_series_equal(
            loaded.get_feature_importance(X, y), ens.get_feature_importance(X, y)
        )

    def test_cross_val_score_time_series_split(self, data):
        scores = cross_val_score(trees_and_logreg(), *data, cv=TimeSeriesSplit(3))
        assert scores.shape == (3,)
        assert (scores > 0.4).all()

    def test_grid_search_nested_param(self, data):
        search = GridSearchCV(
            trees_and_logreg(), {"xgb__max_depth": [1, 3]}, cv=TimeSeriesSplit(2)
        ).fit(*data)
        best = search.best_params_["xgb__max_depth"]
        scores = search.cv_results_["mean_test_score"]
        assert best == (1, 3)[int(np.argmax(scores))]
        # The refitted member was built with the chosen depth, down to the
        # library's own model.
        member = search.best_estimator_.named_estimators_.xgb
        assert member.max_depth == best
        assert member.model_.get_params()["max_depth"] == best

    @pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
    @pytest.mark.filterwarnings("ignore::FutureWarning:optuna")
    def test_optuna_search(self, data):
        optuna = pytest.importorskip("optuna")
        from optuna_integration import OptunaSearchCV

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        search = OptunaSearchCV(
            trees_and_logreg(),
            {"xgb__max_depth": optuna.distributions.IntDistribution(1, 3)},
            cv=TimeSeriesSplit(2),
            n_trials=2,
            random_state=0,
        ).fit(*data)
        assert len(search.trials_) == 2
        assert search.predict(data[0]).shape == (240,)


# -- helper members ---------------------------------------------------------
class _FailingClassifier(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise ValueError("boom")

    def predict_proba(self, X):  # pragma: no cover
        raise AssertionError


class _DropsLastClass(ClassifierMixin, BaseEstimator):
    """Trains on the rows of all but the last class (a fold lacking "sell")."""

    def fit(self, X, y):
        keep = y != y.max()
        self.model_ = LogisticRegression().fit(X[keep], y[keep])
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


class _SharedLog(list):
    """A list that clone() shares instead of copying, to observe fitted clones."""

    def __deepcopy__(self, memo):
        return self


class _SleepyClassifier(ClassifierMixin, BaseEstimator):
    """Records (id, start, end, torch threads) of its fit; optionally torch-marked."""

    def __init__(self, record=None, torch_member=False, n_jobs=None):
        self.record = record
        self.torch_member = torch_member
        self.n_jobs = n_jobs

    @property
    def _torch_member(self):
        return self.torch_member

    def fit(self, X, y):
        start = time.perf_counter()
        time.sleep(0.05)
        self.classes_ = np.unique(y)
        self.record.append(
            (id(self), start, time.perf_counter(), torch.get_num_threads())
        )
        self.thread_ = threading.get_ident()
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))


class _InterruptAfterEpoch(Callback):
    """Interrupts the fit after epoch 1 and records where the network stopped.

    ``send_sigint``: send the process a real SIGINT (Python raises it in the
    main thread) and wait until the ensemble has told this lane to stop;
    otherwise raise KeyboardInterrupt here, as Ctrl-C in this thread would.
    Shared, not copied, by ``clone``.
    """

    def __init__(self, send_sigint=False):
        self.send_sigint = send_sigint
        self.ended = threading.Event()

    def __sklearn_clone__(self):
        return self

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) != 1:
            return
        if not self.send_sigint:
            raise KeyboardInterrupt
        self.thread = threading.get_ident()
        os.kill(os.getpid(), signal.SIGINT)
        assert current_stop().wait(60)

    def on_train_end(self, net, **kwargs):
        self.epochs = len(net.history)
        self.ended.set()


def _named(record, ens):
    ids = {
        id(est[-1] if isinstance(est, Pipeline) else est): name
        for name, est in ens.named_estimators_.items()
    }
    return [(ids[i], start, end, threads) for i, start, end, threads in record]

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    TimeSeriesSplit,
    cross_val_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler

from sklensemble import (
    AttentionLSTMClassifier,
    LightGBMClassifier,
    SequenceWindower,
    SoftVotingEnsemble,
    TransformerClassifier,
    XGBoostClassifier,
    load,
    make_ensemble_pipeline,
    predict_proba_last,
    quantize_networks,
    save,
)

TINY = {
    "ensemble__xgboost__n_estimators": 15,
    "ensemble__lightgbm__n_estimators": 15,
    "ensemble__lstm__net__max_epochs": 2,
    "ensemble__transformer__net__max_epochs": 2,
}


def tiny_pipeline(**kwargs):
    params = dict(preset="fast", sequence_length=5, random_state=0, device="cpu")
    return make_ensemble_pipeline(**{**params, **kwargs}).set_params(**TINY)


@pytest.fixture(scope="module")
def market_rows():
    """Rows with a planted look-back signal, as a named DataFrame, string labels."""
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(240, 4)), columns=["ret", "vol", "rsi", "macd"])
    signal = X["ret"].shift(1).fillna(0) + X["ret"].shift(2).fillna(0)
    y = np.where(signal > 0.5, "buy", np.where(signal < -0.5, "sell", "hold"))
    return X, y


@pytest.fixture(scope="module")
def fitted(market_rows):
    X, y = market_rows
    return tiny_pipeline().fit(X, y)


class TestStructure:
    def test_steps_and_members(self):
        pipe = make_ensemble_pipeline()
        assert [name for name, _ in pipe.steps] == ["scaler", "ensemble"]
        assert isinstance(pipe.named_steps["scaler"], RobustScaler)
        ensemble = pipe.named_steps["ensemble"]
        assert isinstance(ensemble, SoftVotingEnsemble)
        members = dict(ensemble.estimators)
        assert list(members) == ["xgboost", "lightgbm", "lstm", "transformer"]
        assert isinstance(members["xgboost"], XGBoostClassifier)
        assert isinstance(members["lightgbm"], LightGBMClassifier)
        assert isinstance(members["lstm"].named_steps["window"], SequenceWindower)
        assert isinstance(members["lstm"].named_steps["net"], AttentionLSTMClassifier)
        assert isinstance(
            members["transformer"].named_steps["net"], TransformerClassifier
        )

    def test_default_preset_has_the_design_sizes(self):
        params = make_ensemble_pipeline().get_params()
        assert params["ensemble__lstm__net__hidden_size"] == 128
        assert params["ensemble__lstm__net__num_layers"] == 3
        assert params["ensemble__lstm__net__num_heads"] == 8
        assert params["ensemble__lstm__net__dropout"] == 0.2
        assert params["ensemble__transformer__net__d_model"] == 256
        assert params["ensemble__transformer__net__num_layers"] == 4
        assert params["ensemble__transformer__net__num_heads"] == 8
        assert params["ensemble__lstm__window__sequence_length"] == 60

    def test_fast_preset_is_small(self):
        params = make_ensemble_pipeline(preset="fast").get_params()
        assert params["ensemble__lstm__net__hidden_size"] < 128
        assert params["ensemble__transformer__net__d_model"] < 256

    def test_arguments_reach_every_member(self):
        pipe = make_ensemble_pipeline(
            sequence_length=7,
            device="cpu",
            n_jobs=2,
            random_state=3,
            weights={"xgboost": 1, "lightgbm": 1, "lstm": 2, "transformer": 2},
        )
        params = pipe.get_params()
        assert params["ensemble__n_jobs"] == 2
        assert params["ensemble__weights"]["lstm"] == 2
        for member in ("xgboost", "lightgbm"):
            assert params[f"ensemble__{member}__random_state"] == 3
        for member in ("lstm", "transformer"):
            assert params[f"ensemble__{member}__net__random_state"] == 3
            assert params[f"ensemble__{member}__net__device"] == "cpu"
            assert params[f"ensemble__{member}__window__sequence_length"] == 7

    @pytest.mark.parametrize("refit_full", [True, False])
    def test_refit_full_reaches_every_member(self, refit_full):
        kwargs = {} if refit_full else {"refit_full": False}
        params = make_ensemble_pipeline(preset="fast", **kwargs).get_params()
        keys = ["xgboost", "lightgbm", "lstm__net", "transformer__net"]
        assert [params[f"ensemble__{k}__refit_full"] for k in keys] == [refit_full] * 4

    def test_fast_preset_trains_at_a_constant_rate(self):
        params = make_ensemble_pipeline(preset="fast").get_params()
        for member in ("lstm", "transformer"):
            assert params[f"ensemble__{member}__net__lr_schedule"] == "constant"
        default = make_ensemble_pipeline().get_params()
        assert default["ensemble__lstm__net__lr_schedule"] == "cosine"

    def test_unknown_preset(self):
        with pytest.raises(
            ValueError, match=r"preset must be one of \['default', 'fast'\]"
        ):
            make_ensemble_pipeline(preset="huge")


class TestFitted:
    def test_predictions_keep_labels_and_align_with_classes(self, fitted, market_rows):
        X, y = market_rows
        np.testing.assert_array_equal(fitted.classes_, ["buy", "hold", "sell"])
        proba = fitted.predict_proba(X)
        assert proba.shape == (240, 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert set(fitted.predict(X)) <= {"buy", "hold", "sell"}

    def test_feature_names_reach_the_ensemble(self, fitted, market_rows):
        X, y = market_rows
        ensemble = fitted.named_steps["ensemble"]
        np.testing.assert_array_equal(
            ensemble.feature_names_in_, ["ret", "vol", "rsi", "macd"]
        )
        importance = ensemble.get_feature_importance(fitted[:-1].transform(X), y)
        assert list(importance.index) == ["ret", "vol", "rsi", "macd"]
        assert importance.sum() == pytest.approx(1.0)
        by_member = ensemble.get_feature_importance(by_member=True)
        assert list(by_member.columns) == ["xgboost", "lightgbm", "lstm", "transformer"]

    def test_fit_times_per_member(self, fitted):
        times = fitted.named_steps["ensemble"].fit_times_
        assert set(times) == {"xgboost", "lightgbm", "lstm", "transformer"}
        assert all(t > 0 for t in times.values())

    def test_same_seed_same_predictions(self, market_rows):
        # Both fits here, under one torch thread count: a network's floats
        # depend on it, and other tests' fixtures change it.
        X, y = market_rows
        first = tiny_pipeline().fit(X, y)
        again = tiny_pipeline().fit(X, y)
        np.testing.assert_array_equal(again.predict_proba(X), first.predict_proba(X))

    def test_pickle_and_joblib_round_trips(self, fitted, market_rows, tmp_path):
        X, _ = market_rows
        expected = fitted.predict_proba(X)
        np.testing.assert_array_equal(
            pickle.loads(pickle.dumps(fitted)).predict_proba(X), expected
        )
        joblib.dump(fitted, tmp_path / "pipe.joblib")
        np.testing.assert_array_equal(
            joblib.load(tmp_path / "pipe.joblib").predict_proba(X), expected
        )

    def test_single_step_prediction_on_the_last_window(self, fitted, market_rows):
        X, _ = market_rows
        # What a service does per new bar: the last sequence_length rows.
        window = X.iloc[-5:]
        full = fitted.predict_proba(window)[-1]
        fast = predict_proba_last(fitted, window)
        assert fast.shape == (3,)
        # The networks' one-window float32 pass: equal to 1e-5 (documented).
        np.testing.assert_allclose(fast, full, rtol=0, atol=1e-5)
        # ... and with more rows than the window, still the newest row's answer
        np.testing.assert_allclose(
            predict_proba_last(fitted, X.iloc[-40:]),
            fitted.predict_proba(X.iloc[-40:])[-1],
            rtol=0,
            atol=1e-5,
        )
        assert not np.allclose(predict_proba_last(fitted, X.iloc[-41:-1]), fast)

    def test_quantized_networks_serve_the_last_row(self, fitted, market_rows, tmp_path):
        X, _ = market_rows
        quantized = quantize_networks(fitted)
        ensemble = quantized.named_steps["ensemble"]
        assert ensemble.named_estimators_["lstm"][-1].quantized_
        assert not hasattr(
            fitted.named_steps["ensemble"].estimators_[2][-1], "quantized_"
        )
        proba, q_proba = fitted.predict_proba(X), quantized.predict_proba(X)
        assert q_proba.shape == proba.shape
        assert (proba.argmax(axis=1) == q_proba.argmax(axis=1)).mean() >= 0.9
        window = X.iloc[-5:]
        # Quantized networks predict every window alone: the paths agree to
        # float32 rounding.
        np.testing.assert_allclose(
            predict_proba_last(quantized, window),
            quantized.predict_proba(window)[-1],
            rtol=0,
            atol=1e-6,
        )
        pytest.importorskip("skops")
        pytest.importorskip("safetensors")
        loaded = load(save(quantized, tmp_path / "q.sklensemble"))
        np.testing.assert_array_equal(loaded.predict_proba(X), q_proba)


class TestWorkflows:
    def test_clone_and_nested_set_params(self):
        pipe = tiny_pipeline()
        pipe.set_params(
            ensemble__lstm__net__hidden_size=4, ensemble__xgboost__max_depth=2
        )
        cloned = clone(pipe)
        assert cloned.get_params()["ensemble__lstm__net__hidden_size"] == 4
        assert cloned.get_params()["ensemble__xgboost__max_depth"] == 2

    def test_cross_val_score_time_series_split(self, market_rows):
        X, y = market_rows
        scores = cross_val_score(tiny_pipeline(), X, y, cv=TimeSeriesSplit(5))
        assert scores.shape == (5,)
        assert np.all((scores >= 0) & (scores <= 1))

    def test_grid_search_over_nested_member_params(self, market_rows):
        X, y = market_rows
        grid = GridSearchCV(
            tiny_pipeline(),
            {"ensemble__xgboost__max_depth": [2, 3]},
            cv=TimeSeriesSplit(3),
        ).fit(X, y)
        best = grid.best_params_["ensemble__xgboost__max_depth"]
        scores = grid.cv_results_["mean_test_score"]
        assert np.isfinite(scores).all()
        assert best == (2, 3)[int(np.argmax(scores))]
        # The nested parameter reached the refitted member's library model.
        member = grid.best_estimator_.named_steps["ensemble"].named_estimators_
        assert member["xgboost"].model_.get_params()["max_depth"] == best

    @pytest.mark.parametrize("dated", [True, False])
    def test_halving_search_over_samples_shuffles_rows_and_is_refused(
        self, market_rows, dated
    ):
        X, y = market_rows
        if dated:
            X = X.set_axis(pd.bdate_range("2024-01-01", periods=len(X)))
        search = HalvingGridSearchCV(
            tiny_pipeline(),
            {"ensemble__xgboost__max_depth": [2, 3]},
            cv=TimeSeriesSplit(2),
            error_score="raise",
            random_state=0,
        )
        # Its default resource, n_samples, fits on rows in shuffled order.
        with pytest.raises(ValueError, match="not in time order"):
            search.fit(X, y)

    def test_halving_search_over_lstm_epochs_keeps_row_order(self, market_rows):
        X, y = market_rows
        X = X.set_axis(pd.bdate_range("2024-01-01", periods=len(X)))
        pipe = tiny_pipeline().set_params(
            ensemble__transformer="drop", ensemble__lightgbm="drop"
        )
        search = HalvingGridSearchCV(
            pipe,
            {"ensemble__xgboost__max_depth": [2, 3]},
            resource="ensemble__lstm__net__max_epochs",
            min_resources=1,
            max_resources=2,
            factor=2,
            cv=TimeSeriesSplit(2),
            error_score="raise",
            random_state=0,
        ).fit(X, y)  # the row order check passes in every fit
        assert search.n_resources_ == [1, 2]
        assert list(search.cv_results_["param_ensemble__lstm__net__max_epochs"]) == [
            1,
            1,
            2,
        ]
        assert search.best_params_["ensemble__lstm__net__max_epochs"] == 2
        lstm = search.best_estimator_[-1].named_estimators_["lstm"][-1]
        assert lstm.max_epochs == 2

    def test_optuna_search_cv(self, market_rows):
        optuna = pytest.importorskip("optuna")
        from optuna_integration import OptunaSearchCV

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        X, y = market_rows
        search = OptunaSearchCV(
            tiny_pipeline(),
            {
                "ensemble__xgboost__max_depth": optuna.distributions.IntDistribution(
                    2, 4
                )
            },
            cv=TimeSeriesSplit(3),
            n_trials=2,
            random_state=0,
        ).fit(X, y)
        assert len(search.trials_) == 2
        assert 2 <= search.best_params_["ensemble__xgboost__max_depth"] <= 4

    def test_numpy_input_and_int_labels(self, market_rows):
        X, y = market_rows
        y_int = pd.Series(y).map({"sell": -1, "hold": 0, "buy": 1}).to_numpy()
        pipe = tiny_pipeline().fit(X.to_numpy(), y_int)
        np.testing.assert_array_equal(pipe.classes_, [-1, 0, 1])
        assert set(pipe.predict(X.to_numpy())) <= {-1, 0, 1}


def scattered_nan(X, share, seed):
    rng = np.random.RandomState(seed)
    return X.mask(rng.rand(*X.shape) < share)


class TestMissingValues:
    def test_fits_and_predicts_with_nan_scattered_in_x(self, market_rows):
        X, y = market_rows
        X_train, X_test = (
            scattered_nan(X[:200], 0.05, 0),
            scattered_nan(X[200:], 0.1, 1),
        )
        pipe = tiny_pipeline().fit(X_train, y[:200])
        proba = pipe.predict_proba(X_test)
        assert proba.shape == (40, 3) and np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        lstm = pipe.named_steps["ensemble"].named_estimators_["lstm"][-1]
        assert lstm.missing_indicator_features_.tolist() == [0, 1, 2, 3]
        last = predict_proba_last(pipe, X_test.iloc[-10:])
        np.testing.assert_allclose(last, proba[-1], atol=1e-10)


def _spy_on_members(monkeypatch):
    """Record the sample_weight each member class's fit receives."""
    seen = {}
    for cls in (
        XGBoostClassifier,
        LightGBMClassifier,
        AttentionLSTMClassifier,
        TransformerClassifier,
    ):

        def fit(self, X, y, sample_weight=None, _fit=cls.fit):
            seen[type(self).__name__] = sample_weight
            return _fit(self, X, y, sample_weight=sample_weight)

        monkeypatch.setattr(cls, "fit", fit)
    return seen


class TestSampleWeight:
    def test_ensemble_sample_weight_reaches_every_member(
        self, market_rows, monkeypatch
    ):
        X, y = market_rows
        w = np.random.RandomState(0).rand(len(y))
        seen = _spy_on_members(monkeypatch)
        tiny_pipeline().fit(X, y, ensemble__sample_weight=w)
        assert len(seen) == 4
        for received in seen.values():
            np.testing.assert_array_equal(received, w)

    def test_metadata_routing_end_to_end(self, market_rows, monkeypatch):
        X, y = market_rows
        w = np.random.RandomState(0).rand(len(y))
        seen = _spy_on_members(monkeypatch)
        with sklearn.config_context(enable_metadata_routing=True):
            pipe = tiny_pipeline()
            ensemble = pipe.named_steps["ensemble"]
            ensemble.set_fit_request(sample_weight=True)
            with pytest.raises(UnsetMetadataPassedError, match="XGBoostClassifier"):
                pipe.fit(X, y, sample_weight=w)
            for name, member in ensemble.estimators:
                final = member[-1] if isinstance(member, Pipeline) else member
                final.set_fit_request(sample_weight=name != "lightgbm")
            pipe.fit(X, y, sample_weight=w)
        assert seen.pop("LightGBMClassifier") is None  # it declined
        assert len(seen) == 3
        for received in seen.values():
            np.testing.assert_array_equal(received, w)


class TestErrors:
    def test_member_failure_names_the_member(self, market_rows):
        X, y = market_rows
        pipe = tiny_pipeline().set_params(ensemble__lstm__net__num_heads=3)
        with pytest.raises(Exception, match="lstm") as info:
            pipe.fit(X, y)
        assert "num_heads=3 must divide" in str(info.value) + str(info.value.__cause__)

    def test_infinity_gets_a_clear_error(self, market_rows):
        X, y = market_rows
        X = X.copy()
        X.iloc[3, 0] = np.inf
        with pytest.raises(ValueError, match="contains infinity"):
            tiny_pipeline().fit(X, y)

    def test_feature_mismatch_at_predict(self, fitted, market_rows):
        X, _ = market_rows
        with pytest.raises(ValueError, match="feature"):
            fitted.predict(X.iloc[:, :3])


def test_pipeline_is_a_plain_sklearn_pipeline():
    assert type(make_ensemble_pipeline()) is Pipeline

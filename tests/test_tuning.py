"""Tests for sklensemble.tuning: search spaces, tune(), scale-out, MLflow."""

import itertools
import subprocess
import sys
import textwrap
import time
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    ShuffleSplit,
    TimeSeriesSplit,
    cross_val_score,
)
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

optuna = pytest.importorskip("optuna")
from optuna.distributions import (  # noqa: E402
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState  # noqa: E402

from sklensemble import (  # noqa: E402
    AttentionLSTMClassifier,
    SequenceWindower,
    SoftVotingEnsemble,
    TransformerClassifier,
    XGBoostClassifier,
    make_ensemble_pipeline,
)
from sklensemble.tuning import (  # noqa: E402
    TuningResult,
    _decode_step,
    decode_params,
    default_search_space,
    tune,
)

FAST = dict(show_progress_bar=False, random_state=0)


pytestmark = pytest.mark.usefixtures("seeded_one_thread")


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(240, 4))
    signal = X[:, 0] + 0.5 * rng.normal(size=240)
    y = np.where(signal > 0.4, 2, np.where(signal < -0.4, 0, 1))
    return X, y


def xgb(**params):
    return XGBoostClassifier(
        **{"n_estimators": 15, "n_jobs": 1, "random_state": 0, **params}
    )


def fast_pipeline(sequence_length=4):
    pipe = make_ensemble_pipeline(
        preset="fast", sequence_length=sequence_length, random_state=0, device="cpu"
    )
    return pipe.set_params(
        ensemble__lstm__net__max_epochs=1,
        ensemble__transformer__net__max_epochs=1,
        ensemble__xgboost__n_estimators=10,
        ensemble__lightgbm__n_estimators=10,
        # One thread each: OpenMP spin-waits on busy shared cores.
        ensemble__xgboost__n_jobs=1,
        ensemble__lightgbm__n_jobs=1,
        ensemble__importance=None,
    )


def values(result):
    return [(t.params, t.values, t.state) for t in result.study_.trials]


# -- search spaces ------------------------------------------------------------
class TestDefaultSearchSpace:
    def test_covers_every_member_with_valid_names(self):
        pipe = fast_pipeline()
        space = default_search_space(pipe)
        expected = {
            "ensemble__weights",
            "ensemble__xgboost__max_depth",
            "ensemble__xgboost__learning_rate",
            "ensemble__xgboost__n_estimators",
            "ensemble__xgboost__early_stopping_rounds",
            "ensemble__xgboost__subsample",
            "ensemble__xgboost__colsample_bytree",
            "ensemble__lightgbm__num_leaves",
            "ensemble__lightgbm__min_child_samples",
            "ensemble__lstm__window__sequence_length",
            "ensemble__lstm__net__hidden_size",
            "ensemble__lstm__net__num_layers",
            "ensemble__lstm__net__num_heads",
            "ensemble__lstm__net__dropout",
            "ensemble__lstm__net__lr",
            "ensemble__lstm__net__weight_decay",
            "ensemble__lstm__net__batch_size",
            "ensemble__transformer__window__sequence_length",
            "ensemble__transformer__net__d_model",
            "ensemble__transformer__net__num_layers",
            "ensemble__transformer__net__num_heads",
        }
        assert expected <= set(space)
        assert set(space) <= set(pipe.get_params())
        # Sizes are centred on the pipeline's own (the fast preset's 200 trees).
        assert space["ensemble__xgboost__n_estimators"].low == 10
        assert space["ensemble__lstm__window__sequence_length"].choices == (2, 4, 8)

    def test_dropped_and_absent_members_are_skipped(self):
        pipe = fast_pipeline().set_params(
            ensemble__lstm="drop", ensemble__transformer="drop"
        )
        space = default_search_space(pipe)
        assert not [k for k in space if "lstm" in k or "transformer" in k]
        # Weights still tuned for the two trees; the dropped slots get 0.
        tuples = [c for c in space["ensemble__weights"].choices if isinstance(c, tuple)]
        assert tuples == [(2, 1, 0, 0), (1, 2, 0, 0)]
        pipe.set_params(ensemble__lightgbm="drop")
        assert "ensemble__weights" not in default_search_space(pipe)
        bare = default_search_space(make_pipeline(StandardScaler(), xgb()))
        assert "xgboostclassifier__max_depth" in bare

    @pytest.mark.parametrize("preset", ["fast", "default"])
    def test_every_sampled_combination_is_valid(self, preset):
        pipe = make_ensemble_pipeline(preset=preset, sequence_length=30)
        space = default_search_space(pipe)
        net = "ensemble__{}__net__{}".format
        d_models = space[net("transformer", "d_model")].choices
        heads = space[net("transformer", "num_heads")].choices
        for d_model, h in itertools.product(d_models, heads):
            TransformerClassifier(d_model=d_model, num_heads=h)._check_architecture()
        hidden = space[net("lstm", "hidden_size")].choices
        heads = space[net("lstm", "num_heads")].choices
        for size, h in itertools.product(hidden, heads):
            AttentionLSTMClassifier(hidden_size=size, num_heads=h)._check_architecture()
        assert len(heads) >= 3  # the constraint does not collapse the choice
        for weights in space["ensemble__weights"].choices:
            assert weights in (None, "auto") or (len(weights) == 4 and min(weights) > 0)

    def test_nothing_to_tune_raises(self):
        with pytest.raises(ValueError, match="no sklensemble member to tune"):
            default_search_space(LogisticRegression())

    @pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
    @pytest.mark.filterwarnings("ignore:.*optuna.terminator:FutureWarning")
    def test_works_unchanged_in_optuna_search_cv(self, data):
        from optuna_integration import OptunaSearchCV

        X, y = data
        X, y = X[:180], y[:180]
        pipe = fast_pipeline()
        space = default_search_space(pipe)
        search = OptunaSearchCV(
            pipe,
            space,
            cv=TimeSeriesSplit(3),
            n_trials=1,
            refit=False,
            scoring="balanced_accuracy",
            random_state=0,
            error_score="raise",
        )
        search.fit(X, y)
        assert set(search.best_params_) == set(space)
        assert 0.0 <= search.best_score_ <= 1.0


# -- tune: one objective ------------------------------------------------------
class TestTune:
    def test_result(self, data):
        X, y = data
        space = {
            "max_depth": IntDistribution(1, 6),
            "learning_rate": FloatDistribution(0.05, 0.5, log=True),
        }
        result = tune(
            xgb(), X, y, cv=TimeSeriesSplit(3), search_space=space, n_trials=4, **FAST
        )
        assert isinstance(result, TuningResult)
        trials = result.study_.trials
        assert len(trials) == 4
        best = max(t.value for t in trials if t.state == TrialState.COMPLETE)
        assert result.best_score_ == best
        assert set(result.best_params_) == set(space)
        assert result.pareto_front_ == [result.best_trial_]
        # Fold scores are kept per trial.
        fold_scores = trials[0].user_attrs["fold_scores"]
        assert len(fold_scores["balanced_accuracy"]) == 3
        assert len(fold_scores["fit_time"]) == 3
        assert result.best_estimator_.predict(X[:5]).shape == (5,)
        assert result.best_estimator_.max_depth == result.best_params_["max_depth"]
        df = result.trials_dataframe()
        assert len(df) == 4 and "value_balanced_accuracy" in df

    def test_same_random_state_gives_same_trials(self, data, capsys):
        X, y = data
        space = {"max_depth": IntDistribution(1, 8)}
        kwargs = dict(
            cv=TimeSeriesSplit(2), search_space=space, n_trials=4, refit=False, **FAST
        )
        first = tune(xgb(), X, y, **kwargs)
        capsys.readouterr()
        second = tune(xgb(), X, y, **{**kwargs, "show_progress_bar": True})
        assert values(first) == values(second)
        assert "4/4" in capsys.readouterr().err  # the progress bar

    def test_weight_tuples_round_trip_through_a_database(self, data, tmp_path):
        X, y = data
        pipe = fast_pipeline().set_params(
            ensemble__lstm="drop", ensemble__transformer="drop"
        )
        weights = default_search_space(pipe)["ensemble__weights"]
        result = tune(
            pipe,
            X[:150],
            y[:150],
            cv=TimeSeriesSplit(2),
            search_space={"ensemble__weights": weights},
            n_trials=3,
            storage=f"sqlite:///{tmp_path / 'w.db'}",
            **FAST,
        )
        chosen = result.best_params_["ensemble__weights"]
        assert chosen in weights.choices
        assert result.best_estimator_[-1].weights == chosen

    def test_a_stored_study_read_by_plain_optuna_gives_working_params(
        self, data, tmp_path
    ):
        X, y = data
        X, y = X[:150], y[:150]
        pipe = fast_pipeline().set_params(
            ensemble__lstm="drop", ensemble__transformer="drop"
        )
        url = f"sqlite:///{tmp_path / 'study.db'}"
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the default space warns nothing
            result = tune(
                pipe,
                X,
                y,
                cv=TimeSeriesSplit(2),
                search_space=default_search_space(pipe),
                n_trials=4,
                storage=url,
                study_name="plain",
                refit=False,
                **FAST,
            )
        study = optuna.load_study(study_name="plain", storage=url)
        stored = [t.params["ensemble__weights"] for t in study.trials]
        assert "(2, 1, 0, 0)" in stored or "(1, 2, 0, 0)" in stored
        assert decode_params(study.best_params) == result.best_params_
        for trial in study.trials:
            params = decode_params(trial.params)
            assert params["ensemble__weights"] in (
                None,
                "auto",
                (2, 1, 0, 0),
                (1, 2, 0, 0),
            )
        best = clone(pipe).set_params(**decode_params(study.best_params))
        assert best.fit(X, y).predict(X).shape == (150,)

    def test_decode_params_leaves_other_values_alone(self):
        params = {
            "a": "(1,2)",  # not an exact repr: a string choice
            "b": "{1, 2}",  # a set: not a choice tune encodes
            "c": "(1, 2",
            "d": "[0.5, 'x']",
            "e": 3,
            "f": "",
        }
        decoded = decode_params(params)
        assert decoded == {**params, "d": [0.5, "x"]}
        assert params["d"] == "[0.5, 'x']"  # a new dict

    def test_pruning_stops_trials_in_a_bad_region(self, data):
        X, y = data
        # learning_rate=1e-6 learns nothing: balanced accuracy 1/3.
        space = {"learning_rate": CategoricalDistribution([1e-6, 0.3])}
        result = tune(
            xgb(),
            X,
            y,
            cv=TimeSeriesSplit(4),
            search_space=space,
            n_trials=10,
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3),
            **FAST,
        )
        pruned = [t for t in result.study_.trials if t.state == TrialState.PRUNED]
        assert pruned
        assert all(t.params["learning_rate"] == 1e-6 for t in pruned)
        assert all(len(t.user_attrs["fold_scores"]["fit_time"]) < 4 for t in pruned)
        assert result.best_params_ == {"learning_rate": 0.3}

    def test_networks_are_pruned_mid_fit(self, data):
        X, y = data
        net = AttentionLSTMClassifier(
            hidden_size=4,
            num_layers=1,
            num_heads=1,
            max_epochs=4,
            patience=10,
            batch_size=32,
            validation_fraction=0.25,
            device="cpu",
            random_state=0,
        )
        pipe = Pipeline([("window", SequenceWindower(3)), ("net", net)])
        result = tune(
            pipe,
            X[:180],
            (X[:180, 0] > 0).astype(int),
            cv=TimeSeriesSplit(2),
            search_space={"net__lr": CategoricalDistribution([1e-6, 3e-2])},
            n_trials=5,
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
            refit=False,
            **FAST,
        )
        trials = result.study_.trials
        pruned = [t for t in trials if t.state == TrialState.PRUNED]
        assert pruned and all(t.params["net__lr"] == 1e-6 for t in pruned)
        for trial in pruned:  # stopped inside the first fit: no fold score yet
            series = {_decode_step(step)[0] for step in trial.intermediate_values}
            assert series == {(0, 0)}
            assert "fold_scores" not in trial.user_attrs
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        # A complete trial reports 4 epochs per fold and one score per fold.
        assert len(complete[0].intermediate_values) == 2 * 4 + 2
        # The pruning hook never reaches the user's estimator.
        assert pipe.get_params()["net__callbacks"] is None

    def test_a_network_dropped_by_the_search_gets_no_hook(self, data):
        X, y = data
        net = AttentionLSTMClassifier(hidden_size=4, num_layers=1, num_heads=1)
        ensemble = SoftVotingEnsemble(
            [("xgb", xgb()), ("lstm", make_pipeline(SequenceWindower(3), net))]
        )
        space = {"lstm": CategoricalDistribution(["drop"])}
        result = tune(
            ensemble,
            X,
            y,
            cv=TimeSeriesSplit(2),
            search_space=space,
            n_trials=1,
            **FAST,
        )
        assert result.best_estimator_.named_estimators_["lstm"] == "drop"

    def test_failed_trials_are_recorded_and_the_search_goes_on(self, data):
        X, y = data
        space = {"max_depth": CategoricalDistribution([3, -1])}
        result = tune(
            xgb(), X, y, cv=TimeSeriesSplit(2), search_space=space, n_trials=6, **FAST
        )
        failed = [t for t in result.study_.trials if t.state == TrialState.FAIL]
        assert failed and len(failed) < 6
        for trial in failed:
            assert trial.params["max_depth"] == -1
            assert "InvalidParameterError" in trial.user_attrs["error"]
            assert "'max_depth' parameter" in trial.user_attrs["error"]
        assert result.best_params_ == {"max_depth": 3}

    def test_all_trials_failing_raises(self, data):
        X, y = data
        space = {"max_depth": CategoricalDistribution([-1])}
        with pytest.raises(
            ValueError, match=r"No trial completed: 2 failed.*max_depth"
        ):
            tune(
                xgb(),
                X,
                y,
                cv=TimeSeriesSplit(2),
                search_space=space,
                n_trials=2,
                **FAST,
            )

    def test_timeout_stops_new_trials_and_lets_the_running_one_finish(self, data):
        X, y = data
        timeout = 0.5
        seen = []

        def first_trial_outlasts_the_deadline(study, trial):
            seen.append((trial.number, trial.state))
            if trial.number == 0:
                time.sleep(timeout)
            if len(seen) == 3:  # the timeout was lost: fail, do not run forever
                study.stop()

        result = tune(
            xgb(),
            X,
            y,
            cv=TimeSeriesSplit(2),
            search_space={"max_depth": IntDistribution(1, 8)},
            n_trials=None,
            timeout=timeout,
            callbacks=[first_trial_outlasts_the_deadline],
            refit=False,
            **FAST,
        )
        # The trial running at the deadline completed; none started after it.
        assert seen == [(0, TrialState.COMPLETE)]
        assert [t.state for t in result.study_.trials] == [TrialState.COMPLETE]
        assert result.best_trial_.number == 0
        assert len(result.best_trial_.user_attrs["fold_scores"]["fit_time"]) == 2

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            (dict(cv=KFold(3, shuffle=True, random_state=0)), "shuffles rows"),
            (dict(cv=ShuffleSplit(3, random_state=0)), "out of time order"),
            (dict(search_space={"max_dept": IntDistribution(1, 3)}), "max_depth"),
            (dict(search_space={"max_depth": [1, 2]}), "must be an optuna distri"),
            (dict(search_space={}), "non-empty dict"),
            (dict(objectives=("accuracy_of_doom",)), "Unknown objective"),
            (dict(objectives=()), "non-empty tuple"),
            (dict(n_trials=-1), "n_trials must be an integer >= 0"),
            (dict(n_trials=None), "Give n_trials, timeout or both"),
            (dict(n_jobs=0), "n_jobs must be a non-zero integer"),
            (
                dict(
                    objectives=("balanced_accuracy", "fit_time"),
                    pruner=optuna.pruners.MedianPruner(),
                ),
                "not available in multi-objective",
            ),
        ],
    )
    def test_bad_input_raises(self, data, kwargs, match):
        X, y = data
        args = dict(
            cv=TimeSeriesSplit(2),
            search_space={"max_depth": IntDistribution(1, 3)},
            **FAST,
        )
        with pytest.raises(ValueError, match=match):
            tune(xgb(), X, y, **{**args, **kwargs})

    def test_loaded_study_with_other_directions_raises(self, data, tmp_path):
        X, y = data
        url = f"sqlite:///{tmp_path / 'd.db'}"
        optuna.create_study(storage=url, study_name="s", direction="minimize")
        with pytest.raises(ValueError, match=r"directions \['minimize'\]"):
            tune(
                xgb(),
                X,
                y,
                cv=TimeSeriesSplit(2),
                n_trials=1,
                storage=url,
                study_name="s",
                **FAST,
            )

    def test_look_ahead_folds_warn(self, data):
        X, y = data
        space = {"max_depth": IntDistribution(1, 3)}
        with pytest.warns(UserWarning, match="look-ahead"):
            tune(xgb(), X, y, cv=KFold(2), search_space=space, n_trials=1, **FAST)


# -- tune: several objectives -------------------------------------------------
def dominates(a, b, directions):
    sign = [1 if d == "maximize" else -1 for d in directions]
    better_or_equal = all(s * x >= s * z for s, x, z in zip(sign, a, b, strict=True))
    return better_or_equal and any(
        s * x > s * z for s, x, z in zip(sign, a, b, strict=True)
    )


@pytest.fixture(scope="module")
def pareto(data):
    X, y = data
    space = {
        "n_estimators": IntDistribution(2, 200, log=True),
        "max_depth": IntDistribution(1, 6),
    }
    return tune(
        xgb(early_stopping_rounds=200),
        X,
        y,
        cv=TimeSeriesSplit(2),
        search_space=space,
        n_trials=10,
        objectives=("balanced_accuracy", "fit_time"),
        **FAST,
    )


class TestMultiObjective:
    def test_pareto_front_is_non_dominated(self, pareto):
        result = pareto
        assert result.directions_ == ["maximize", "minimize"]
        front = result.pareto_front_
        complete = [t for t in result.study_.trials if t.state == TrialState.COMPLETE]
        assert len(complete) == 10  # nothing pruned with several objectives
        for a, b in itertools.permutations(front, 2):
            assert not dominates(a.values, b.values, result.directions_)
        for trial in complete:
            if trial not in front:
                assert any(
                    dominates(f.values, trial.values, result.directions_) for f in front
                )
        assert result.best_trial_ in front
        assert result.best_score_ == max(t.values[0] for t in front)
        assert set(result.best_values_) == {"balanced_accuracy", "fit_time"}

    def test_select(self, pareto):
        result = pareto
        front = result.pareto_front_
        bound = float(np.median([t.values[1] for t in front]))
        fast = result.select(max_fit_time=bound)
        assert fast in front and fast.values[1] <= bound
        assert result.select(rule="knee") in front
        model = result.make_estimator(fast)
        assert model.n_estimators == fast.params["n_estimators"]
        with pytest.raises(ValueError, match="No Pareto trial meets"):
            result.select(max_fit_time=-1.0)
        with pytest.raises(ValueError, match="Unknown bound 'max_speed'"):
            result.select(max_speed=1.0)
        with pytest.raises(ValueError, match="rule must be"):
            result.select(rule="best")

    def test_plots_are_written(self, pareto, tmp_path):
        result = pareto
        pytest.importorskip("matplotlib")
        import matplotlib.pyplot as plt

        for kind in ("history", "importances", "pareto"):
            path = tmp_path / f"{kind}.png"
            result.plot(kind, path=path)
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        plt.close("all")
        with pytest.raises(ValueError, match="kind must be"):
            result.plot("contour")

    # XGBoost's float32 probabilities miss 1 by ~1e-7, which log_loss notes.
    @pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")
    def test_losses_are_minimised(self, data):
        X, y = data
        result = tune(
            xgb(),
            X,
            y,
            cv=TimeSeriesSplit(2),
            search_space={"max_depth": IntDistribution(1, 3)},
            n_trials=2,
            objectives=("log_loss", "predict_time"),
            refit=False,
            **FAST,
        )
        assert result.directions_ == ["minimize", "minimize"]
        assert all(t.values[0] > 0 for t in result.pareto_front_)


# -- scale-out ----------------------------------------------------------------
WORKER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import optuna
    from optuna.distributions import IntDistribution
    from sklearn.model_selection import TimeSeriesSplit
    from sklensemble import XGBoostClassifier
    from sklensemble.tuning import tune

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rng = np.random.RandomState(0)
    X = rng.normal(size=(150, 4))
    y = (X[:, 0] > 0).astype(int)
    tune(
        XGBoostClassifier(n_estimators=10, n_jobs=1, random_state=0), X, y,
        cv=TimeSeriesSplit(2), search_space={"max_depth": IntDistribution(1, 8)},
        n_trials=3,
        storage=sys.argv[1], study_name="shared", random_state=int(sys.argv[2]),
        refit=False, show_progress_bar=False,
    )
    """
)


class TestScaleOut:
    @pytest.mark.slow
    def test_two_processes_share_one_study(self, tmp_path):
        url = f"sqlite:///{tmp_path / 'study.db'}"
        script = tmp_path / "worker.py"
        script.write_text(WORKER)
        workers = [
            subprocess.Popen([sys.executable, str(script), url, str(seed)])
            for seed in (1, 2)
        ]
        assert [w.wait(timeout=240) for w in workers] == [0, 0]
        study = optuna.load_study(study_name="shared", storage=url)
        trials = study.get_trials()
        assert sorted(t.number for t in trials) == list(range(6))
        assert len({t._trial_id for t in trials}) == 6
        assert all(t.state == TrialState.COMPLETE for t in trials)
        # n_trials=0 only collects the shared study's result.
        rng = np.random.RandomState(0)
        X = rng.normal(size=(150, 4))
        y = (X[:, 0] > 0).astype(int)
        space = {"max_depth": IntDistribution(1, 8)}
        result = tune(
            xgb(n_estimators=10),
            X,
            y,
            cv=TimeSeriesSplit(2),
            search_space=space,
            n_trials=0,
            storage=url,
            study_name="shared",
            show_progress_bar=False,
        )
        assert len(result.study_.trials) == 6
        assert result.best_score_ == max(t.value for t in trials)
        assert result.best_estimator_.max_depth == result.best_params_["max_depth"]

    def test_dask_cluster(self, data):
        distributed = pytest.importorskip("dask.distributed")
        X, y = data
        X, y = X[:180], y[:180]
        pipe = fast_pipeline()
        cv = TimeSeriesSplit(3)
        local = cross_val_score(pipe, X, y, cv=cv, scoring="balanced_accuracy")
        grid = GridSearchCV(xgb(), {"max_depth": [1, 4]}, cv=cv)
        local_grid = grid.fit(X, y).cv_results_["mean_test_score"]
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster),
            joblib.parallel_backend("dask"),
        ):
            remote = cross_val_score(
                pipe, X, y, cv=cv, scoring="balanced_accuracy", n_jobs=2
            )
            grid = GridSearchCV(xgb(), {"max_depth": [1, 4]}, cv=cv, n_jobs=2)
            remote_grid = grid.fit(X, y).cv_results_["mean_test_score"]
            result = tune(
                xgb(),
                X,
                y,
                cv=TimeSeriesSplit(2),
                search_space={"max_depth": IntDistribution(1, 8)},
                n_trials=4,
                n_jobs=2,
                **FAST,
            )
        np.testing.assert_allclose(remote, local)
        np.testing.assert_allclose(remote_grid, local_grid)
        trials = result.study_.trials  # copied out of the scheduler
        assert sorted(t.number for t in trials) == [0, 1, 2, 3]
        assert all(t.state == TrialState.COMPLETE for t in trials)

    def test_workers_join_the_study_through_the_storage_given(self, tmp_path):
        # The path of process and Dask workers, run in threads to stay cheap:
        # each worker loads the study by name from the storage it is handed.
        from sklensemble.tuning._execution import _optimize

        url = f"sqlite:///{tmp_path / 'workers.db'}"
        study = optuna.create_study(study_name="workers", storage=url)
        _optimize(
            study,
            lambda trial: trial.suggest_float("x", 0.0, 1.0),
            storage=url,
            mode="processes",
            n_trials=5,
            timeout=None,
            n_jobs=2,
            callbacks=None,
            progress=False,
        )
        stored = optuna.load_study(study_name="workers", storage=url).trials
        assert sorted(t.number for t in stored) == [0, 1, 2, 3, 4]
        assert all(t.state == TrialState.COMPLETE for t in stored)

    def test_process_backend_without_shared_storage_raises(self, data):
        X, y = data
        with (
            joblib.parallel_backend("loky"),
            pytest.raises(ValueError, match="storage all processes share"),
        ):
            tune(
                xgb(),
                X,
                y,
                cv=TimeSeriesSplit(2),
                search_space={"max_depth": IntDistribution(1, 3)},
                n_jobs=2,
                **FAST,
            )


# -- MLflow -------------------------------------------------------------------
class TestMlflow:
    def test_trials_fit_without_ensemble_details_and_the_setting_comes_back(self, data):
        from sklensemble import tracking

        X, y = data
        during = []

        def record(study, trial):
            during.append(tracking._OPTIONS["log_ensemble_details"])
            if trial.number == 1:
                raise RuntimeError("callback failed")

        with pytest.raises(RuntimeError, match="callback failed"):
            tune(
                xgb(),
                X,
                y,
                cv=TimeSeriesSplit(2),
                search_space={"max_depth": IntDistribution(1, 3)},
                n_trials=3,
                callbacks=[record],
                **FAST,
            )
        assert during == [False, False]
        assert tracking._OPTIONS["log_ensemble_details"] is True

    def test_parent_and_child_runs(self, data, tmp_path):
        mlflow = pytest.importorskip("mlflow")
        X, y = data
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
        try:
            mlflow.sklearn.autolog()  # the trap of mlflow #7947 must not fire
            ensemble = SoftVotingEnsemble([("a", xgb()), ("b", xgb(max_depth=2))])
            pipe = make_pipeline(StandardScaler(), ensemble)
            key = "softvotingensemble__a__max_depth"
            space = {key: CategoricalDistribution([2, -1])}
            tune(
                pipe,
                X,
                y,
                cv=TimeSeriesSplit(2),
                search_space=space,
                n_trials=4,
                mlflow=True,
                study_name="mlflow-study",
                **FAST,
            )
            mlflow.sklearn.autolog(disable=True)
            runs = mlflow.search_runs(search_all_experiments=True)
            parent = runs[runs["tags.mlflow.runName"] == "mlflow-study"]
            children = runs[runs["tags.mlflow.parentRunId"].notna()]
            assert len(runs) == 5 and len(parent) == 1 and len(children) == 4
            parent_id = parent["run_id"].iloc[0]
            assert (children["tags.mlflow.parentRunId"] == parent_id).all()
            states = dict(
                zip(
                    children[f"params.{key}"],
                    children["tags.optuna.state"],
                    strict=True,
                )
            )
            assert states == {"2": "complete", "-1": "fail"}
            done = children[children["tags.optuna.state"] == "complete"]
            assert done["metrics.balanced_accuracy"].between(0, 1).all()
            assert parent[f"params.{key}"].iloc[0] == "2"
            # Only the refit logs the ensemble's details: no trial piles its
            # folds' details into the parent run.
            history = mlflow.MlflowClient().get_metric_history(
                parent_id, "member.a.fit_time_s"
            )
            assert len(history) == 1
            models = mlflow.search_logged_models(
                experiment_ids=[parent["experiment_id"].iloc[0]], output_format="list"
            )
            assert [m.source_run_id for m in models] == [parent_id]
        finally:
            mlflow.sklearn.autolog(disable=True)
            mlflow.set_tracking_uri(previous)

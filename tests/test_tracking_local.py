"""MLflow tracking against a local sqlite store: runs, served probabilities.

No tracking server: each test gets its own store in ``tmp_path``.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

pytest.importorskip("mlflow")
pytest.importorskip("skops")
pytest.importorskip("safetensors")

import mlflow  # noqa: E402
import mlflow.models  # noqa: E402
import mlflow.sklearn  # noqa: E402
from _mlflow_helpers import restored_mlflow_state  # noqa: E402

from sklensemble import (  # noqa: E402
    AttentionLSTMClassifier,
    LightGBMClassifier,
    SequenceWindower,
    SoftVotingEnsemble,
    tracking,
)
from sklensemble.tracking import (  # noqa: E402
    _mlflow_private,
    autologging,
    reproducibility,
)


def sequence_member(seed):
    net = AttentionLSTMClassifier(
        hidden_size=4,
        num_layers=1,
        num_heads=1,
        max_epochs=1,
        device="cpu",
        random_state=seed,
    )
    return Pipeline([("window", SequenceWindower(3)), ("net", net)])


def tiny_ensemble():
    """Two sequence members (Pipelines, which MLflow patches) and a booster."""
    return SoftVotingEnsemble(
        [
            ("lstm_a", sequence_member(0)),
            ("lstm_b", sequence_member(1)),
            ("lgbm", LightGBMClassifier(n_estimators=5, n_jobs=1, random_state=0)),
        ],
        random_state=0,
    )


@pytest.fixture(scope="module")
def rows():
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["ret", "vol", "rsi"])
    y = np.where(X["ret"] > 0.4, "buy", np.where(X["ret"] < -0.4, "sell", "hold"))
    return X, y


@pytest.fixture
def store(tmp_path):
    """A fresh sqlite store and experiment; MLflow's state restored after."""
    with restored_mlflow_state(), pytest.MonkeyPatch.context() as mp:
        # Requirement inference loads each logged model in a subprocess:
        # MLflow's feature, not under test, and seconds on a busy machine.
        mp.setattr(
            mlflow.models,
            "infer_pip_requirements",
            lambda *args, fallback=None, **kwargs: fallback,
        )
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
        experiment = mlflow.create_experiment(
            "local", artifact_location=str(tmp_path / "artifacts")
        )
        mlflow.set_experiment(experiment_id=experiment)
        try:
            yield experiment
        finally:
            mlflow.sklearn.autolog(disable=True)


def run_names(experiment):
    runs = mlflow.search_runs([experiment], output_format="list")
    return sorted(run.data.tags.get("estimator_name", "?") for run in runs)


# -- no stray runs -------------------------------------------------------------
def test_plain_autolog_skips_a_bare_ensemble_and_its_members(store, rows):
    """MLflow's own autologging does not patch the ensemble: its fit, members
    included, creates no run (the sequence members are Pipelines, which
    MLflow does patch)."""
    X, y = rows
    mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
    model = tiny_ensemble().fit(X, y)
    assert run_names(store) == []
    assert mlflow.active_run() is None
    # The members' Pipelines, fitted on their own, are still logged.
    sequence_member(0).fit(X, y)
    assert run_names(store) == ["Pipeline"]
    assert model.predict(X).shape == (60,)


def test_plain_autolog_in_a_manual_run_logs_no_member_params(store, rows):
    X, y = rows
    mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
    with mlflow.start_run() as run:
        tiny_ensemble().fit(X, y)
    data = mlflow.get_run(run.info.run_id).data
    assert not any(key.startswith(("window", "net")) for key in data.params)
    assert data.metrics["member.lstm_a.weight"] == pytest.approx(1 / 3)
    assert run_names(store) == ["?"]


def test_sklensemble_autolog_gives_a_bare_ensemble_one_run(store, rows):
    X, y = rows
    tracking.autolog(
        log_models=False, log_datasets=False, silent=True, log_importances=False
    )
    tiny_ensemble().fit(X, y)
    assert run_names(store) == ["SoftVotingEnsemble"]


# -- served probabilities --------------------------------------------------------
PROBA_COLUMNS = ["proba_buy", "proba_hold", "proba_sell"]


@pytest.fixture(scope="module")
def fitted(rows):
    X, y = rows
    return tiny_ensemble().fit(X, y)


def test_served_model_answers_with_the_method_a_request_asks_for(
    tmp_path, fitted, rows
):
    X, _ = rows
    path = tmp_path / "model"
    tracking.save_model(
        fitted, path, input_example=X.iloc[:5], predict_method="predict_proba"
    )
    served = mlflow.pyfunc.load_model(str(path))
    signature = served.metadata.signature
    assert signature.inputs.input_names() == ["ret", "vol", "rsi"]
    assert signature.outputs.input_names() == PROBA_COLUMNS
    (spec,) = signature.params.params
    assert (spec.name, spec.default) == ("predict_method", "predict_proba")

    proba = served.predict(X)  # the default chosen at log time
    assert list(proba.columns) == PROBA_COLUMNS
    np.testing.assert_allclose(proba.to_numpy(), fitted.predict_proba(X))
    labels = served.predict(X, params={"predict_method": "predict"})
    assert list(labels) == fitted.predict(X).tolist()
    last = served.predict(X.iloc[-5:], params={"predict_method": "predict_proba_last"})
    assert list(last.columns) == PROBA_COLUMNS
    assert last.shape == (1, 3)
    np.testing.assert_allclose(
        last.to_numpy()[0], fitted.predict_proba(X.iloc[-5:])[-1], atol=1e-6
    )
    with pytest.raises(mlflow.exceptions.MlflowException, match="must be one of"):
        served.predict(X, params={"predict_method": "decision_function"})


def test_served_model_defaults_to_labels_and_declares_the_param(tmp_path, fitted, rows):
    """Without an input example there is no input schema, yet the param is
    declared, so that a request can still ask for probabilities."""
    X, _ = rows
    tracking.save_model(fitted, tmp_path / "model")
    served = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    assert served.metadata.signature.params.params[0].default == "predict"
    assert list(served.predict(X.iloc[:7])) == fitted.predict(X.iloc[:7]).tolist()
    proba = served.predict(X.iloc[:7], params={"predict_method": "predict_proba"})
    assert list(proba.columns) == PROBA_COLUMNS


def test_predict_method_is_checked_at_log_time(fitted):
    with pytest.raises(ValueError, match="predict_method must be one of"):
        tracking.save_model(fitted, "unused", predict_method="proba")
    with pytest.raises(ValueError, match="format='safe' only"):
        tracking.log_model(fitted, predict_method="predict_proba")


# -- tracking that costs little --------------------------------------------------
def logged_files(run_id):
    client = mlflow.MlflowClient()
    return sorted(f.path for f in client.list_artifacts(run_id, "sklensemble"))


def test_costly_details_are_opt_in(store, rows, monkeypatch):
    """By default no permutation importance is measured (the table holds
    the booster's own); log_importances=True measures the networks', and
    log_plots=False renders nothing."""
    X, y = rows
    measured = []
    permuted = SoftVotingEnsemble._permuted
    monkeypatch.setattr(
        SoftVotingEnsemble,
        "_permuted",
        lambda self, *args: measured.append(1) or permuted(self, *args),
    )
    tracking.autolog(log_models=False, log_datasets=False, silent=True)
    tiny_ensemble().fit(X, y)
    run_id = mlflow.last_active_run().info.run_id
    assert measured == []
    assert logged_files(run_id) == [
        "sklensemble/confusion_matrix_val.png",
        "sklensemble/feature_importance.csv",
        "sklensemble/feature_importance.png",
    ]
    table = pd.read_csv(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="sklensemble/feature_importance.csv"
        ),
        index_col=0,
    )
    assert list(table.columns) == ["lstm_a", "lstm_b", "lgbm"]
    assert table["lgbm"].notna().all() and table["lstm_a"].isna().all()

    tracking.autolog(
        log_models=False,
        log_datasets=False,
        silent=True,
        log_importances=True,
        log_plots=False,
    )
    tiny_ensemble().fit(X, y)
    run_id = mlflow.last_active_run().info.run_id
    assert measured == [1]
    assert logged_files(run_id) == ["sklensemble/feature_importance.csv"]
    table = pd.read_csv(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="sklensemble/feature_importance.csv"
        ),
        index_col=0,
    )
    assert list(table.columns) == ["lstm_a", "lstm_b", "lgbm", "ensemble"]
    assert table.notna().all().all()


def test_git_state_is_read_once_per_directory(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(reproducibility, "_GIT_STATES", {})
    monkeypatch.setattr(
        reproducibility, "_read_git_state", lambda: calls.append(1) or ("abc", False)
    )
    monkeypatch.chdir(tmp_path)
    assert reproducibility._git_state() == reproducibility._git_state()
    assert reproducibility._git_state() == ("abc", False)
    assert calls == [1]


# -- MLflow's private names, read in one module ----------------------------------
def test_mlflow_private_routes_still_exist(store):
    """What sklensemble reads of MLflow's private names is still there, and
    means what it meant: an MLflow release that changes it fails here."""
    session = _mlflow_private._training_session()
    assert session is not None
    assert session._session_stack == []
    with session(object(), allow_children=False) as outer:
        assert session._session_stack == [outer]
        with session(object()) as inner:
            assert not inner.should_log()  # children of outer are not logged
    assert session._session_stack == []

    mlflow.sklearn.autolog(disable=True)
    assert _mlflow_private._sklearn_autolog_disabled()
    tags = {"team": "a"}
    mlflow.sklearn.autolog(extra_tags=tags, log_models=False)
    assert not _mlflow_private._sklearn_autolog_disabled()
    assert _mlflow_private._sklearn_autolog_config("extra_tags") is tags
    assert _mlflow_private._sklearn_autolog_config("log_models") is False


def test_autolog_follows_mlflow_reconfiguration(store, rows):
    """Our bare-estimator runs stop when MLflow's autologging is turned off or
    reconfigured by MLflow's own call."""
    tracking.autolog(log_models=False, log_datasets=False, silent=True)
    assert autologging._autolog_in_force()
    mlflow.sklearn.autolog(log_models=False, silent=True)
    assert not autologging._autolog_in_force()
    tracking.autolog(log_models=False, log_datasets=False, silent=True)
    mlflow.sklearn.autolog(disable=True)
    assert not autologging._autolog_in_force()


def test_autologged_bare_fit_logs_through_public_calls(store, rows):
    """A bare ensemble's run: its parameters, MLflow's training metrics, the
    model with its input example and signature, and the ensemble's details."""
    X, y = rows
    tracking.autolog(log_datasets=False, silent=True)
    model = tiny_ensemble().fit(X, y)
    run = mlflow.last_active_run()
    assert run.info.status == "FINISHED"
    data = mlflow.get_run(run.info.run_id).data
    assert data.params["lstm_a__net__hidden_size"] == "4"
    assert data.tags["estimator_class"] == "sklensemble._ensemble.SoftVotingEnsemble"
    proba = model.predict_proba(X)
    labels = model.classes_[proba.argmax(1)]
    assert data.metrics["training_accuracy_score"] == pytest.approx(
        np.mean(labels == y)
    )
    assert data.metrics["training_score"] == pytest.approx(model.score(X, y))
    assert "member.lgbm.val_log_loss" in data.metrics
    info = mlflow.models.get_model_info(f"runs:/{run.info.run_id}/model")
    assert info.signature.inputs.input_names() == ["ret", "vol", "rsi"]
    assert info.saved_input_example_info is not None
    loaded = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    assert len(mlflow.search_runs([store], output_format="list")) == 1

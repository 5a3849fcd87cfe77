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

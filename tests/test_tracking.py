"""MLflow tracking against a real ``mlflow server`` (sqlite, temporary artifacts).

One server per module, on 127.0.0.1 and a free port, stopped at the end.
Runs are read back over the server's REST API.
"""

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
import uuid
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit
from sklearn.pipeline import Pipeline

# A real MLflow server for the module: seconds to start.
pytestmark = pytest.mark.slow

pytest.importorskip("mlflow")
pytest.importorskip("skops")
pytest.importorskip("safetensors")
pytest.importorskip("matplotlib")

import mlflow.models  # noqa: E402
import mlflow.sklearn  # noqa: E402
from _mlflow_helpers import (  # noqa: E402
    free_port,
    restored_mlflow_state,
    stop,
    wait_until_up,
)
from _tiny import TINY  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402

from sklensemble import (  # noqa: E402
    AttentionLSTMClassifier,
    LightGBMClassifier,
    SequenceWindower,
    SoftVotingEnsemble,
    XGBoostClassifier,
    make_ensemble_pipeline,
    tracking,
)
from sklensemble.tracking import (  # noqa: E402
    TrackingWarning,
    autologging,
    data_digest,
    details,
    http,
)

MEMBERS = ["xgboost", "lightgbm", "lstm", "transformer"]


def tiny_pipeline(**kwargs):
    return make_ensemble_pipeline(
        preset="fast", sequence_length=5, device="cpu", random_state=0, **kwargs
    ).set_params(**TINY)


def small_ensemble(callbacks=None, with_network=True):
    members = [
        ("xgboost", XGBoostClassifier(n_estimators=15, n_jobs=1, random_state=0)),
        ("lightgbm", LightGBMClassifier(n_estimators=15, n_jobs=1, random_state=0)),
    ]
    if with_network:
        net = AttentionLSTMClassifier(
            hidden_size=8,
            num_layers=1,
            num_heads=2,
            max_epochs=3,
            device="cpu",
            random_state=0,
            callbacks=callbacks,
        )
        members.append(
            ("lstm", Pipeline([("window", SequenceWindower(5)), ("net", net)]))
        )
    return SoftVotingEnsemble(members, random_state=0)


# -- the server --------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def server_process(tmp_path_factory):
    """Starts the server first thing, so that it boots while models fit."""
    folder = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    log = folder / "server.log"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
        "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with open(log, "w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield f"http://127.0.0.1:{port}", process, log
    finally:
        stop(process)


@pytest.fixture(scope="module")
def server(server_process):
    url, process, log = server_process
    wait_until_up(f"{url}/health", process, log)
    return url


@pytest.fixture(scope="module", autouse=True)
def mlflow_settings():
    with restored_mlflow_state(), pytest.MonkeyPatch.context() as mp:
        # Fail fast when the server is gone (MLflow retries for minutes).
        mp.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        mp.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
        # Requirement inference loads each logged model in a subprocess; it
        # is MLflow's feature, not under test here, and costs seconds.
        mp.setattr(
            mlflow.models,
            "infer_pip_requirements",
            lambda *args, fallback=None, **kwargs: fallback,
        )
        yield


@pytest.fixture
def experiment(server):
    """A fresh experiment on the server; autologging off again afterwards."""
    mlflow.set_tracking_uri(server)
    experiment_id = mlflow.create_experiment(f"test-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=experiment_id)
    yield experiment_id
    while mlflow.active_run():
        mlflow.end_run()
    tracking.autolog(disable=True)  # MLflow's HTTP settings back too
    tracking._OPTIONS.update(
        log_ensemble_details=True, log_importances=False, log_plots=True
    )
    mlflow.set_tracking_uri(server)


def rest(url, endpoint, body=None, **query):
    """Call the tracking server's REST API directly."""
    address = f"{url}/api/2.0/mlflow/{endpoint}"
    if query:
        address += "?" + urllib.parse.urlencode(query)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        address, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def runs_of(url, experiment_id):
    body = {"experiment_ids": [experiment_id], "max_results": 100}
    return rest(url, "runs/search", body).get("runs", [])


def run_data(url, run_id):
    data = rest(url, "runs/get", run_id=run_id)["run"]["data"]
    return (
        {p["key"]: p["value"] for p in data.get("params", [])},
        {m["key"]: m["value"] for m in data.get("metrics", [])},
        {t["key"]: t["value"] for t in data.get("tags", [])},
    )


# -- data and reference fits -------------------------------------------------
@pytest.fixture(scope="module")
def rows():
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=["ret", "vol", "rsi", "macd"])
    signal_ = X["ret"].shift(1).fillna(0) + X["ret"].shift(2).fillna(0)
    y = np.where(signal_ > 0.5, "buy", np.where(signal_ < -0.5, "sell", "hold"))
    return X, y


@pytest.fixture(scope="module")
def fitted_pipe(rows):
    """Fitted without any run: the reference for models fitted under tracking.

    Without the refit on all rows, so that the members' tails stay held out
    and tracked fits of the same settings have validation metrics.
    """
    X, y = rows
    return tiny_pipeline(refit_full=False).fit(X, y)


@pytest.fixture(scope="module")
def small_reference(rows):
    X, y = rows
    model = small_ensemble().fit(X.to_numpy(), y)
    return model.predict_proba(X.to_numpy())


# -- 1. autologging ----------------------------------------------------------
class TestAutolog:
    def test_mlflow_autolog_of_the_pipeline(
        self, fitted_pipe, small_reference, server, experiment, rows
    ):
        X, y = rows
        mlflow.sklearn.autolog(log_input_examples=True)
        # Without the refit the members keep their tails held out, so the
        # run has validation metrics to check.
        pipe = tiny_pipeline(refit_full=False).fit(X, y)

        runs = runs_of(server, experiment)
        assert len(runs) == 1
        run_id = runs[0]["info"]["run_id"]
        params, metrics, tags = run_data(server, run_id)
        assert set(params) == set(pipe.get_params(deep=True))
        assert params["ensemble__lstm__net__hidden_size"] == "16"
        assert 0 <= metrics["training_accuracy_score"] <= 1
        assert "training_log_loss" in metrics

        # What the ensemble adds.
        ensemble = pipe.named_steps["ensemble"]
        for name in MEMBERS:
            assert metrics[f"member.{name}.weight"] == pytest.approx(0.25)
            assert metrics[f"member.{name}.fit_time_s"] == pytest.approx(
                ensemble.fit_times_[name]
            )
            assert 0 < metrics[f"member.{name}.val_log_loss"] < 5
            assert metrics[f"member.{name}.val_rows"] == 20  # 10% of 200 rows
        assert 0 < metrics["ensemble.val_log_loss"] < 5
        history = rest(
            server,
            "metrics/get-history",
            run_id=run_id,
            metric_key="member.lstm.train_loss",
        )["metrics"]
        net = ensemble.named_estimators_["lstm"][-1]
        assert [m["step"] for m in history] == [1, 2]
        assert [m["value"] for m in history] == pytest.approx(
            net.net_.history[:, "train_loss"]
        )
        rounds = rest(
            server,
            "metrics/get-history",
            run_id=run_id,
            metric_key="member.xgboost.valid_mlogloss",
        )["metrics"]
        assert len(rounds) == 15

        # Reproducibility.
        Xs = pipe[:-1].transform(X).to_numpy(dtype=np.float64)
        assert tags["sklensemble.data.X_sha256"] == data_digest(Xs)
        assert tags["sklensemble.data.n_rows"] == "200"
        assert tags["sklensemble.data.n_features"] == "4"
        assert tags["sklensemble.seed.lstm__net__random_state"] == "0"
        assert tags["sklensemble.reproducible"] == "true"
        assert tags["sklensemble.version.sklensemble"] == tracking._version(
            "sklensemble"
        )
        assert tags["sklensemble.version.torch"] == tracking._version("torch")
        git = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True
        )
        if git.returncode == 0:
            assert tags["sklensemble.git.commit"] == git.stdout.strip()

        # Artifacts.
        listed = rest(server, "artifacts/list", run_id=run_id, path="sklensemble")
        assert {f["path"] for f in listed["files"]} == {
            "sklensemble/confusion_matrix_val.png",
            "sklensemble/feature_importance.png",
            "sklensemble/feature_importance.csv",
        }
        folder = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="sklensemble"
        )
        table = pd.read_csv(os.path.join(folder, "feature_importance.csv"), index_col=0)
        assert list(table.index) == ["ret", "vol", "rsi", "macd"]
        # By default only the importances the fit has: the boosters' own.
        assert list(table.columns) == MEMBERS
        assert table[["xgboost", "lightgbm"]].notna().all().all()
        assert table[["lstm", "transformer"]].isna().all().all()
        with open(os.path.join(folder, "confusion_matrix_val.png"), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"

        # The model, its input example and signature; identical predictions.
        uri = f"runs:/{run_id}/model"
        info = mlflow.models.get_model_info(uri)
        assert info.signature.inputs.input_names() == ["ret", "vol", "rsi", "macd"]
        assert info.saved_input_example_info is not None
        proba = pipe.predict_proba(X)
        np.testing.assert_array_equal(proba, fitted_pipe.predict_proba(X))  # untouched
        np.testing.assert_array_equal(
            mlflow.sklearn.load_model(uri).predict_proba(X), proba
        )
        pyfunc = mlflow.pyfunc.load_model(uri)
        np.testing.assert_array_equal(pyfunc.get_raw_model().predict_proba(X), proba)
        np.testing.assert_array_equal(pyfunc.predict(X), pipe.predict(X))

    def test_sklensemble_autolog_covers_bare_estimators_once(
        self, server, experiment, rows, small_reference
    ):
        X, y = rows
        tracking.autolog()

        ensemble = small_ensemble().fit(X.to_numpy(), y)
        runs = runs_of(server, experiment)
        assert len(runs) == 1  # the members' nested fits have no runs
        params, metrics, _ = run_data(server, runs[0]["info"]["run_id"])
        assert params["lstm__net__hidden_size"] == "8"
        assert "training_accuracy_score" in metrics
        assert "member.lstm.val_log_loss" in metrics
        model = mlflow.sklearn.load_model(f"runs:/{runs[0]['info']['run_id']}/model")
        np.testing.assert_array_equal(
            model.predict_proba(X.to_numpy()), small_reference
        )
        np.testing.assert_array_equal(
            ensemble.predict_proba(X.to_numpy()), small_reference
        )

        windows = SequenceWindower(5).fit_transform(X.to_numpy())
        net = AttentionLSTMClassifier(
            hidden_size=8, num_layers=1, num_heads=2, max_epochs=2, device="cpu"
        ).fit(windows, y)
        runs = runs_of(server, experiment)
        assert len(runs) == 2
        latest = max(runs, key=lambda r: r["info"]["start_time"])
        params, metrics, _ = run_data(server, latest["info"]["run_id"])
        assert params["hidden_size"] == "8" and "training_score" in metrics
        loaded = mlflow.sklearn.load_model(f"runs:/{latest['info']['run_id']}/model")
        np.testing.assert_array_equal(
            loaded.predict_proba(windows[:20]), net.predict_proba(windows[:20])
        )

        tiny_pipeline().fit(X, y)  # the ensemble inside is patched now, too
        assert len(runs_of(server, experiment)) == 3

    def test_mlflow_autolog_alone_skips_a_bare_ensemble(self, server, experiment, rows):
        X, y = rows
        tracking.autolog()
        mlflow.sklearn.autolog()  # MLflow's own configuration replaces ours
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            small_ensemble(with_network=False).fit(X.to_numpy(), y)
        # No run here is normal, not a failure to report.
        assert not [w for w in caught if issubclass(w.category, TrackingWarning)]
        assert runs_of(server, experiment) == []  # the trap tracking.autolog closes
        assert mlflow.active_run() is None

    def test_search_logs_ensemble_details_once(self, server, experiment, rows):
        X, y = rows
        mlflow.sklearn.autolog(max_tuning_runs=0)
        search = GridSearchCV(
            small_ensemble(with_network=False),
            {"weights": [None]},
            cv=TimeSeriesSplit(2),
        ).fit(X.to_numpy(), y)
        (run,) = runs_of(server, experiment)
        run_id = run["info"]["run_id"]
        assert "best_cv_score" in run_data(server, run_id)[1]
        # Three ensemble fits ran inside the search: only the refit logged.
        assert_details_logged_once(server, run_id, n_rows=len(X))
        assert search.best_estimator_.weights_ == {"xgboost": 0.5, "lightgbm": 0.5}


def assert_details_logged_once(url, run_id, n_rows):
    """The run holds one ensemble's details, from a fit on ``n_rows`` rows."""
    _, metrics, tags = run_data(url, run_id)
    members = [key for key in metrics if key.startswith("member.")]
    assert "member.xgboost.val_log_loss" in members
    for key in members + ["ensemble.val_log_loss"]:
        if ".valid_" in key:
            continue  # a booster's learning curve: one value per round
        history = rest(url, "metrics/get-history", run_id=run_id, metric_key=key)
        assert len(history["metrics"]) == 1, key
    assert tags["sklensemble.data.n_rows"] == str(n_rows)  # the refit, all rows


class TestManualRuns:
    @pytest.mark.parametrize("autolog", [False, True])
    def test_search_in_a_manual_run_logs_details_once(
        self, server, experiment, rows, autolog
    ):
        X, y = rows
        if autolog:
            tracking.autolog(log_models=False, log_datasets=False)
        with mlflow.start_run() as run:
            GridSearchCV(
                small_ensemble(with_network=False),
                {"weights": [None]},
                cv=TimeSeriesSplit(2),
            ).fit(X.to_numpy(), y)
        assert_details_logged_once(server, run.info.run_id, n_rows=len(X))

    def test_active_run_gets_the_details_only(self, server, experiment, rows):
        X, y = rows
        small_ensemble(with_network=False).fit(X.to_numpy(), y)  # no run
        assert runs_of(server, experiment) == []
        with mlflow.start_run() as run:
            small_ensemble(with_network=False).fit(X.to_numpy(), y)
        params, metrics, tags = run_data(server, run.info.run_id)
        assert params == {}  # parameters are autologging's job
        assert {"member.xgboost.val_log_loss", "ensemble.val_accuracy"} <= set(metrics)
        assert tags["sklensemble.seed.xgboost__random_state"] == "0"
        assert not mlflow.MlflowClient().list_artifacts(run.info.run_id, "model")

    def test_a_failing_part_is_reported_and_the_rest_logged(
        self, server, experiment, rows, monkeypatch
    ):
        X, y = rows
        monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # no plots
        with mlflow.start_run() as run:
            with pytest.warns(TrackingWarning) as caught:
                model = small_ensemble(with_network=False).fit(X.to_numpy(), y)
        assert len(caught) == 1
        message = str(caught[0].message)
        assert "could not log confusion matrix, feature importance plot" in message
        assert "import of matplotlib.figure halted" in message
        assert model.predict(X.to_numpy()[:3]).shape == (3,)
        listed = rest(
            server, "artifacts/list", run_id=run.info.run_id, path="sklensemble"
        )
        assert [f["path"] for f in listed["files"]] == [
            "sklensemble/feature_importance.csv"
        ]
        assert "member.lightgbm.val_log_loss" in run_data(server, run.info.run_id)[1]

    def test_options_turn_details_off(self, server, experiment, rows):
        X, y = rows
        tracking.autolog(log_ensemble_details=False, disable=True)
        with mlflow.start_run() as run:
            small_ensemble(with_network=False).fit(X.to_numpy(), y)
        assert run_data(server, run.info.run_id)[1] == {}

    def test_mlflow_is_never_imported_without_tracking(self):
        code = (
            "import sys\n"
            "from sklearn.datasets import make_classification\n"
            "from sklensemble import SoftVotingEnsemble, XGBoostClassifier\n"
            "from sklearn.linear_model import LogisticRegression\n"
            "X, y = make_classification(n_samples=80, random_state=0)\n"
            "SoftVotingEnsemble([('x', XGBoostClassifier(n_estimators=3, n_jobs=1)),"
            " ('l', LogisticRegression())]).fit(X, y)\n"
            "import sklensemble.tracking\n"
            "print('mlflow' in sys.modules)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "False"


class TestRegistry:
    @pytest.mark.parametrize("fmt", ["pickle", "safe"])
    def test_log_register_and_load_by_version(
        self, server, experiment, rows, fitted_pipe, fmt
    ):
        X, _ = rows
        name = f"ensemble-{fmt}-{uuid.uuid4().hex[:6]}"
        with mlflow.start_run():
            info = tracking.log_model(
                fitted_pipe, "model", name, format=fmt, input_example=X.iloc[:5]
            )
        assert int(info.registered_model_version) == 1
        uri = f"models:/{name}/1"
        proba = fitted_pipe.predict_proba(X)
        if fmt == "pickle":
            with pytest.raises(ValueError, match="stored as a pickle"):
                tracking.load_model(uri)
        loaded = tracking.load_model(uri, allow_pickle=fmt == "pickle")
        np.testing.assert_array_equal(loaded.predict_proba(X), proba)
        pyfunc = mlflow.pyfunc.load_model(uri)
        np.testing.assert_array_equal(pyfunc.predict(X), fitted_pipe.predict(X))
        flavors = mlflow.models.get_model_info(uri).flavors
        assert ("sklensemble" in flavors) == (fmt == "safe")

    def test_unknown_format(self, fitted_pipe):
        with pytest.raises(ValueError, match="format must be 'pickle' or 'safe'"):
            tracking.log_model(fitted_pipe, format="onnx")


# -- 2. tracking failures never cost the fit ---------------------------------
def mlflow_warnings(caplog):
    return [
        r for r in caplog.records if r.name.startswith("mlflow") and r.levelno >= 30
    ]


@pytest.fixture
def mlflow_log(caplog):
    """MLflow's loggers do not propagate; listen to them directly."""
    logger = logging.getLogger("mlflow")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


class Relay:
    """TCP relay to the tracking server; cutting it is the server going away."""

    def __init__(self, port):
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            self.sockets += [client, upstream]
            for pair in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=pair, daemon=True).start()

    @staticmethod
    def _pump(source, target):
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass

    def cut(self):
        for sock in [self.listener, *self.sockets]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


RELAYS = {}


class CutRelay(Callback):
    """Cuts the relay after the network's first epoch: mid-way through fit."""

    def __init__(self, relay_id=None):
        self.relay_id = relay_id

    def on_epoch_end(self, net, **kwargs):
        relay = RELAYS.pop(self.relay_id, None)
        if relay is not None:
            relay.cut()


class TestFailures:
    def test_server_stopped_mid_way(
        self, server, experiment, rows, small_reference, mlflow_log, monkeypatch
    ):
        """The server dies while a Pipeline's autologged fit runs: one probe
        with a short timeout finds it gone, nothing is sent to it, and one
        warning says what was not logged."""
        X, y = rows
        for key in tracking._HTTP_LIMITS:
            monkeypatch.delenv(key, raising=False)
        relay = Relay(int(server.rsplit(":", 1)[1]))
        RELAYS[id(relay)] = relay
        uri = f"http://127.0.0.1:{relay.port}"
        probes, sent = [], []
        urlopen = http.urllib.request.urlopen

        def probe(url, timeout):
            probes.append((url, timeout, http_settings()))
            return urlopen(url, timeout=timeout)

        monkeypatch.setattr(http.urllib.request, "urlopen", probe)
        monkeypatch.setattr(details, "_send_batch", lambda *args: sent.append(args))
        monkeypatch.setattr(details, "_send_files", lambda *args: sent.append(args))
        mlflow.set_tracking_uri(uri)
        tracking.autolog()
        cutting = small_ensemble(callbacks=[CutRelay(id(relay))])
        model = Pipeline([("ensemble", cutting)])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X.to_numpy(), y)
        assert id(relay) not in RELAYS  # it was cut during fit
        np.testing.assert_array_equal(
            model.predict_proba(X.to_numpy()), small_reference
        )
        # One probe, with its 5 s timeout, while MLflow's own requests ran
        # with one retry and 10 s timeouts; no request to send the details.
        assert probes == [(f"{uri}/health", http._PROBE_TIMEOUT_S, (1, 1, 10))]
        assert sent == []
        ours = [w for w in caught if issubclass(w.category, TrackingWarning)]
        assert len(ours) == 1
        message = str(ours[0].message)
        for what in (
            "member metrics",
            "learning curves",
            "reproducibility tags",
            "confusion matrix",
            "feature importances",
            "feature importance plot",
        ):
            assert what in message
        assert "unreachable" in message and "fitted normally" in message
        assert mlflow_warnings(mlflow_log)  # MLflow reports its own part

        # The run was created before the cut; the server kept none of the details.
        mlflow.set_tracking_uri(server)
        (run,) = runs_of(server, experiment)
        assert not any(
            k.startswith("member.") for k in run_data(server, run["info"]["run_id"])[1]
        )

    def test_wrong_uri(
        self, experiment, rows, small_reference, mlflow_log, monkeypatch
    ):
        X, y = rows
        # MLflow's defaults (7 retries with back-off, 120 s) would take minutes.
        for key in tracking._HTTP_LIMITS:
            monkeypatch.delenv(key, raising=False)
        seen = []
        warn_no_run = autologging._warn_no_run
        monkeypatch.setattr(
            autologging,
            "_warn_no_run",
            lambda *args: seen.append(http_settings()) or warn_no_run(*args),
        )
        uri = f"http://127.0.0.1:{free_port()}"
        mlflow.set_tracking_uri(uri)
        tracking.autolog()
        model = small_ensemble()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert model.fit(X.to_numpy(), y) is model
        np.testing.assert_array_equal(
            model.predict_proba(X.to_numpy()), small_reference
        )
        # MLflow's requests inside the fit ran with one retry and 10 s timeouts.
        assert seen == [(1, 1, 10)]
        tracking.autolog(disable=True)
        assert http_settings() == (7, 2, 120)  # MLflow's defaults again
        # The user sees one warning, from the ensemble's fit; MLflow, which
        # does not patch a bare ensemble, tried nothing and reports nothing.
        (ours,) = [w for w in caught if issubclass(w.category, TrackingWarning)]
        message = str(ours.message)
        assert uri in message and "unreachable" in message
        assert "Nothing of this fit was logged" in message
        assert "fitted normally" in message
        assert mlflow_warnings(mlflow_log) == []


def http_settings():
    """MLflow's retries, back-off factor and timeout, as MLflow reads them."""
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    return (
        MLFLOW_HTTP_REQUEST_MAX_RETRIES.get(),
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get(),
        MLFLOW_HTTP_REQUEST_TIMEOUT.get(),
    )


def test_own_requests_are_bounded_and_user_values_win(monkeypatch):
    for key in tracking._HTTP_LIMITS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")  # the user's choice
    with tracking._bounded_requests():
        with tracking._bounded_requests():  # nested calls
            assert http_settings() == (1, 1, 60)
        assert http_settings() == (1, 1, 60)
    assert http_settings() == (7, 2, 60)
    with restored_mlflow_state():
        tracking.autolog()
        with tracking._bounded_requests():
            pass
        assert http_settings() == (1, 1, 60)  # autolog still holds them
        tracking.autolog(disable=True)
    assert http_settings() == (7, 2, 60)


def test_ensemble_details_are_sent_with_bounded_requests(
    server, experiment, rows, monkeypatch
):
    X, y = rows
    for key in tracking._HTTP_LIMITS:
        monkeypatch.delenv(key, raising=False)
    seen = []
    send_batch = details._send_batch
    monkeypatch.setattr(
        details,
        "_send_batch",
        lambda *args: seen.append(http_settings()) or send_batch(*args),
    )
    with mlflow.start_run() as run:
        small_ensemble(with_network=False).fit(X.to_numpy(), y)
    assert seen == [(1, 1, 10)]
    assert http_settings() == (7, 2, 120)
    assert "member.xgboost.weight" in run_data(server, run.info.run_id)[1]


def test_autolog_needs_mlflow_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ImportError, match="pip install 'sklensemble\\[tracking\\]'"):
        tracking.autolog()


# -- 4. interrupts -------------------------------------------------------------
class _InterruptAfterEpoch(Callback):
    """Raises KeyboardInterrupt, as Ctrl-C would, once the first epoch is done."""

    def on_epoch_end(self, net, **kwargs):
        raise KeyboardInterrupt


@pytest.mark.parametrize(
    "autolog", [tracking.autolog, mlflow.sklearn.autolog], ids=["ours", "mlflow"]
)
def test_an_interrupted_autologged_fit_is_not_finished(autolog, rows, tmp_path):
    X, y = rows
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment_id = mlflow.create_experiment("interrupted")
    mlflow.set_experiment(experiment_id=experiment_id)
    pipe = tiny_pipeline().set_params(
        ensemble__lstm__net__callbacks=[_InterruptAfterEpoch()]
    )
    autolog(log_models=False, log_datasets=False)
    try:
        with pytest.raises(KeyboardInterrupt):
            pipe.fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    assert mlflow.active_run() is None
    runs = mlflow.search_runs([experiment_id], output_format="list")
    assert [run.info.status for run in runs] == ["FAILED"]

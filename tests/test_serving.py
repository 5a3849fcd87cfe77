"""``mlflow models serve`` answers as the in-process model (pickle and safe format).

The autologged model and the safe-format model of one run are served on
127.0.0.1 by MLflow's own scoring server (``--env-manager local``); every
answer of a bounded number of requests, concurrent ones included, is checked.
"""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

# Real MLflow scoring servers: seconds to start each.
pytestmark = pytest.mark.slow

pytest.importorskip("mlflow")
pytest.importorskip("skops")
pytest.importorskip("safetensors")
pytest.importorskip("matplotlib")

import mlflow  # noqa: E402
import mlflow.models  # noqa: E402
import mlflow.sklearn  # noqa: E402
from _mlflow_helpers import (  # noqa: E402
    free_port,
    restored_mlflow_state,
    stop,
    wait_until_up,
)
from _tiny import TINY  # noqa: E402

from sklensemble import (  # noqa: E402
    make_ensemble_pipeline,
    predict_proba_last,
    tracking,
)

SEQUENCE_LENGTH = 5
MODELS = ["model", "safe_model"]  # autologged (pickle) and safe format


def start_scoring_server(model_uri, tracking_uri, log):
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
        "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    # MLflow starts the server as `uvicorn ...` through the shell: the
    # interpreter's bin folder must be on PATH even when the venv is not
    # activated (as in CI).
    bin_dir = os.path.dirname(sys.executable)
    path = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    env = dict(os.environ, MLFLOW_TRACKING_URI=tracking_uri, PATH=path)
    with open(log, "w") as out:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}"


def invoke(url, frame, params=None):
    """POST rows (and params) to /invocations; return the predictions."""
    body = {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
    if params is not None:
        body["params"] = params
    request = urllib.request.Request(
        f"{url}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["predictions"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One autologged run holding both models, each behind `mlflow models serve`."""
    folder = tmp_path_factory.mktemp("serving")
    tracking_uri = f"sqlite:///{folder}/mlflow.db"
    rng = np.random.RandomState(1)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=["ret", "vol", "rsi", "macd"])
    signal_ = X["ret"].shift(1).fillna(0) + X["ret"].shift(2).fillna(0)
    y = np.where(signal_ > 0.5, "buy", np.where(signal_ < -0.5, "sell", "hold"))

    processes = []
    with restored_mlflow_state(), pytest.MonkeyPatch.context() as mp:
        # Requirement inference loads the model in a subprocess: MLflow's
        # feature, not under test, and seconds on a busy machine.
        mp.setattr(
            mlflow.models,
            "infer_pip_requirements",
            lambda *args, fallback=None, **kwargs: fallback,
        )
        mlflow.set_tracking_uri(tracking_uri)
        experiment = mlflow.create_experiment(
            "serving", artifact_location=str(folder / "artifacts")
        )
        mlflow.set_experiment(experiment_id=experiment)
        tracking.autolog()
        try:
            pipe = make_ensemble_pipeline(
                preset="fast",
                sequence_length=SEQUENCE_LENGTH,
                device="cpu",
                random_state=0,
            ).set_params(**TINY)
            pipe.fit(X, y)
            run_id = mlflow.last_active_run().info.run_id
            with mlflow.start_run(run_id=run_id):
                tracking.log_model(
                    pipe, "safe_model", format="safe", input_example=X.iloc[:5]
                )
        finally:
            mlflow.sklearn.autolog(disable=True)
    try:
        urls = {}
        for name in MODELS:
            log = folder / f"{name}.log"
            process, url = start_scoring_server(
                f"runs:/{run_id}/{name}", tracking_uri, log
            )
            processes.append(process)
            urls[name] = (url, process, log)
        for url, process, log in urls.values():
            wait_until_up(f"{url}/ping", process, log)
        yield {name: url for name, (url, _, _) in urls.items()}, pipe, X
    finally:
        for process in processes:
            stop(process)


@pytest.mark.parametrize("name", MODELS)
def test_batch_predictions_match_in_process(served, name):
    urls, pipe, X = served
    predictions = invoke(urls[name], X)
    assert predictions == pipe.predict(X).tolist()


@pytest.mark.parametrize("name", MODELS)
def test_real_time_last_window(served, name):
    """Send the last `sequence_length` rows; the last answer is the prediction
    the model makes for that time step with the whole history, and concurrent
    requests get the answers sequential ones get. (Latency is a benchmark:
    benchmarks/bench_serving.py, docs/tracking.md.)"""
    urls, pipe, X = served
    expected = pipe.predict(X)
    steps = range(len(X) - 20, len(X))

    def ask(t):
        return invoke(urls[name], X.iloc[t - SEQUENCE_LENGTH + 1 : t + 1])

    sequential = [ask(t) for t in steps]
    with ThreadPoolExecutor(max_workers=4) as pool:  # 20 concurrent requests
        concurrent = list(pool.map(ask, steps))
    assert concurrent == sequential
    assert [len(answer) for answer in sequential] == [SEQUENCE_LENGTH] * len(steps)
    assert [answer[-1] for answer in sequential] == expected[list(steps)].tolist()


def test_probabilities_are_served_on_request(served):
    """The safe model serves named probabilities when a request asks, and the
    newest bar's alone through predict_proba_last."""
    urls, pipe, X = served
    columns = [f"proba_{c}" for c in pipe.classes_]
    window = X.iloc[-3 * SEQUENCE_LENGTH :]
    records = invoke(urls["safe_model"], window, {"predict_method": "predict_proba"})
    assert [list(record) for record in records] == [columns] * len(window)
    served = np.array([[record[c] for c in columns] for record in records])
    np.testing.assert_allclose(served, pipe.predict_proba(window), atol=1e-6)

    last = X.iloc[-SEQUENCE_LENGTH:]
    records = invoke(urls["safe_model"], last, {"predict_method": "predict_proba_last"})
    assert len(records) == 1 and list(records[0]) == columns
    np.testing.assert_allclose(
        [records[0][c] for c in columns], predict_proba_last(pipe, last), atol=1e-6
    )
    labels = invoke(urls["safe_model"], last, {"predict_method": "predict"})
    assert labels == pipe.predict(last).tolist()


def test_unknown_predict_method_is_rejected(served):
    urls, _, X = served
    with pytest.raises(urllib.error.HTTPError) as error:
        invoke(urls["safe_model"], X.iloc[-5:], {"predict_method": "transform"})
    assert error.value.code == 400
    assert "predict_method must be one of" in error.value.read().decode()


def test_schema_violations_are_rejected(served):
    urls, _, X = served
    with pytest.raises(urllib.error.HTTPError) as error:
        invoke(urls["safe_model"], X.drop(columns="macd").iloc[:SEQUENCE_LENGTH])
    assert error.value.code == 400
    assert "macd" in error.value.read().decode()

"""Serving latency through MLflow's scoring server (`mlflow models serve`).

Fits the fast pipeline on synthetic bars with sklensemble.tracking.autolog,
logs it in the pickle and the safe format, serves each with one worker on
127.0.0.1 and times 100 requests of the last `sequence_length` rows (the
real-time pattern), checking every answer against the in-process model.
The safe-format model is timed for each `predict_method` a request can ask
for (labels, named probabilities of every row, the last row's probabilities
alone). Needs the `tracking` extra and the environment's bin folder on PATH.

    python benchmarks/bench_serving.py
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import mlflow
import numpy as np

from sklensemble import (
    MarketFeatures,
    make_ensemble_pipeline,
    predict_proba_last,
    tracking,
)
from sklensemble.datasets import make_synthetic_market
from sklensemble.labels import drop_unlabeled, return_labels

LENGTH = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(model_uri, tracking_uri, log):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            model_uri,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ],
        env=dict(os.environ, MLFLOW_TRACKING_URI=tracking_uri),
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    start = time.time()
    while time.time() - start < 180:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2).read()
            return process, port, time.time() - start
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(open(log).read())


def main():
    bars = make_synthetic_market(3000, seed=0)
    X = MarketFeatures().fit_transform(bars)
    y = return_labels(bars["close"], horizon=5, threshold=0.005)
    X, y = drop_unlabeled(X, y, drop_nan_features=True)
    tmp = tempfile.mkdtemp()
    uri = f"sqlite:///{tmp}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("serving", artifact_location=f"{tmp}/art")
    mlflow.set_experiment(experiment_id=experiment)
    tracking.autolog()
    pipe = make_ensemble_pipeline(preset="fast", sequence_length=LENGTH, random_state=0)
    pipe.fit(X, y)
    run_id = mlflow.last_active_run().info.run_id
    with mlflow.start_run(run_id=run_id):
        tracking.log_model(
            pipe, "safe_model", format="safe", input_example=X.iloc[:LENGTH]
        )
    window = X.iloc[-LENGTH:]
    split = json.loads(window.to_json(orient="split", index=False))
    expected = {
        "predict": [pipe.predict(window)[-1]],
        "predict_proba": pipe.predict_proba(window)[-1],
        "predict_proba_last": predict_proba_last(pipe, window),
    }
    print(f"{len(X)} bars x {X.shape[1]} features; requests of the last {LENGTH} rows")
    cases = [("model", None)] + [("safe_model", m) for m in expected]
    servers = {}
    try:
        for name, method in cases:
            if name not in servers:
                servers[name] = serve(
                    f"runs:/{run_id}/{name}", uri, f"{tmp}/{name}.log"
                )
            _, port, startup = servers[name]
            body = {"dataframe_split": split}
            if method is not None:
                body["params"] = {"predict_method": method}
            times = time_requests(
                port, json.dumps(body).encode(), expected[method or "predict"]
            )
            median = 1e3 * statistics.median(times)
            print(
                f"{name:10s} {method or '(default)':19s} startup {startup:4.1f} s   "
                f"median {median:6.1f} ms   p90 {1e3 * times[89]:6.1f} ms"
            )
    finally:
        for process, _, _ in servers.values():
            os.killpg(process.pid, 15)
            process.wait()


def time_requests(port, body, expected, n_requests=100):
    """Sorted seconds of ``n_requests`` requests; each answer's last row checked."""
    times = []
    for _ in range(n_requests):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        start = time.perf_counter()
        answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
        times.append(time.perf_counter() - start)
        last = answer["predictions"][-1]
        values = list(last.values()) if isinstance(last, dict) else [last]
        if isinstance(values[0], str):
            assert values == list(expected), (values, expected)
        else:
            np.testing.assert_allclose(values, expected, atol=1e-5)
    return sorted(times)


if __name__ == "__main__":
    main()

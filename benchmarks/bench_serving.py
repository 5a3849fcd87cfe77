"""Serving latency through MLflow's scoring server (`mlflow models serve`).

Fits the fast pipeline on synthetic bars with sklensemble.tracking.autolog,
logs it in the pickle and the safe format, serves each with one worker on
127.0.0.1 and times 100 requests of the last `sequence_length` rows (the
real-time pattern), checking every answer against the in-process model.
Needs the `tracking` extra and the environment's bin folder on PATH.

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

from sklensemble import MarketFeatures, make_ensemble_pipeline, tracking
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
    expected = pipe.predict(window)[-1]
    body = json.dumps(
        {"dataframe_split": json.loads(window.to_json(orient="split", index=False))}
    ).encode()
    print(f"{len(X)} bars x {X.shape[1]} features; requests of the last {LENGTH} rows")
    for name in ("model", "safe_model"):
        process, port, startup = serve(
            f"runs:/{run_id}/{name}", uri, f"{tmp}/{name}.log"
        )
        times = []
        for _ in range(100):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            start = time.perf_counter()
            answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
            times.append(time.perf_counter() - start)
            assert answer["predictions"][-1] == expected
        times.sort()
        median = 1e3 * statistics.median(times)
        print(
            f"{name:10s} startup {startup:4.1f} s   median {median:6.1f} ms"
            f"   p90 {1e3 * times[89]:6.1f} ms"
        )
        os.killpg(process.pid, 15)
        process.wait()


if __name__ == "__main__":
    main()

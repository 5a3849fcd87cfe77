"""Helpers shared by the MLflow and server tests (imported after importorskip)."""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request

import mlflow
import mlflow.sklearn

from sklensemble import tracking


@contextlib.contextmanager
def restored_mlflow_state():
    """Leave MLflow's process-wide state (URI, experiment, autolog) as found."""
    saved = {
        k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID")
    }
    try:
        yield
    finally:
        while mlflow.active_run():
            mlflow.end_run()
        tracking.autolog(disable=True)  # MLflow's HTTP settings back too
        mlflow.set_tracking_uri(saved["MLFLOW_TRACKING_URI"])
        mlflow.tracking.fluent._active_experiment_id = None
        if saved["MLFLOW_EXPERIMENT_ID"] is None:
            os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
        else:
            os.environ["MLFLOW_EXPERIMENT_ID"] = saved["MLFLOW_EXPERIMENT_ID"]
        tracking._OPTIONS.update(
            log_ensemble_details=True, log_importances=False, log_plots=True
        )


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url, process, log, timeout=180):
    """Poll ``url`` until it answers; raise with the server's log if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"server not up after {timeout}s:\n{log.read_text()}")


def stop(process):
    """Stop a server started in its own session, workers included."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

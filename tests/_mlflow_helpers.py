"""Helpers shared by the MLflow tests (imported after their importorskip)."""

import contextlib
import os
import socket

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
        mlflow.sklearn.autolog(disable=True)
        mlflow.set_tracking_uri(saved["MLFLOW_TRACKING_URI"])
        mlflow.tracking.fluent._active_experiment_id = None
        if saved["MLFLOW_EXPERIMENT_ID"] is None:
            os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
        else:
            os.environ["MLFLOW_EXPERIMENT_ID"] = saved["MLFLOW_EXPERIMENT_ID"]
        tracking._OPTIONS.update(log_ensemble_details=True, log_importances=True)


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

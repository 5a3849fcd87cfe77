"""MLflow logging of a study: a parent run and one child run per trial."""

import time
import warnings
from contextlib import contextmanager

from optuna.trial import TrialState

_MLFLOW_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


class _MlflowTrialLogger:
    """Optuna callback: one nested MLflow run per finished trial.

    Uses ``MlflowClient`` with explicit run ids, never the fluent "active
    run": trials may finish in threads or other processes, and logging into
    the parent's active run is what breaks autolog + tuners (mlflow #7947).
    """

    def __init__(self, tracking_uri, experiment_id, parent_run_id, objective_names):
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.objective_names = objective_names

    def __call__(self, study, trial):
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param, RunTag

        client = MlflowClient(self.tracking_uri)
        state = trial.state.name
        run = client.create_run(
            self.experiment_id,
            run_name=f"trial-{trial.number}",
            tags={
                "mlflow.parentRunId": self.parent_run_id,
                "optuna.trial_number": str(trial.number),
                "optuna.state": state.lower(),
            },
        )
        now = int(time.time() * 1000)
        metrics = [
            Metric(f"fold_{name}", float(value), now, step)
            for name, values in trial.user_attrs.get("fold_scores", {}).items()
            for step, value in enumerate(values)
        ]
        if trial.values is not None:
            metrics += [
                Metric(name, float(value), now, 0)
                for name, value in zip(self.objective_names, trial.values, strict=True)
            ]
        params = [Param(k, str(v)[:6000]) for k, v in trial.params.items()]
        tags = []
        if "error" in trial.user_attrs:
            tags.append(RunTag("error", trial.user_attrs["error"][:5000]))
        client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=tags)
        client.set_terminated(
            run.info.run_id, status=_MLFLOW_STATUS.get(state, "FAILED")
        )


def _trial_logger(run, objective_names):
    """The callback that logs each trial as a child run of ``run``."""
    import mlflow

    return _MlflowTrialLogger(
        mlflow.get_tracking_uri(),
        run.info.experiment_id,
        run.info.run_id,
        objective_names,
    )


@contextmanager
def _mlflow_parent(enabled, study_name, settings):
    """Parent run of the study (nested under an active run), autolog off."""
    if not enabled:
        yield None
        return
    try:
        import mlflow
        from mlflow.utils.autologging_utils import disable_autologging
    except ImportError as exc:
        raise ImportError(
            'mlflow=True needs MLflow: pip install "sklensemble[tracking]"'
        ) from exc
    nested = mlflow.active_run() is not None
    with mlflow.start_run(run_name=study_name, nested=nested) as run:
        mlflow.log_params({f"tune.{k}": str(v)[:6000] for k, v in settings.items()})
        # The trials' fits must not autolog into the parent run.
        with disable_autologging():
            yield run


def _log_parent_result(run, result):
    import mlflow

    counts = {state.name.lower(): 0 for state in TrialState}
    for trial in result.study_.get_trials(deepcopy=False):
        counts[trial.state.name.lower()] += 1
    mlflow.log_metrics({f"n_trials_{k}": v for k, v in counts.items() if v})
    mlflow.log_metrics({f"best_{k}": v for k, v in result.best_values_.items()})
    mlflow.log_params({k: str(v)[:6000] for k, v in result.best_params_.items()})
    if hasattr(result, "best_estimator_"):
        import mlflow.sklearn

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # signature inference notices
            mlflow.sklearn.log_model(
                result.best_estimator_,
                name="model",
                # skops (MLflow's default) has no handler for torch members.
                serialization_format="cloudpickle",
                pip_requirements=["sklensemble"],  # skips slow inference
            )

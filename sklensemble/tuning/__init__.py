"""Hyperparameter tuning of sklensemble pipelines, built on Optuna.

Three ways to tune, from the most standard to the most complete:

* :func:`default_search_space` gives Optuna distributions keyed by the
  pipeline's nested parameter names; they work unchanged in
  ``optuna_integration.OptunaSearchCV``.
* :func:`tune` runs an Optuna study whose trials cross-validate the pipeline
  in time order. It adds what ``OptunaSearchCV`` lacks: pruning after each
  fold and after each epoch of the networks (no ``partial_fit`` needed),
  multi-objective studies (for example balanced accuracy against fit time),
  failed trials recorded with their message, MLflow child runs per trial,
  and scale-out over a shared Optuna storage or a Dask cluster.
* :class:`TuningResult` holds the study, the best parameters and model, the
  Pareto front and plots.

Optuna is an optional dependency: ``pip install "sklensemble[tuning]"``.
"""

# The package's modules, one concept each (imports run down this list):
# _spaces (search spaces and their encoding), _folds (time-ordered folds),
# _pruning (per-fold and per-epoch pruning), _objective (what a trial
# computes), _execution (creating a study, running trials in workers),
# _mlflow (parent and child runs), _result (TuningResult) and _search (tune).
try:
    import optuna  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "sklensemble.tuning needs Optuna and optuna-integration; install them "
        'with: pip install "sklensemble[tuning]"'
    ) from exc

from ._pruning import _decode_step  # noqa: F401  (step encoding, read by tests)
from ._result import TuningResult
from ._search import tune
from ._spaces import decode_params, default_search_space

__all__ = ["TuningResult", "decode_params", "default_search_space", "tune"]

"""Running a study: creating or joining it, and its trials in workers.

Trials run in Optuna's threads in this process, or as joblib tasks (Dask,
processes) that join the study through a storage every worker reaches.
"""

import copy
import numbers
import time
import warnings

import optuna
from optuna.trial import TrialState

from .._utils import _to_seed

# Tries at creating or joining a study in a shared database.
_CREATE_ATTEMPTS = 5


def _seed(random_state):
    if random_state is None or isinstance(random_state, numbers.Integral):
        return random_state
    return _to_seed(random_state)


def _make_sampler(sampler, seed):
    return optuna.samplers.TPESampler(seed=seed) if sampler is None else sampler


def _worker_backend(n_jobs):
    """'local' (this process, Optuna's threads), 'dask' or 'processes'."""
    if n_jobs == 1:
        return "local"
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend(prefer="threads")
    if getattr(backend, "supports_sharedmem", False):
        return "local"
    return "dask" if "dask" in type(backend).__module__ else "processes"


def _shared_storage(storage, mode):
    """A storage every worker reaches: Dask's scheduler for in-memory studies."""
    in_memory = storage is None or isinstance(storage, optuna.storages.InMemoryStorage)
    if mode == "local" or not in_memory:
        return storage
    if mode == "dask":
        from optuna_integration import DaskStorage

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return DaskStorage(storage)
    raise ValueError(
        "n_jobs != 1 under a process-based joblib backend needs a storage all "
        "processes share: pass storage='sqlite:///study.db' (or a PostgreSQL "
        'URL), or run under joblib.parallel_backend("dask").'
    )


def _create_study(storage, study_name, sampler, pruner, objectives):
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            study = optuna.create_study(
                storage=storage,
                study_name=study_name,
                sampler=sampler,
                pruner=pruner,
                directions=[obj.direction for obj in objectives],
                load_if_exists=True,
            )
            break
        except Exception as exc:
            # Workers starting together race to create the database schema
            # (sqlalchemy IntegrityError/OperationalError); the loser retries.
            if (
                "sqlalchemy" not in type(exc).__module__
                or attempt + 1 == _CREATE_ATTEMPTS
            ):
                raise
            time.sleep(0.5 * (attempt + 1))
    found = [d.name.lower() for d in study.directions]
    wanted = [obj.direction for obj in objectives]
    if found != wanted:  # a loaded study keeps its own directions
        raise ValueError(
            f"Study {study.study_name!r} in the storage has directions {found}, "
            f"but objectives {[obj.name for obj in objectives]} need {wanted}; "
            "use another study_name or matching objectives."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([obj.name for obj in objectives])
    return study


def _split_trials(n_trials, n_workers):
    if n_trials is None:
        return [None] * n_workers
    base, extra = divmod(n_trials, n_workers)
    return [base + (i < extra) for i in range(n_workers) if base + (i < extra)]


def _run_worker(
    study_name, storage, sampler, pruner, objective, n_trials, timeout, callbacks
):
    """One joblib task: join the shared study and run its share of trials."""
    sampler.reseed_rng()  # workers must not propose the same trials
    study = optuna.load_study(
        study_name=study_name, storage=storage, sampler=sampler, pruner=pruner
    )
    study.optimize(
        objective,
        n_trials=n_trials,
        timeout=timeout,
        catch=(Exception,),
        callbacks=callbacks,
    )


def _optimize(
    study,
    objective,
    *,
    storage,
    mode,
    n_trials,
    timeout,
    n_jobs,
    callbacks,
    progress,
):
    """Run ``n_trials`` of ``objective`` on ``study``, kept in ``storage``.

    Workers on a Dask cluster or in other processes join the study by its
    name in ``storage``, the one it was created in, which they all reach.
    """
    if n_trials == 0:  # only collect an existing study's result
        return
    if mode == "local":
        study.optimize(
            objective,
            n_trials=n_trials,
            timeout=timeout,
            n_jobs=n_jobs,
            catch=(Exception,),
            callbacks=callbacks,
            show_progress_bar=progress,
        )
        return
    from joblib import Parallel, delayed, effective_n_jobs

    n_workers = n_jobs if n_jobs > 0 else effective_n_jobs(n_jobs)
    shares = _split_trials(n_trials, n_workers)
    Parallel(n_jobs=len(shares), prefer="threads")(
        delayed(_run_worker)(
            study.study_name,
            storage,
            copy.deepcopy(study.sampler),
            study.pruner,
            objective,
            share,
            timeout,
            callbacks,
        )
        for share in shares
    )


def _check_any_complete(study):
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.COMPLETE for t in trials):
        return
    errors = [t.user_attrs["error"] for t in trials if "error" in t.user_attrs]
    failed = sum(t.state == TrialState.FAIL for t in trials)
    pruned = sum(t.state == TrialState.PRUNED for t in trials)
    first = f" First error: {errors[0]}" if errors else ""
    raise ValueError(
        f"No trial completed: {failed} failed and {pruned} were pruned out of "
        f"{len(trials)}.{first} Check the search space and the data, or see "
        "result.trials_dataframe() after fixing."
    )


def _copy_to_memory(study, storage):
    """An in-memory copy of ``study``, which lives in ``storage``."""
    memory = optuna.storages.InMemoryStorage()
    optuna.copy_study(
        from_study_name=study.study_name, from_storage=storage, to_storage=memory
    )
    return optuna.load_study(
        study_name=study.study_name,
        storage=memory,
        sampler=study.sampler,
        pruner=study.pruner,
    )

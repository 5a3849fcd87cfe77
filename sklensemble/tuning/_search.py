"""``tune``: an Optuna study over time-ordered cross-validation."""

import numbers

import optuna

from .. import tracking
from .._splits import purge_validation_tails
from ._execution import (
    _check_any_complete,
    _copy_to_memory,
    _create_study,
    _make_sampler,
    _optimize,
    _seed,
    _shared_storage,
    _worker_backend,
)
from ._folds import _time_ordered_folds
from ._mlflow import _log_parent_result, _mlflow_parent, _trial_logger
from ._objective import _check_objectives, _TrialObjective
from ._pruning import _make_pruner, _SeriesPruner
from ._result import TuningResult
from ._spaces import _Space, default_search_space


def _check_budget(n_trials, timeout, n_jobs):
    if n_trials is not None and (
        not isinstance(n_trials, numbers.Integral)
        or isinstance(n_trials, bool)
        or n_trials < 0
    ):
        raise ValueError(f"n_trials must be an integer >= 0 or None, got {n_trials!r}.")
    if timeout is not None and (not isinstance(timeout, numbers.Real) or timeout <= 0):
        raise ValueError(
            f"timeout must be a positive number of seconds or None, got {timeout!r}."
        )
    if n_trials is None and timeout is None:
        raise ValueError(
            "Give n_trials, timeout or both; otherwise the search never ends."
        )
    if not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(
            f"n_jobs must be a non-zero integer (-1: all cores), got {n_jobs!r}."
        )


def tune(
    pipe,
    X,
    y,
    *,
    cv,
    search_space=None,
    n_trials=20,
    timeout=None,
    objectives=("balanced_accuracy",),
    sampler=None,
    pruner=None,
    storage=None,
    study_name=None,
    n_jobs=1,
    random_state=None,
    refit=True,
    callbacks=None,
    mlflow=False,
    show_progress_bar=True,
):
    """Tune a pipeline with an Optuna study over time-ordered cross-validation.

    Each trial samples a configuration, then fits and scores the folds of
    ``cv`` in time order. With one objective, the running mean score is
    reported after every fold and every network reports its validation loss
    after every epoch, so the pruner stops poor trials early, mid-fit
    included. With several objectives the study is multi-objective and its
    Pareto front is returned (no pruning: Optuna forbids it there).

    Read more in ``docs/tuning.md``.

    Parameters
    ----------
    pipe : estimator
        The pipeline to tune, e.g. :func:`~sklensemble.make_ensemble_pipeline`.
        It is cloned, never fitted itself.
    X : array-like of shape (n_samples, n_features)
        Rows in time order.
    y : array-like of shape (n_samples,)
        Labels.
    cv : splitter or iterable of (train, test)
        Time-ordered folds, e.g.
        ``PurgedWalkForwardSplit(n_splits=5, purge=horizon)`` or
        ``TimeSeriesSplit(5, gap=horizon)``. Integers are refused, as in
        :func:`~sklensemble.evaluate.walk_forward`: ``tune`` does not know
        the label horizon, and an unpurged split would train on labels that
        look into the test rows. Shuffled splitters are refused; splitters
        that train on rows after the test rows (``KFold``) warn. With a
        ``PurgedWalkForwardSplit``, the validation tails inside every fit
        (the trials' and the refit) are purged the same way: every
        ``validation_gap`` of ``pipe`` below ``purge`` is raised to it.
    search_space : dict or None, default=None
        ``{parameter name: optuna distribution}``; ``None`` uses
        :func:`default_search_space` of ``pipe``.
    n_trials : int or None, default=20
        Trials to run in this call (they add to a study loaded from
        ``storage``); ``None`` runs until ``timeout``; ``0`` runs none and
        only builds the result of an existing study (for example after
        distributed workers finished).
    timeout : float or None, default=None
        Seconds after which no new trial starts (a running trial finishes).
    objectives : tuple of str, default=("balanced_accuracy",)
        Names of scikit-learn scorers (maximised), of losses such as
        ``"log_loss"`` (minimised), or ``"fit_time"`` / ``"predict_time"``
        (mean seconds per fold, minimised). Two or more make a
        multi-objective study.
    sampler : optuna.samplers.BaseSampler or None, default=None
        ``None`` uses ``TPESampler(seed=random_state)`` (TPE also handles
        several objectives).
    pruner : optuna.pruners.BasePruner or None, default=None
        Judges each trial's running mean score after every fold and each
        network's validation loss after every epoch, each against the other
        trials at the same fold or epoch. ``None`` uses
        ``MedianPruner(n_startup_trials=5, n_warmup_steps=1)`` (no judgement
        on the first fold or the first epoch) with one objective; must be
        ``None`` with several. ``optuna.pruners.NopPruner()`` disables
        pruning.
    storage : str, optuna storage or None, default=None
        ``None`` keeps the study in memory. A database URL
        (``"sqlite:///study.db"``, PostgreSQL, MySQL) or an Optuna storage
        (``JournalStorage``) lets several processes or machines share one
        study through the same ``study_name``. Tuple choices (the
        ensemble's weight settings) are stored as text; read a stored
        study's parameters with :func:`decode_params`.
    study_name : str or None, default=None
        Name of the study; an existing study of that name in ``storage`` is
        loaded and continued.
    n_jobs : int, default=1
        Trials run at the same time: in threads of this process, or, inside
        ``joblib.parallel_backend("dask")``, as Dask tasks sharing the study
        through ``storage`` (in-memory studies move to the Dask scheduler).
        Parallel runs may propose other trials than a sequential run (the
        sampler sees results in another order); in threads a configuration
        scores as in a sequential run (seeded networks do not depend on what
        fits beside them).
    random_state : int, RandomState instance or None, default=None
        Seeds the default sampler: with ``n_jobs=1`` and a seeded ``pipe``,
        the same seed gives the same trials.
    refit : bool, default=True
        Refit the best configuration on all of ``X, y`` into
        ``best_estimator_``.
    callbacks : list of callable or None, default=None
        Optuna callbacks ``f(study, frozen_trial)`` after each trial.
    mlflow : bool, default=False
        Log a parent MLflow run for the study (settings, best parameters and
        values, the refitted model) and a nested child run per trial
        (parameters, fold scores, fit time, state). Autologging, and the
        ensemble's own detail logging (``sklensemble.tracking``), are paused
        while trials fit; the refit logs its details into the parent run.
    show_progress_bar : bool, default=True
        Show Optuna's progress bar over trials (this process only).

    Returns
    -------
    result : TuningResult
        Study, best parameters, score and model, Pareto front, plots.

    Raises
    ------
    ValueError
        For invalid arguments, shuffled ``cv``, or when no trial completes
        (the message quotes the first error).

    See Also
    --------
    default_search_space : The distributions used when none are given.
    optuna_integration.OptunaSearchCV : Single-objective search without
        pruning of pipelines.

    Examples
    --------
    >>> import optuna
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.model_selection import TimeSeriesSplit
    >>> from sklensemble import XGBoostClassifier
    >>> from sklensemble.tuning import tune
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> X, y = make_classification(n_samples=150, random_state=0)
    >>> result = tune(
    ...     XGBoostClassifier(n_estimators=20, n_jobs=1, random_state=0), X, y,
    ...     cv=TimeSeriesSplit(2), n_trials=3, random_state=0,
    ...     show_progress_bar=False)
    >>> sorted(result.best_params_)[:3]
    ['colsample_bytree', 'early_stopping_rounds', 'learning_rate']
    >>> 0.5 < result.best_score_ <= 1.0
    True
    >>> len(result.study_.trials)
    3
    """
    _check_budget(n_trials, timeout, n_jobs)
    objs = _check_objectives(objectives)
    space = _Space(
        default_search_space(pipe) if search_space is None else search_space, pipe
    )
    folds = _time_ordered_folds(cv, X, y)
    pipe = purge_validation_tails(pipe, cv)
    study_pruner = _make_pruner(pruner, objs)
    prune = isinstance(study_pruner, _SeriesPruner) and not isinstance(
        study_pruner.pruner, optuna.pruners.NopPruner
    )
    mode = _worker_backend(n_jobs)
    shared = _shared_storage(storage, mode)
    study = _create_study(
        shared,
        study_name,
        _make_sampler(sampler, _seed(random_state)),
        study_pruner,
        objs,
    )
    objective = _TrialObjective(
        pipe, X, y, folds, space, objs, prune, objs[0].direction == "maximize"
    )
    settings = dict(
        n_trials=n_trials,
        timeout=timeout,
        objectives=list(objectives),
        cv=cv,
        sampler=type(study.sampler).__name__,
        pruner=type(study_pruner).__name__,
        n_jobs=n_jobs,
        random_state=random_state,
    )
    with _mlflow_parent(mlflow, study.study_name, settings) as run:
        trial_callbacks = list(callbacks or [])
        if run is not None:
            trial_callbacks.append(_trial_logger(run, [obj.name for obj in objs]))
        # A trial's fold fits would pile the ensemble's details into the
        # study's parent run (or the caller's); the refit below logs them.
        with tracking._details_suspended():
            _optimize(
                study,
                objective,
                storage=shared,
                mode=mode,
                n_trials=n_trials,
                timeout=timeout,
                n_jobs=n_jobs,
                callbacks=trial_callbacks,
                progress=show_progress_bar and mode == "local",
            )
        _check_any_complete(study)
        if mode != "local" and shared is not storage:  # DaskStorage: keep a copy
            study = _copy_to_memory(study, shared)
        result = TuningResult(study, pipe, space, objs)
        if refit:
            result._refit(X, y)
        if run is not None:
            _log_parent_result(run, result)
    return result

"""What a trial computes: its objectives, scored over time-ordered folds.

``_Objective`` is one objective (a scorer, a loss or a time);
``_TrialObjective`` is the callable Optuna runs per trial: it samples a
configuration, fits and scores every fold in time order, reports running
scores and the networks' epochs for pruning, and records fold scores and
errors on the trial.
"""

import time

import numpy as np
import optuna
from sklearn.base import clone
from sklearn.metrics import get_scorer, get_scorer_names

from .._neural import AttentionLSTMClassifier, TransformerClassifier
from .._sklearn_private import _safe_indexing
from ._pruning import _EpochPruning, _score_step, _TrialReporter
from ._spaces import _walk

# Objectives that are not scikit-learn scorers, and their direction.
_TIME_OBJECTIVES = ("fit_time", "predict_time")


class _Objective:
    """One objective: a scorer (maximised), a loss (minimised) or a time."""

    def __init__(self, name):
        self.name = name
        if name in _TIME_OBJECTIVES:
            self.direction, self._scorer, self._sign = "minimize", None, 1.0
        elif name in get_scorer_names():
            self.direction, self._scorer, self._sign = "maximize", get_scorer(name), 1.0
        elif f"neg_{name}" in get_scorer_names():
            # "log_loss" is reported as the loss itself and minimised.
            self.direction, self._scorer = "minimize", get_scorer(f"neg_{name}")
            self._sign = -1.0
        else:
            raise ValueError(
                f"Unknown objective {name!r}: use 'fit_time', 'predict_time', a "
                "scikit-learn scorer name (sklearn.metrics.get_scorer_names()) "
                "or a loss such as 'log_loss'."
            )

    def evaluate(self, est, X, y, fit_time):
        if self.name == "fit_time":
            return fit_time
        if self.name == "predict_time":
            start = time.perf_counter()
            est.predict(X)
            return time.perf_counter() - start
        return self._sign * float(self._scorer(est, X, y))


def _check_objectives(objectives):
    if isinstance(objectives, str):
        objectives = (objectives,)
    if not isinstance(objectives, (list, tuple)) or not objectives:
        raise ValueError(
            "objectives must be a non-empty tuple of names such as "
            f"('balanced_accuracy',) or ('balanced_accuracy', 'fit_time'), got "
            f"{objectives!r}."
        )
    if len(set(objectives)) != len(objectives):
        raise ValueError(f"objectives has duplicates: {list(objectives)}.")
    return [_Objective(name) for name in objectives]


def _network_paths(pipe):
    """Parameter prefixes of the networks, in fitting order."""
    return [
        prefix
        for prefix, est in _walk(pipe)
        if isinstance(est, (AttentionLSTMClassifier, TransformerClassifier))
    ]


class _TrialObjective:
    """Cross-validates one sampled configuration in time order (picklable)."""

    def __init__(self, pipe, X, y, folds, space, objectives, prune, maximize):
        self.pipe, self.X, self.y, self.folds = pipe, X, y, folds
        self.space, self.objectives = space, objectives
        self.prune = prune
        self.sign = -1.0 if maximize else 1.0  # valid_loss as "higher is better"?
        # A network's slot (its series of epoch reports) is its position in
        # the given pipeline, the same in every trial.
        self.slots = {p: i for i, p in enumerate(_network_paths(pipe))}

    def __call__(self, trial):
        params = self.space.sample(trial)
        reporter = _TrialReporter(trial, self.sign) if self.prune else None
        scores = {obj.name: [] for obj in self.objectives}
        try:
            for fold, (train, test) in enumerate(self.folds):
                est = self._estimator(params, reporter, fold)
                self._fit_and_score(est, train, test, scores)
                trial.set_user_attr("fold_scores", scores)
                if reporter is not None:
                    first = self.objectives[0].name
                    running = float(np.mean(scores[first]))
                    reporter.report(running, _score_step(fold), f"fold {fold}")
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise
        values = [float(np.mean(scores[obj.name])) for obj in self.objectives]
        return values[0] if len(values) == 1 else tuple(values)

    def _estimator(self, params, reporter, fold):
        est = clone(self.pipe).set_params(**params)
        if reporter is None:
            return est
        hooks = {}
        for prefix in _network_paths(est):  # after params: some may be dropped
            if prefix not in self.slots:
                continue
            existing = est.get_params()[f"{prefix}callbacks"] or []
            hook = _EpochPruning(reporter, self.slots[prefix], fold, prefix[:-2])
            hooks[f"{prefix}callbacks"] = [*existing, ("sklensemble_pruning", hook)]
        return est.set_params(**hooks)

    def _fit_and_score(self, est, train, test, scores):
        X_train, y_train = _safe_indexing(self.X, train), _safe_indexing(self.y, train)
        X_test, y_test = _safe_indexing(self.X, test), _safe_indexing(self.y, test)
        start = time.perf_counter()
        est.fit(X_train, y_train)
        fit_time = time.perf_counter() - start
        for obj in self.objectives:
            scores[obj.name].append(obj.evaluate(est, X_test, y_test, fit_time))
        if not any(obj.name == "fit_time" for obj in self.objectives):
            # Always kept, for MLflow and trials_dataframe().
            scores.setdefault("fit_time", []).append(fit_time)

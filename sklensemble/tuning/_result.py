"""``TuningResult``: the study, the chosen trial, its model and plots."""

import time
import warnings

import numpy as np
import optuna
from sklearn.base import clone


class TuningResult:
    """Outcome of :func:`tune`: the study, the chosen trial and its model.

    Parameters
    ----------
    study : optuna.Study
        The finished study.
    pipe : estimator
        The unfitted pipeline that was tuned.
    space : object
        The search space with its decoding of categorical choices.
    objectives : list
        The objectives, in the order of the study's values.

    Attributes
    ----------
    study_ : optuna.Study
        The study; ``study_.trials`` holds every trial with its state
        (complete, pruned, failed), ``user_attrs["fold_scores"]`` (per-fold
        values of each objective and the fit time) and, for failed trials,
        ``user_attrs["error"]``.
    objective_names_ : list of str
        Objective names, in the order of trial values.
    directions_ : list of str
        ``"maximize"`` or ``"minimize"`` for each objective.
    pareto_front_ : list of optuna.trial.FrozenTrial
        Non-dominated complete trials (``study.best_trials``); the single
        best trial with one objective.
    best_trial_ : optuna.trial.FrozenTrial
        With one objective, the best trial; with several, ``select()``: the
        Pareto trial best on the first objective.
    best_params_ : dict
        Parameters of ``best_trial_``, as passed to ``pipe.set_params``.
    best_score_ : float
        Mean cross-validated value of the first objective for
        ``best_trial_``.
    best_values_ : dict of str to float
        Mean value of every objective for ``best_trial_``.
    best_estimator_ : estimator
        ``pipe`` with ``best_params_``, refitted on all rows (``refit=True``
        only).
    refit_time_ : float
        Seconds spent refitting ``best_estimator_`` (``refit=True`` only).
    """

    def __init__(self, study, pipe, space, objectives):
        self.study_ = study
        self._pipe, self._space = pipe, space
        self.objective_names_ = [obj.name for obj in objectives]
        self.directions_ = [obj.direction for obj in objectives]
        if len(objectives) == 1:
            self.pareto_front_ = [study.best_trial]
            self.best_trial_ = study.best_trial
        else:
            self.pareto_front_ = list(study.best_trials)
            self.best_trial_ = self.select()
        self.best_params_ = self.params_of(self.best_trial_)
        self.best_values_ = dict(
            zip(self.objective_names_, self.best_trial_.values, strict=True)
        )
        self.best_score_ = self.best_trial_.values[0]

    def _refit(self, X, y):
        start = time.perf_counter()
        self.best_estimator_ = self.make_estimator().fit(X, y)
        self.refit_time_ = time.perf_counter() - start

    def params_of(self, trial):
        """Parameters of ``trial`` as ``pipe.set_params`` takes them.

        Parameters
        ----------
        trial : optuna.trial.FrozenTrial

        Returns
        -------
        params : dict
        """
        return self._space.decode(trial.params)

    def make_estimator(self, trial=None):
        """Unfitted clone of the pipeline with a trial's parameters.

        Parameters
        ----------
        trial : optuna.trial.FrozenTrial or None, default=None
            ``None`` means ``best_trial_``.

        Returns
        -------
        estimator : estimator
        """
        trial = self.best_trial_ if trial is None else trial
        return clone(self._pipe).set_params(**self.params_of(trial))

    def trials_dataframe(self, **kwargs):
        """All trials as a DataFrame (``optuna.Study.trials_dataframe``).

        Parameters
        ----------
        **kwargs
            Passed to ``optuna.Study.trials_dataframe``.

        Returns
        -------
        df : pandas.DataFrame
            One row per trial: values (named after the objectives), params,
            state, durations and user attributes.
        """
        return self.study_.trials_dataframe(**kwargs)

    def select(self, *, rule="first", **bounds):
        """Pick one trial of the Pareto front.

        Parameters
        ----------
        rule : {"first", "knee"}, default="first"
            Among the trials within ``bounds``: ``"first"`` takes the best on
            the first objective (ties broken by the next ones); ``"knee"``
            takes the trial closest to the ideal point once every objective
            is scaled to [0, 1] over those trials (a balanced trade-off).
        **bounds
            ``max_<objective>=value`` or ``min_<objective>=value``, e.g.
            ``max_fit_time=2.0`` or ``min_balanced_accuracy=0.55``.

        Returns
        -------
        trial : optuna.trial.FrozenTrial
            Use :meth:`make_estimator` to build its model.

        Raises
        ------
        ValueError
            For an unknown bound or rule, or when no Pareto trial meets the
            bounds (the message gives each objective's range).
        """
        candidates = [t for t in self.pareto_front_ if self._within(t, bounds)]
        if not candidates:
            ranges = {
                name: (
                    min(t.values[i] for t in self.pareto_front_),
                    max(t.values[i] for t in self.pareto_front_),
                )
                for i, name in enumerate(self.objective_names_)
            }
            raise ValueError(
                f"No Pareto trial meets {bounds}; the front spans {ranges}."
            )
        oriented = np.array([self._oriented(t) for t in candidates])  # lower is better
        if rule == "first":
            order = np.lexsort(oriented.T[::-1])
            return candidates[int(order[0])]
        if rule == "knee":
            span = np.ptp(oriented, axis=0)
            scaled = (oriented - oriented.min(axis=0)) / np.where(span > 0, span, 1.0)
            return candidates[int(np.argmin(np.linalg.norm(scaled, axis=1)))]
        raise ValueError(f"rule must be 'first' or 'knee', got {rule!r}.")

    def _oriented(self, trial):
        return [
            -v if d == "maximize" else v
            for v, d in zip(trial.values, self.directions_, strict=True)
        ]

    def _within(self, trial, bounds):
        for key, limit in bounds.items():
            kind, _, name = key.partition("_")
            if kind not in ("max", "min") or name not in self.objective_names_:
                raise ValueError(
                    f"Unknown bound {key!r}: use max_<objective> or "
                    f"min_<objective> with an objective in {self.objective_names_}."
                )
            value = trial.values[self.objective_names_.index(name)]
            if (kind == "max" and value > limit) or (kind == "min" and value < limit):
                return False
        return True

    def plot(self, kind="history", *, path=None):
        """Plot the study with Optuna's matplotlib visualisations.

        Parameters
        ----------
        kind : {"history", "importances", "pareto"}, default="history"
            Optimisation history of the first objective, parameter
            importances (fANOVA) for the first objective, or the Pareto front
            (two or three objectives).
        path : str, path-like or None, default=None
            Save the figure there (PNG by extension) as well.

        Returns
        -------
        ax : matplotlib.axes.Axes
        """
        try:
            from optuna.visualization import matplotlib as plots
        except ImportError as exc:  # pragma: no cover
            raise ImportError("plot needs matplotlib: pip install matplotlib") from exc
        multi = len(self.objective_names_) > 1
        first = dict(target=lambda t: t.values[0], target_name=self.objective_names_[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if kind == "history":
                ax = plots.plot_optimization_history(
                    self.study_, **(first if multi else {})
                )
            elif kind == "importances":
                ax = plots.plot_param_importances(
                    self.study_,
                    # fANOVA is direction-agnostic (PED-ANOVA assumes minimising).
                    evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
                    **(first if multi else {}),
                )
            elif kind == "pareto" and multi:
                ax = plots.plot_pareto_front(
                    self.study_, target_names=self.objective_names_
                )
            else:
                raise ValueError(
                    f"kind must be 'history', 'importances' or (with several "
                    f"objectives) 'pareto', got {kind!r}."
                )
        if path is not None:
            ax.figure.savefig(path, dpi=100, bbox_inches="tight")
        return ax

    def __repr__(self):
        return (
            f"TuningResult(trials={len(self.study_.trials)}, "
            f"best={self.best_values_}, pareto_front={len(self.pareto_front_)})"
        )

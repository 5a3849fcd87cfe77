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

import ast
import copy
import difflib
import math
import numbers
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from functools import reduce

import numpy as np
from sklearn.base import clone
from sklearn.metrics import get_scorer, get_scorer_names
from sklearn.model_selection import check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.validation import _num_samples
from skorch.callbacks import Callback

try:
    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )
    from optuna.trial import TrialState
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "sklensemble.tuning needs Optuna and optuna-integration; install them "
        'with: pip install "sklensemble[tuning]"'
    ) from exc

from ._boosting import LightGBMClassifier, XGBoostClassifier
from ._ensemble import SoftVotingEnsemble
from ._neural import AttentionLSTMClassifier, TransformerClassifier
from ._splits import purge_validation_tails
from ._windowing import SequenceWindower

__all__ = ["TuningResult", "decode_params", "default_search_space", "tune"]

# Attention heads are drawn from these, restricted to the divisors of every
# width choice, so that any combination OptunaSearchCV samples is valid.
_HEAD_CHOICES = (1, 2, 4, 8)
# Intermediate values of one trial are one series of steps in Optuna. Each
# step encodes (fold, slot, local step): slot _SCORE_SLOT holds the running
# mean score after each fold (local step = fold), slots 0.. the per-epoch
# validation loss of each network (local step = epoch). Steps grow in the
# order reports happen, so Optuna's ``last_step`` is the latest report.
_SLOT_STRIDE = 10_000
_SCORE_SLOT = 99
_FOLD_STRIDE = (_SCORE_SLOT + 1) * _SLOT_STRIDE
# Objectives that are not scikit-learn scorers, and their direction.
_TIME_OBJECTIVES = ("fit_time", "predict_time")
# Tries at creating or joining a study in a shared database.
_CREATE_ATTEMPTS = 5
_MLFLOW_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


# -- search spaces ----------------------------------------------------------
def default_search_space(pipe):
    """Optuna distributions for every tunable member of a pipeline.

    Walks ``pipe`` (a :class:`~sklearn.pipeline.Pipeline`, a
    :class:`~sklensemble.SoftVotingEnsemble` or a single member) and returns
    distributions keyed by the nested parameter names, for each member that
    is present and not ``"drop"``:

    - XGBoost: ``max_depth``, ``learning_rate``, ``n_estimators``,
      ``early_stopping_rounds``, ``subsample``, ``colsample_bytree``,
      ``min_child_weight``;
    - LightGBM: ``num_leaves``, ``learning_rate``, ``n_estimators``,
      ``early_stopping_rounds``, ``subsample``, ``colsample_bytree``,
      ``min_child_samples``;
    - attention-LSTM: ``hidden_size``, ``num_layers``, ``num_heads``,
      ``dropout``, ``lr``, ``weight_decay``, ``batch_size``;
    - Transformer: ``d_model``, ``num_layers``, ``num_heads``, ``dropout``,
      ``lr``, ``weight_decay``, ``batch_size``;
    - ``SequenceWindower``: ``sequence_length``;
    - the ensemble: ``weights``, when two or more members are active.

    Sizes (tree count, widths, layers, batch size, sequence length) are
    centred on the pipeline's current values (half, same, double; one layer
    fewer or more), so a ``preset="fast"`` pipeline is searched at CPU sizes
    and a ``preset="default"`` one around the design's sizes. Rates and
    regularisation use fixed ranges.

    Every distribution is sampled independently (as ``OptunaSearchCV``
    does), so constraints live in the choice sets: ``num_heads`` is drawn
    from the divisors of every ``d_model`` (and ``2 * hidden_size``) choice.
    ``weights`` is a categorical over whole weight settings: ``None``
    (equal), ``"auto"`` (learned on the time-ordered tail; fitting costs
    about twice as much) and one tuple per active member that doubles its
    weight (tuples are aligned with ``estimators``; a dropped member gets 0).

    Parameters
    ----------
    pipe : estimator
        Typically :func:`~sklensemble.make_ensemble_pipeline`'s pipeline.

    Returns
    -------
    search_space : dict of str to optuna.distributions.BaseDistribution
        Keys are valid for ``pipe.set_params``.

    Raises
    ------
    ValueError
        If ``pipe`` holds no sklensemble member to tune.

    Notes
    -----
    Optuna recommends categorical choices of ``None``, bool, int, float and
    str for persistent storages; the weight tuples are not. :func:`tune`
    stores them as their text, e.g. ``"(1, 2, 1, 1)"`` (so any storage works
    and no warning is raised); :func:`decode_params` turns the parameters
    of a stored trial back into ``set_params`` form. With ``OptunaSearchCV``
    keep the default in-memory study.

    Examples
    --------
    >>> from sklensemble import make_ensemble_pipeline
    >>> from sklensemble.tuning import default_search_space
    >>> pipe = make_ensemble_pipeline(preset="fast", sequence_length=20)
    >>> space = default_search_space(pipe)
    >>> space["ensemble__transformer__net__d_model"].choices
    (8, 16, 32)
    >>> space["ensemble__transformer__net__num_heads"].choices
    (1, 2, 4, 8)
    >>> space["ensemble__lstm__window__sequence_length"].choices
    (10, 20, 40)
    >>> pipe.set_params(ensemble__transformer="drop")  # doctest: +ELLIPSIS
    Pipeline(...)
    >>> any("transformer" in key for key in default_search_space(pipe))
    False
    """
    space = {}
    for prefix, est in _walk(pipe):
        for name, dist in _member_space(est).items():
            space[prefix + name] = dist
    if not space:
        raise ValueError(
            f"{type(pipe).__name__} holds no sklensemble member to tune "
            "(XGBoostClassifier, LightGBMClassifier, AttentionLSTMClassifier, "
            "TransformerClassifier, SequenceWindower, SoftVotingEnsemble); "
            "pass search_space explicitly."
        )
    return space


def _walk(est, prefix=""):
    """Yield ``(param_prefix, estimator)`` for est and its active parts."""
    if isinstance(est, Pipeline):
        for name, step in est.steps:
            if not _is_dropped(step):
                yield from _walk(step, f"{prefix}{name}__")
        return
    yield prefix, est
    if isinstance(est, SoftVotingEnsemble):
        for name, member in est.estimators:
            if not _is_dropped(member):
                yield from _walk(member, f"{prefix}{name}__")


def _is_dropped(est):
    return est is None or (isinstance(est, str) and est in ("drop", "passthrough"))


def _member_space(est):
    for cls, builder in _SPACE_BUILDERS:
        if isinstance(est, cls):
            return builder(est)
    return {}


def _around(value, minimum=1):
    """Half, same and double of an integer size, deduplicated and sorted."""
    return tuple(sorted({max(minimum, value // 2), value, max(minimum, 2 * value)}))


def _layers(value):
    return IntDistribution(max(1, value - 1), value + 1)


def _heads_dividing(widths):
    """Head counts that divide every width in ``widths``."""
    common = reduce(math.gcd, widths)
    return tuple(h for h in _HEAD_CHOICES if common % h == 0)


def _tree_space(est):
    low = max(10, est.n_estimators // 2)
    return {
        "learning_rate": FloatDistribution(0.01, 0.3, log=True),
        "n_estimators": IntDistribution(low, max(low + 1, 2 * est.n_estimators)),
        "early_stopping_rounds": CategoricalDistribution((10, 20, 50)),
        "subsample": FloatDistribution(0.5, 1.0),
        "colsample_bytree": FloatDistribution(0.5, 1.0),
    }


def _xgboost_space(est):
    return {
        "max_depth": IntDistribution(2, 8),
        **_tree_space(est),
        "min_child_weight": FloatDistribution(0.5, 10.0, log=True),
    }


def _lightgbm_space(est):
    return {
        "num_leaves": IntDistribution(7, 63, log=True),
        **_tree_space(est),
        "min_child_samples": IntDistribution(5, 100, log=True),
    }


def _training_space(est):
    return {
        "dropout": FloatDistribution(0.0, 0.5),
        "lr": FloatDistribution(1e-4, 1e-2, log=True),
        "weight_decay": FloatDistribution(1e-5, 1e-1, log=True),
        "batch_size": CategoricalDistribution(_around(est.batch_size, minimum=8)),
    }


def _lstm_space(est):
    hidden = _around(est.hidden_size, minimum=2)
    return {
        "hidden_size": CategoricalDistribution(hidden),
        "num_layers": _layers(est.num_layers),
        # Attention runs on 2 * hidden_size (two directions).
        "num_heads": CategoricalDistribution(_heads_dividing([2 * h for h in hidden])),
        **_training_space(est),
    }


def _transformer_space(est):
    widths = _around(est.d_model, minimum=2)
    return {
        "d_model": CategoricalDistribution(widths),
        "num_layers": _layers(est.num_layers),
        "num_heads": CategoricalDistribution(_heads_dividing(widths)),
        **_training_space(est),
    }


def _windower_space(est):
    lengths = _around(est.sequence_length, minimum=2)
    return {"sequence_length": CategoricalDistribution(lengths)}


def _ensemble_space(est):
    active = [i for i, (_, m) in enumerate(est.estimators) if not _is_dropped(m)]
    if len(active) < 2:
        return {}
    emphasis = []
    for i in active:
        vector = [0] * len(est.estimators)
        for j in active:
            vector[j] = 2 if j == i else 1
        emphasis.append(tuple(vector))
    with warnings.catch_warnings():
        # Optuna warns that tuples do not persist in RDB storages; tune()
        # encodes them as strings, and OptunaSearchCV keeps them in memory.
        warnings.simplefilter("ignore", UserWarning)
        return {"weights": CategoricalDistribution([None, "auto", *emphasis])}


_SPACE_BUILDERS = (
    (XGBoostClassifier, _xgboost_space),
    (LightGBMClassifier, _lightgbm_space),
    (AttentionLSTMClassifier, _lstm_space),
    (TransformerClassifier, _transformer_space),
    (SequenceWindower, _windower_space),
    (SoftVotingEnsemble, _ensemble_space),
)


class _Space:
    """A search space checked against the pipeline, with Optuna-safe choices.

    Categorical choices that are not None/bool/int/float/str (weight tuples)
    are suggested as their ``repr`` and decoded back, so that every Optuna
    storage can persist them; :func:`decode_params` decodes the literal ones
    without this object.
    """

    def __init__(self, space, pipe):
        if not isinstance(space, dict) or not space:
            raise ValueError(
                "search_space must be a non-empty dict of parameter name to "
                f"optuna distribution, got {space!r}; see default_search_space."
            )
        valid = pipe.get_params(deep=True)
        self.distributions, self.decoders = {}, {}
        for name, dist in space.items():
            _check_param_name(name, valid)
            if not isinstance(dist, BaseDistribution):
                raise ValueError(
                    f"search_space[{name!r}] must be an optuna distribution "
                    "(FloatDistribution, IntDistribution, "
                    f"CategoricalDistribution), got {dist!r}."
                )
            self.distributions[name], self.decoders[name] = _encode(name, dist)

    def sample(self, trial):
        return self.decode(
            {n: _suggest(trial, n, d) for n, d in self.distributions.items()}
        )

    def decode(self, params):
        return {
            name: self.decoders.get(name, {}).get(value, value)
            if isinstance(value, str)
            else value
            for name, value in params.items()
        }


def decode_params(params):
    """Parameters of a stored trial, as ``set_params`` takes them.

    :func:`tune` stores categorical choices that Optuna cannot persist
    (tuples such as the ensemble's weight settings, lists, dicts) as their
    ``repr``. A study read back without :class:`TuningResult` (another
    worker, ``optuna.load_study``, the Optuna dashboard) holds that text;
    this function turns it back into the value. A string is decoded when
    it is exactly the ``repr`` of a tuple, list or dict literal; every other
    value is returned unchanged. Choices that are not literals (estimators,
    arrays) stay text: use :meth:`TuningResult.params_of` for those.

    Parameters
    ----------
    params : dict of str to object
        For example ``optuna.load_study(...).best_params`` or a trial's
        ``params``.

    Returns
    -------
    params : dict of str to object
        A new dict, ready for ``pipe.set_params(**params)``.

    Examples
    --------
    >>> from sklensemble.tuning import decode_params
    >>> decode_params({"ensemble__weights": "(1, 2, 1, 1)", "clf__C": 0.5})
    {'ensemble__weights': (1, 2, 1, 1), 'clf__C': 0.5}
    >>> decode_params({"ensemble__weights": "auto"})
    {'ensemble__weights': 'auto'}
    """
    return {name: _decode_value(value) for name, value in params.items()}


def _decode_value(value):
    if not isinstance(value, str) or not value.startswith(("(", "[", "{")):
        return value
    try:
        decoded = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return value
    # Only an exact round trip: a string that merely looks like a literal
    # (other spacing, a set, an expression) was a string choice.
    if isinstance(decoded, (tuple, list, dict)) and repr(decoded) == value:
        return decoded
    return value


def _check_param_name(name, valid):
    if name not in valid:
        close = difflib.get_close_matches(name, list(valid), n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"search_space has {name!r}, which is not a parameter of the "
            f"pipeline.{hint} Parameter names are listed by pipe.get_params()."
        )


def _is_plain(choice):
    return choice is None or isinstance(choice, (bool, int, float, str))


def _encode(name, dist):
    """Distribution with plain choices, and {label: original choice}."""
    if not isinstance(dist, CategoricalDistribution) or all(
        map(_is_plain, dist.choices)
    ):
        return dist, {}
    labels = [c if _is_plain(c) else repr(c) for c in dist.choices]
    if len(set(labels)) != len(labels):
        raise ValueError(
            f"search_space[{name!r}] has choices whose text forms collide: "
            f"{labels}; make them distinct."
        )
    decoder = {
        lab: c for lab, c in zip(labels, dist.choices, strict=True) if lab is not c
    }
    return CategoricalDistribution(labels), decoder


def _suggest(trial, name, dist):
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(
            name, dist.low, dist.high, step=dist.step, log=dist.log
        )
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(
            name, dist.low, dist.high, step=dist.step, log=dist.log
        )
    raise ValueError(f"search_space[{name!r}]: unsupported distribution {dist!r}.")


# -- objectives and cross-validation ----------------------------------------
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


def _time_ordered_folds(cv, X, y):
    """``cv``'s folds sorted by test start; refuse shuffled splitters."""
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        raise ValueError(
            f"cv={cv} is refused: an integer would make an unpurged "
            "TimeSeriesSplit, whose training labels look into its test rows. "
            f"Pass sklensemble.PurgedWalkForwardSplit(n_splits={cv}, "
            "purge=<label horizon>), as walk_forward takes, or "
            f"TimeSeriesSplit({cv}, gap=<label horizon>)."
        )
    if getattr(cv, "shuffle", False):
        raise ValueError(
            f"cv={cv!r} shuffles rows, which trains on the future of its test "
            "rows; use TimeSeriesSplit or sklensemble.PurgedWalkForwardSplit."
        )
    folds = [
        (np.asarray(train), np.asarray(test))
        for train, test in check_cv(cv, y, classifier=True).split(X, y)
    ]
    if not folds:
        raise ValueError(f"cv={cv!r} produced no folds.")
    for _, test in folds:
        if len(test) == 0 or np.any(np.diff(test) <= 0):
            raise ValueError(
                f"cv={cv!r} yields test rows out of time order (a shuffled "
                "split); use TimeSeriesSplit or sklensemble.PurgedWalkForwardSplit."
            )
    when = _row_times(cv, X)
    if any(len(tr) and when[tr].max() > when[te].min() for tr, te in folds):
        warnings.warn(
            f"cv={cv!r} trains on rows after its test rows (look-ahead on "
            "time series); prefer TimeSeriesSplit or PurgedWalkForwardSplit.",
            UserWarning,
            stacklevel=3,
        )
    return sorted(folds, key=lambda fold: when[fold[1]].min())


def _row_times(cv, X):
    """Each row's place in time: its date rank on a panel, else its position.

    A panel's rows may be grouped by instrument, so row positions do not
    follow time; the panel is read as ``cv`` reads it.
    """
    from ._panel import panel_keys

    keys = panel_keys(X, getattr(cv, "instrument", None), getattr(cv, "date", None))
    return np.arange(_num_samples(X)) if keys is None else keys.date


# -- pruning ----------------------------------------------------------------
def _score_step(fold):
    return fold * _FOLD_STRIDE + _SCORE_SLOT * _SLOT_STRIDE + fold


def _epoch_step(fold, slot, epoch):
    # skorch counts epochs from 1; local steps count from 0 like folds, so
    # that a pruner's n_warmup_steps=k means k folds or k epochs.
    return fold * _FOLD_STRIDE + slot * _SLOT_STRIDE + min(epoch - 1, _SLOT_STRIDE - 1)


def _decode_step(step):
    """``(series, local_step)``: one series for fold scores, one per net and fold."""
    fold, rest = divmod(step, _FOLD_STRIDE)
    slot, local = divmod(rest, _SLOT_STRIDE)
    return ("score", local) if slot == _SCORE_SLOT else ((slot, fold), local)


def _series_view(trial, series):
    """A copy of ``trial`` whose intermediate values are one series, renumbered."""
    view = copy.copy(trial)
    values = {}
    for step, value in trial.intermediate_values.items():
        key, local = _decode_step(step)
        if key == series:
            values[local] = value
    view.intermediate_values = values
    return view


class _SeriesStudy:
    """The study as a pruner sees it: every trial reduced to one series."""

    def __init__(self, study, series):
        self._study, self._series = study, series

    def __getattr__(self, name):
        return getattr(self._study, name)

    def get_trials(self, deepcopy=True, states=None):
        trials = self._study.get_trials(deepcopy=False, states=states)
        return [_series_view(t, self._series) for t in trials]

    @property
    def trials(self):
        return self.get_trials()


class _SeriesPruner(optuna.pruners.BasePruner):
    """Run a pruner on one series of intermediate values at a time.

    A trial reports two kinds of values: the running mean score after each
    fold, and each network's validation loss after each epoch. Optuna
    pruners compare a trial's best value *over all its steps* with other
    trials at the current step, so mixing kinds would compare a loss with a
    score. This wrapper shows the pruner only the series of the latest
    report, renumbered from 0 (fold 0, 1, ... or epoch 1, 2, ... as 0, 1,
    ...), so ``MedianPruner(n_warmup_steps=1)`` leaves the first fold and
    every network's first epoch unjudged.
    """

    def __init__(self, pruner):
        self.pruner = pruner

    def prune(self, study, trial):
        if trial.last_step is None:
            return False
        series, _ = _decode_step(trial.last_step)
        return self.pruner.prune(
            _SeriesStudy(study, series), _series_view(trial, series)
        )


class _TrialReporter:
    """Reports a trial's intermediate values (thread-safe, once per step)."""

    def __init__(self, trial, sign):
        self.trial, self.sign = trial, sign
        self._seen = set()
        self._lock = threading.Lock()

    def report(self, value, step, where):
        with self._lock:
            if step in self._seen:  # e.g. the second fit of weights="auto"
                return
            self._seen.add(step)
            self.trial.report(float(value), step)
            prune = self.trial.should_prune()
        if prune:
            raise optuna.TrialPruned(f"Pruned at {where}.")


class _EpochPruning(Callback):
    """skorch callback: report the validation loss per epoch, maybe prune.

    Shared, not copied, by ``clone`` (the ensemble clones its members), and
    pickled without its trial.
    """

    def __init__(self, reporter=None, slot=0, fold=0, member=""):
        self.reporter = reporter
        self.slot = slot
        self.fold = fold
        self.member = member

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        if self.reporter is None or "valid_loss" not in row:
            return
        epoch = row["epoch"]
        self.reporter.report(
            self.reporter.sign * row["valid_loss"],
            _epoch_step(self.fold, self.slot, epoch),
            f"epoch {epoch} of {self.member!r} in fold {self.fold}",
        )

    def __sklearn_clone__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __getstate__(self):
        return {**self.__dict__, "reporter": None}


def _network_paths(pipe):
    """Parameter prefixes of the networks, in fitting order."""
    return [
        prefix
        for prefix, est in _walk(pipe)
        if isinstance(est, (AttentionLSTMClassifier, TransformerClassifier))
    ]


# -- the trial --------------------------------------------------------------
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


# -- MLflow -----------------------------------------------------------------
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


@contextmanager
def _quiet_ensemble_details():
    """Keep trial fits from logging ensemble details into an active run.

    ``SoftVotingEnsemble.fit`` logs its details to the active MLflow run
    (sklensemble.tracking); a trial's fold fits would pile them into the
    study's parent run (or the caller's). The refit of the best model,
    outside this block, still logs them.
    """
    if "mlflow" not in sys.modules:  # the ensemble logs nothing then
        yield
        return
    from . import tracking

    before = tracking._OPTIONS["log_ensemble_details"]
    tracking._OPTIONS["log_ensemble_details"] = False
    try:
        yield
    finally:
        tracking._OPTIONS["log_ensemble_details"] = before


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


# -- studies and execution --------------------------------------------------
def _seed(random_state):
    if random_state is None or isinstance(random_state, numbers.Integral):
        return random_state
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _make_sampler(sampler, seed):
    return optuna.samplers.TPESampler(seed=seed) if sampler is None else sampler


def _make_pruner(pruner, objectives):
    if len(objectives) > 1:
        if pruner is not None:
            raise ValueError(
                "Pruning is not available in multi-objective studies (Optuna "
                "forbids trial.report there); pass pruner=None."
            )
        return optuna.pruners.NopPruner()
    if pruner is None:
        # The first fold and first epoch are noisy (a good learning rate can
        # have the worst first-epoch loss): judge from the second on.
        pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if not isinstance(pruner, optuna.pruners.BasePruner):
        raise ValueError(f"pruner must be an optuna pruner, got {pruner!r}.")
    return _SeriesPruner(pruner)


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
    study, objective, *, mode, n_trials, timeout, n_jobs, callbacks, progress
):
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
            study._storage,
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
            import mlflow as mlflow_module

            trial_callbacks.append(
                _MlflowTrialLogger(
                    mlflow_module.get_tracking_uri(),
                    run.info.experiment_id,
                    run.info.run_id,
                    [obj.name for obj in objs],
                )
            )
        with _quiet_ensemble_details():
            _optimize(
                study,
                objective,
                mode=mode,
                n_trials=n_trials,
                timeout=timeout,
                n_jobs=n_jobs,
                callbacks=trial_callbacks,
                progress=show_progress_bar and mode == "local",
            )
        _check_any_complete(study)
        if mode != "local" and shared is not storage:  # DaskStorage: keep a copy
            study = _copy_to_memory(study)
        result = TuningResult(study, pipe, space, objs)
        if refit:
            result._refit(X, y)
        if run is not None:
            _log_parent_result(run, result)
    return result


def _copy_to_memory(study):
    memory = optuna.storages.InMemoryStorage()
    optuna.copy_study(
        from_study_name=study.study_name,
        from_storage=study._storage,
        to_storage=memory,
    )
    return optuna.load_study(
        study_name=study.study_name,
        storage=memory,
        sampler=study.sampler,
        pruner=study.pruner,
    )


# -- the result -------------------------------------------------------------
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

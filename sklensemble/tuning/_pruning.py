"""Pruning after each fold and each network epoch, one series at a time.

A trial reports two kinds of intermediate values into Optuna's one series
of steps: the running mean score after each fold and each network's
validation loss after each epoch. The step numbers encode which series a
value belongs to; ``_SeriesPruner`` shows the user's pruner one series at
a time. ``_EpochPruning`` is the skorch callback that reports epochs.
"""

import copy
import threading

import optuna
from skorch.callbacks import Callback

# Intermediate values of one trial are one series of steps in Optuna. Each
# step encodes (fold, slot, local step): slot _SCORE_SLOT holds the running
# mean score after each fold (local step = fold), slots 0.. the per-epoch
# validation loss of each network (local step = epoch). Steps grow in the
# order reports happen, so Optuna's ``last_step`` is the latest report.
_SLOT_STRIDE = 10_000
_SCORE_SLOT = 99
_FOLD_STRIDE = (_SCORE_SLOT + 1) * _SLOT_STRIDE


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

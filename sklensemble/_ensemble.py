"""SoftVotingEnsemble: weighted soft voting over boosters and sequence networks.

scikit-learn's ``VotingClassifier`` (soft voting) is the reference; this
class keeps its conventions (``estimators`` as ``(name, estimator)`` pairs,
``"drop"``, nested ``get_params``/``set_params``, ``transform``) and adds
what an ensemble of trees and torch networks on market time series needs:
weights learned on the time-ordered tail, probability columns aligned when a
member saw fewer classes, thread-aware concurrent fitting that stays
deterministic, feature importances combined across members, and errors that
name the member that failed.
"""

import numbers
import threading
import time
from contextlib import contextmanager

import numpy as np
import pandas as pd
from joblib import cpu_count, effective_n_jobs
from scipy.optimize import minimize
from scipy.sparse import issparse
from sklearn.base import ClassifierMixin, TransformerMixin, clone, is_classifier
from sklearn.ensemble._base import _BaseHeterogeneousEnsemble
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch, check_random_state, get_tags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._repr_html.estimator import _VisualBlock
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import (
    _check_feature_names,
    _check_feature_names_in,
    _check_n_features,
    _check_sample_weight,
    check_array,
    column_or_1d,
    has_fit_parameter,
    validate_data,
)

from ._hooks import member_fits, run_fit_hooks
from ._interrupt import check_stop, current_stop, discard_fit, stop_on
from ._panel import panel_keys, take_rows
from ._utils import _EPS, _final_step, _log_loss, _nonzero_weights
from ._validation import (
    check_missing_values,
    check_time_order,
    tail_rows,
    tail_split,
)

# Shuffles per feature for permutation importance (cost: this many
# predictions of the validation tail per feature and per member).
_PERMUTATION_REPEATS = 3
# Tail rows kept for permutation importances (the last of the tail).
_MAX_IMPORTANCE_ROWS = 2000
# Why fit needs rows in time order (for the error on a shuffled index).
# Parameter names through which estimators set their thread count.
_THREAD_PARAMS = ("n_jobs", "nthread", "nthreads", "num_threads", "num_thread")


class SoftVotingEnsemble(ClassifierMixin, TransformerMixin, _BaseHeterogeneousEnsemble):
    """Weighted soft voting over tabular and sequence classifiers.

    Every member is a clone of an unfitted classifier with ``predict_proba``;
    the ensemble's probabilities are the weighted mean of the members'. A
    member may be a :class:`~sklearn.pipeline.Pipeline`, for example
    ``make_pipeline(SequenceWindower(60), AttentionLSTMClassifier())``: all
    members receive the same 2D rows in time order, and sequence members
    build their windows themselves.

    Read more in ``docs/estimators.md`` ("SoftVotingEnsemble").

    Parameters
    ----------
    estimators : list of (str, estimator)
        Named members. Clones are fitted; the given estimators are never
        touched. A member set to ``"drop"`` is left out. Names must be
        unique, must not contain ``"__"`` and must not be a parameter name
        of this class.

    weights : array-like of shape (n_estimators,), dict, "auto" or None, \
            default=None
        Weight of each member in the mean of probabilities, normalised to
        sum to 1 over the members that are not ``"drop"``:

        - ``None``: equal weights;
        - a sequence aligned with ``estimators`` (dropped members included,
          their weights ignored), or a dict ``{name: weight}`` naming every
          member that is not dropped. Weights must be finite, non-negative
          and not all zero;
        - ``"auto"``: weights that minimise the log-loss of the weighted
          probabilities on the last ``validation_fraction`` of the rows,
          constrained to the simplex (SLSQP). Members are first fitted on
          the leading rows (up to the ``validation_gap`` rows before the
          tail), the weights are learned on the tail, then the final members
          are refitted on **all** rows: fitting costs about twice as much.

    validation_fraction : float, default=0.2
        Share of the **last** rows (time order) that validates: the rows on
        which ``weights="auto"`` learns the weights and on which permutation
        importances are measured.

    validation_gap : int, default=0
        Rows (dates, on a panel) right before that tail on which the members
        of ``weights="auto"`` do not train: set it to the label horizon, so
        that no training label looks into the tail (the ``purge`` of
        :class:`~sklensemble.PurgedWalkForwardSplit`). It is the ensemble's
        own: every member keeps its own ``validation_gap`` for its early
        stopping (:func:`~sklensemble.make_ensemble_pipeline` sets them all
        from its ``horizon``).

    importance : {"auto", "fit"} or None, default="auto"
        How :meth:`get_feature_importance` gets each member's importances.
        Members exposing ``feature_importances_`` (tree members, also as the
        final step of a Pipeline whose earlier steps keep the input columns)
        use it. The other members (sequence networks, linear models, ...)
        get permutation importances: each input column is shuffled across
        the scored rows before they enter the member (for a SequenceWindower
        member this shuffles the feature at every time step of its windows),
        and the mean rise of the log-loss over 3 shuffles is the importance.
        It costs ``3 * n_features`` predictions of those rows per such member
        (for the ``"fast"`` pipeline on a CPU, about half its fit time). The
        fitted ensemble never keeps training rows or labels, only the
        resulting numbers:

        - ``"auto"``: nothing is measured during ``fit``;
          ``get_feature_importance(X, y)`` measures them on the rows you pass
          (e.g. rows held out from training). Without rows these members
          have none;
        - ``"fit"``: measured at the end of ``fit`` on the last 2,000 rows of
          the tail (the last ``validation_fraction`` of the rows). The final
          members trained on these rows too: it shows what each member
          relies on, not a held-out estimate;
        - ``None``: never measured.

    n_jobs : int or None, default=None
        Members fitted at the same time, in threads (XGBoost, LightGBM and
        torch release the GIL). ``None`` means 1 unless in a
        :func:`joblib.parallel_config` context; ``-1`` means as many as
        there are CPU cores. See "Concurrency" in the Notes.

    random_state : int, RandomState instance or None, default=None
        Seeds the shuffles of the permutation importances. Members keep
        their own ``random_state``.

    verbose : bool, default=False
        Print each member's fit time as it finishes.

    Attributes
    ----------
    estimators_ : list of classifiers
        The fitted members that are not ``"drop"``, in the given order. They
        are fitted on ``y`` encoded as ``0..n_classes-1`` (indices into
        ``classes_``).

    named_estimators_ : :class:`~sklearn.utils.Bunch`
        Fitted members by name; dropped members map to ``"drop"``.

    weights_ : dict of str to float
        Weight used for each member that is not dropped (same order as
        ``estimators_``), summing to 1; learned when ``weights="auto"``.

    fit_times_ : dict of str to float
        Seconds each final member took to fit (wall clock; concurrent
        members overlap).

    classes_ : ndarray of shape (n_classes,)
        Class labels.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column
        names.

    See Also
    --------
    sklearn.ensemble.VotingClassifier : The reference soft/hard voting.
    XGBoostClassifier, LightGBMClassifier : Tree members that early-stop on
        the time-ordered tail.

    Notes
    -----
    **Labels.** ``y`` may hold any labels (``"buy"``/``"hold"``/``"sell"``,
    ``-1``/``0``/``1``, ...); they are encoded once and ``predict`` returns
    the original labels. Probability columns always follow ``classes_``:
    when a member saw fewer classes (its training rows lacked one), its
    columns are placed under its classes and the missing ones are 0.

    **Inputs.** ``X`` is validated once (numeric, 2D; NaN allowed when every
    member allows it, a Pipeline member when all its steps do; sparse when
    every member accepts it) and members get
    the validated array, not the DataFrame; the ensemble checks feature
    names itself.

    **Concurrency.** Members run in "lanes": all torch members (final step
    marked ``_torch_member``) share one lane and fit one after another,
    because each uses all of torch's intra-op threads; every other member
    has a lane of its own. Up to ``n_jobs`` lanes run at once. The networks
    draw from private streams of torch's random generators, so concurrent
    fitting gives them the very same weights and probabilities as
    sequential fitting with the same ``random_state`` values. When ``k > 1``
    lanes run side by side on ``C`` cores (:func:`joblib.cpu_count`), the
    other members' own threads are capped at ``max(1, C // k)``: thread
    parameters (``n_jobs``, ``nthread``, ``num_threads``; also inside
    Pipelines) of the clones are lowered to that value (a booster's
    probabilities may then differ in the last digits: thread counts change
    floating-point summation order). torch's thread count is never
    changed: it is process-wide, and a network's floats depend on it. With
    ``n_jobs=None`` nothing is changed.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklensemble import SoftVotingEnsemble, XGBoostClassifier
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> labels = ["sell", "buy"]
    >>> y = [labels[i] for i in y]
    >>> ensemble = SoftVotingEnsemble(
    ...     [("xgb", XGBoostClassifier(n_estimators=20, n_jobs=1, random_state=0)),
    ...      ("logreg", LogisticRegression())],
    ...     weights={"xgb": 3, "logreg": 1},
    ... ).fit(X, y)
    >>> ensemble.weights_
    {'xgb': 0.75, 'logreg': 0.25}
    >>> ensemble.predict_proba(X[:2]).shape
    (2, 2)
    >>> ensemble.classes_.tolist()
    ['buy', 'sell']
    >>> importance = ensemble.get_feature_importance(X, y)  # logreg: permutation
    >>> round(float(importance.sum()), 6)
    1.0
    """

    _parameter_constraints = {
        "estimators": [list],
        "weights": ["array-like", dict, StrOptions({"auto"}), None],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "validation_gap": [Interval(numbers.Integral, 0, None, closed="left")],
        "importance": [StrOptions({"auto", "fit"}), None],
        "n_jobs": [numbers.Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimators,
        *,
        weights=None,
        validation_fraction=0.2,
        validation_gap=0,
        importance="auto",
        n_jobs=None,
        random_state=None,
        verbose=False,
    ):
        super().__init__(estimators=estimators)
        self.weights = weights
        self.validation_fraction = validation_fraction
        self.validation_gap = validation_gap
        self.importance = importance
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # -- validation -------------------------------------------------------
    def _validate_estimators(self):
        """Return names and estimators, or raise on an invalid ``estimators``."""
        if not self.estimators or not all(
            isinstance(item, tuple | list)
            and len(item) == 2
            and isinstance(item[0], str)
            for item in self.estimators
        ):
            raise ValueError(
                "estimators must be a non-empty list of (name, estimator) "
                f"pairs with string names, got {self.estimators!r}."
            )
        names, estimators = zip(*self.estimators, strict=True)
        self._validate_names(names)
        for name, est in zip(names, estimators, strict=True):
            if isinstance(est, type):
                raise TypeError(
                    f"Member {name!r} is the class {est.__name__}; pass an "
                    f"estimator instance ({est.__name__}()) instead."
                )
        if all(_is_drop(est) for est in estimators):
            raise ValueError(
                "All estimators are dropped. At least one member must be an "
                "estimator rather than 'drop'."
            )
        for name, est in zip(names, estimators, strict=True):
            if _is_drop(est):
                continue
            if not is_classifier(est):
                raise ValueError(
                    f"Member {name!r} ({type(est).__name__}) is not a "
                    "classifier; every member must be a classifier (or a "
                    "Pipeline ending in one)."
                )
            if not hasattr(est, "predict_proba"):
                raise ValueError(
                    f"Member {name!r} ({type(est).__name__}) has no "
                    "predict_proba, which soft voting needs; enable "
                    "probabilities (e.g. SVC(probability=True)) or wrap it "
                    "in sklearn.calibration.CalibratedClassifierCV."
                )
        return list(names), list(estimators)

    def _resolve_weights(self, names, active):
        """Normalised weights of the active members, or the string "auto"."""
        weights = self.weights
        if isinstance(weights, str):
            return weights
        if weights is None:
            values = [1.0] * len(active)
        elif isinstance(weights, dict):
            values = _weights_from_dict(weights, names, active)
        else:
            weights = list(weights)
            if len(weights) != len(names):
                raise ValueError(
                    "Number of estimators and weights must be equal; got "
                    f"{len(weights)} weights for {len(names)} estimators. Pass "
                    "a weight for every member (dropped ones included) or a "
                    "dict {name: weight}."
                )
            position = {name: i for i, name in enumerate(names)}
            values = [weights[position[name]] for name in active]
        return _normalise_weights(values, active)

    def _check_fitted(self):
        """check_is_fitted without its walk over every member's tags.

        scikit-learn's check reads the ``requires_fit`` tag first, which for
        an ensemble means the tags of every member (about 2 ms for the
        four-member pipeline): too much for a per-bar prediction.
        """
        if not hasattr(self, "estimators_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call "
                "'fit' with appropriate arguments before using this estimator."
            )

    def _validate_X(self, X, y="no_validation", reset=True):
        """validate_data with the input kinds every member accepts.

        The accepted kinds come from the members' tags, a recursive walk that
        costs about a millisecond on the four-member pipeline: it is done at
        fit and reused at predict, where single-row latency matters.
        """
        keys = panel_keys(X)
        if keys is None:  # panels are ordered by their dates
            check_time_order(X)
        if reset:
            tags = self.__sklearn_tags__().input_tags
            self._input_spec = dict(
                accept_sparse=("csr", "csc") if tags.sparse else False,
                dtype=(np.float64, np.float32),
                ensure_all_finite="allow-nan" if tags.allow_nan else True,
            )
            with _rows_named_on_nan(X, keys):
                Xv, y = validate_data(self, X, y, reset=True, **self._input_spec)
            return _keep_panel(Xv, X, keys), y, keys
        # validate_data(reset=False) without its own walk over the tags.
        _check_feature_names(self, X, reset=False)
        with _rows_named_on_nan(X, keys):
            Xv = check_array(X, input_name="X", estimator=self, **self._input_spec)
        _check_n_features(self, Xv, reset=False)
        return _keep_panel(Xv, X, keys)

    # -- fit --------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit clones of the members (and the weights, if ``"auto"``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows in time order. A DataFrame whose DatetimeIndex
            (or integer index) decreases somewhere is rejected: its rows
            were shuffled, e.g. by a search that subsamples them.
        y : array-like of shape (n_samples,)
            Class labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, passed to every member's ``fit`` (for a Pipeline,
            to its final step; a :class:`SequenceWindower` keeps rows
            aligned, so row ``i``'s weight goes to the window ending at row
            ``i``) and used in the ``"auto"`` weights' and the permutation
            importances' log-loss. With metadata routing enabled
            (``sklearn.set_config(enable_metadata_routing=True)``) it goes
            only to the members that request it
            (``member.set_fit_request(sample_weight=True)``, for a Pipeline
            on its final step), and scikit-learn raises for a member that
            has not said whether it wants it.

        Returns
        -------
        self : object
            The fitted ensemble.

        Notes
        -----
        An interrupt (Ctrl-C) raises ``KeyboardInterrupt``, also while
        members fit in worker threads (their networks stop at the next
        batch). An interrupted or failed fit leaves the ensemble unfitted,
        never a mix of new and old members.
        """
        try:
            fitted = self._fit(X, y, sample_weight)
        except BaseException:
            discard_fit(self)
            raise
        run_fit_hooks(self, X, y, sample_weight, **fitted)
        return self

    def _fit(self, X, y, sample_weight):
        """Fit; return what the fit hooks get besides ``fit``'s arguments."""
        self._validate_params()
        names, estimators = self._validate_estimators()
        members = [
            (n, e) for n, e in zip(names, estimators, strict=True) if not _is_drop(e)
        ]
        active = [name for name, _ in members]
        weights = self._resolve_weights(names, active)
        X, y, keys = self._validate_X(X, y, reset=True)
        dates = None if keys is None else keys.date
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        y_enc = encoder.transform(y)
        receivers = set()
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
            receivers = self._weight_receivers(members, sample_weight)

        if isinstance(weights, str):  # "auto"
            weights = self._learn_weights(
                members, X, y_enc, sample_weight, dates, receivers
            )
        fitted, self.fit_times_ = self._fit_members(
            members, X, y_enc, sample_weight, receivers
        )
        self.estimators_ = fitted
        self.named_estimators_ = Bunch(
            **{
                name: fitted[active.index(name)] if name in active else "drop"
                for name in names
            }
        )
        self.weights_ = {
            name: float(w) for name, w in zip(active, weights, strict=True)
        }
        self._importances = self._compute_importances(X, y_enc, sample_weight, dates)
        # The rows and labels the members saw, validated and encoded.
        return {"X_fit": X, "y_fit": y_enc, "sample_weight_fit": sample_weight}

    def _weight_receivers(self, members, sample_weight):
        """Names of the members whose ``fit`` gets ``sample_weight``."""
        if _routing_enabled():
            routed = process_routing(self, "fit", sample_weight=sample_weight)
            return {name for name, _ in members if "sample_weight" in routed[name].fit}
        _check_accepts_sample_weight(members)
        return {name for name, _ in members}

    def get_metadata_routing(self):
        """Metadata routing: ``fit`` metadata goes to every member's ``fit``.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRouter
        """
        router = MetadataRouter(owner=self)
        for name, est in self.estimators:
            if not _is_drop(est):
                router.add(
                    **{name: est},
                    method_mapping=MethodMapping().add(caller="fit", callee="fit"),
                )
        return router

    def _fit_members(self, members, X, y, sample_weight, receivers, class_map=None):
        """Fit clones in lanes; return (fitted list, {name: seconds}).

        ``sample_weight`` goes to the members named in ``receivers``.
        """
        if class_map is not None:
            # Members see contiguous labels 0..K'-1 (plain XGBClassifier
            # requires them) when some classes are absent from these rows.
            y = np.searchsorted(class_map, y)
        clones = [(name, clone(est)) for name, est in members]
        lanes = _plan_lanes(clones)
        n_parallel = min(effective_n_jobs(self.n_jobs), len(lanes))
        threads = max(1, cpu_count() // n_parallel) if n_parallel > 1 else None
        if threads is not None:
            for _, est in clones:
                _cap_threads(est, threads)
        weights = {n: sample_weight if n in receivers else None for n, _ in members}
        args = [(lane, X, y, weights, self.verbose) for lane in lanes]
        with member_fits(self):
            if n_parallel > 1:
                # Lanes fit the clones in place: they must share this process's
                # memory even under a process or Dask joblib backend. An
                # interrupt reaches this (the waiting) thread only: the event
                # stops the lanes, and those of nested ensembles, at their
                # next step.
                stop = current_stop() or threading.Event()
                try:
                    results = Parallel(n_jobs=n_parallel, require="sharedmem")(
                        delayed(_fit_lane)(*lane_args, stop) for lane_args in args
                    )
                except BaseException:
                    stop.set()
                    raise
            else:
                results = [_fit_lane(*lane_args) for lane_args in args]
        times = dict(item for lane_times in results for item in lane_times)
        return [est for _, est in clones], {name: times[name] for name, _ in clones}

    def _learn_weights(self, members, X, y, sample_weight, dates, receivers):
        """Fit members on the head rows, learn simplex weights on the tail."""
        if len(members) == 1:
            return np.ones(1)
        train, valid = tail_rows(
            X.shape[0], self.validation_fraction, dates, self.validation_gap
        )
        head_classes = np.unique(y[train])
        if head_classes.size < 2:
            raise ValueError(
                f"weights='auto' fits the members on the first {len(y[train])} "
                "rows, which hold a single class; lower validation_fraction or "
                "pass explicit weights."
            )
        head, _ = self._fit_members(
            members,
            take_rows(X, train),
            y[train],
            _rows(sample_weight, train),
            receivers,
            class_map=head_classes,
        )
        tail_probas = np.stack(
            [self._tail_proba(est, X, valid, head_classes) for est in head]
        )
        return _simplex_log_loss_weights(
            tail_probas, y[valid], _nonzero_weights(_rows(sample_weight, valid))
        )

    def _tail_proba(self, est, X, valid, class_map=None):
        """Aligned probabilities of the ``valid`` rows given the history they need.

        A panel's windows need each instrument's own history, so a panel is
        predicted whole and the tail rows taken from it.
        """
        if isinstance(X, pd.DataFrame) or not isinstance(valid, slice):  # a panel
            return self._aligned_proba(est, X, class_map)[valid]
        start = max(0, valid.start - _context_rows(est))
        proba = self._aligned_proba(est, take_rows(X, slice(start, None)), class_map)
        return proba[valid.start - start :]

    # -- importances ------------------------------------------------------
    def _compute_importances(self, X, y, sample_weight, dates=None):
        """Each member's importances as numbers: no training row is kept.

        Native importances always; permutation importances for the other
        members only with ``importance="fit"``, measured here on the tail.
        """
        importances = {
            name: _native_or_none(est, self.n_features_in_)
            for name, est in zip(self.weights_, self.estimators_, strict=True)
        }
        if self.importance == "fit":
            importances = self._tail_importances(
                importances, X, y, sample_weight, dates
            )
        return importances

    def _tail_importances(self, importances, X, y, sample_weight, dates=None):
        """``importances`` completed by permutation importances on the tail.

        ``X`` and ``y`` (encoded) are the rows the ensemble was fitted on; only
        the last ``_MAX_IMPORTANCE_ROWS`` rows of the tail are scored.
        """
        if all(imp is not None for imp in importances.values()):
            return importances
        rows = self._tail_for_importance(X, y, sample_weight, dates)
        return self._permuted(importances, rows)

    def _permuted(self, importances, rows):
        """Permutation importances for the members lacking importances."""
        rng = check_random_state(self.random_state)
        completed = dict(importances)
        for name, est in zip(self.weights_, self.estimators_, strict=True):
            if completed[name] is None:
                completed[name] = _normalise(
                    self._permutation_importances(est, rng, rows)
                )
        return completed

    def _tail_for_importance(self, X, y, sample_weight, dates=None):
        """Scored tail rows (capped), plus the history the longest window needs.

        Returns ``(block, scored, y_scored, w_scored, panel)``: the rows as a
        dense array, which of them are scored, and for a panel the block's
        index and columns (None otherwise). A panel keeps the last dates of
        its tail and, as history, the ``context`` dates before them.
        """
        context = max(_context_rows(est) for est in self.estimators_)
        if dates is None:
            n_train = tail_split(X.shape[0], self.validation_fraction)
            first = max(n_train, X.shape[0] - _MAX_IMPORTANCE_ROWS)
            kept = slice(max(0, first - context), None)
            scored = slice(first - kept.start, None)
            scored_rows = slice(first, None)
        else:
            first = _first_scored_date(dates, self.validation_fraction)
            kept = np.flatnonzero(dates >= first - context)
            scored = np.flatnonzero(dates[kept] >= first)
            scored_rows = kept[scored]
        return _importance_rows(
            take_rows(X, kept),
            scored,
            y[scored_rows],
            _rows(sample_weight, scored_rows),
        )

    def _permutation_importances(self, est, rng, rows):
        """Mean log-loss rise on the scored rows when each column is shuffled.

        ``rows`` comes from :func:`_importance_rows`: the member predicts the
        scored rows together with the rows of history it looks back over
        (``_context_rows``), so that a shuffled column reaches every time
        step of its windows.
        """
        block, scored, y_scored, w_scored, panel = rows
        block = block.copy()

        if panel is not None:
            levels, names, columns = panel
            index = pd.MultiIndex.from_arrays(levels, names=names)

        def loss(block):
            rows = block if panel is None else pd.DataFrame(block, index, columns)
            proba = self._aligned_proba(est, rows)[scored]
            return _log_loss(proba, y_scored, w_scored)

        base = loss(block)
        rises = np.zeros(block.shape[1])
        for j in range(block.shape[1]):
            column = block[:, j].copy()
            for _ in range(_PERMUTATION_REPEATS):
                block[:, j] = column[rng.permutation(len(column))]
                rises[j] += loss(block) - base
            block[:, j] = column
        return np.clip(rises / _PERMUTATION_REPEATS, 0.0, None)

    def _importances_on(self, X, y, sample_weight):
        """Member importances, permutation ones measured on the given rows."""
        if self.importance is None:
            raise ValueError(
                "X and y were given, but this ensemble has importance=None: "
                "permutation importances are off. Set importance='auto' (the "
                "members need no refit) to measure them on these rows."
            )
        Xv = self._validate_X(X, reset=False)
        y = column_or_1d(y, warn=True)
        if len(y) != Xv.shape[0]:
            raise ValueError(
                f"X has {Xv.shape[0]} rows but y has {len(y)} labels; give one "
                "label per row."
            )
        unknown = sorted(set(np.unique(y).tolist()) - set(self.classes_.tolist()))
        if unknown:
            raise ValueError(
                f"y holds labels {unknown} that the ensemble was not fitted on; "
                f"its classes are {self.classes_.tolist()}."
            )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, Xv, dtype=np.float64)
        y_enc = np.searchsorted(self.classes_, y)
        everything = np.arange(Xv.shape[0])
        rows = _importance_rows(Xv, everything, y_enc, sample_weight)
        return self._permuted(self._importances, rows)

    def get_feature_importance(
        self, X=None, y=None, *, sample_weight=None, by_member=False
    ):
        """Feature importances combined over the members by their weights.

        Each member's importances are normalised to sum to 1 (gain-based
        ``feature_importances_`` for tree members, permutation importances
        for the others, see ``importance``), then averaged with
        ``weights_`` and normalised again.

        The fitted ensemble keeps no training rows: permutation importances
        are either measured during ``fit`` (``importance="fit"``) or here,
        on the rows ``X``, ``y`` you pass (``importance="auto"``, e.g. rows
        held out from training). Measuring costs ``3 * n_features``
        predictions of ``X`` per member without native importances; the
        result is returned, not stored.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features), \
                default=None
            Rows, in time order, on which to measure permutation importances
            (for an ensemble inside a Pipeline, the rows as the ensemble
            sees them, e.g. ``pipe[:-1].transform(X)``). Every row is
            scored; sequence members build their windows from the earlier
            rows of ``X``. ``None`` uses the importances known from ``fit``.
        y : array-like of shape (n_samples,), default=None
            Labels of ``X`` (the original labels, as given to ``fit``).
            Required with ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the log-loss on ``X``.
        by_member : bool, default=False
            Return each member's normalised importances (one column per
            member, NaN where a member has none) instead of the combination.

        Returns
        -------
        importance : pandas.Series or pandas.DataFrame
            Indexed by the input feature names (``feature_names_in_``, else
            ``x0``, ``x1``, ...).

        Raises
        ------
        ValueError
            If a member with a positive weight has no importances (a member
            without ``feature_importances_``, when neither ``X``/``y`` nor
            ``importance="fit"`` measured them), or if ``X`` is given with
            ``importance=None``, without ``y``, or with unknown labels.
        """
        self._check_fitted()
        if (X is None) != (y is None):
            raise ValueError(
                "Pass both X and y to measure permutation importances on them, "
                "or neither."
            )
        if X is None:
            importances = self._importances
        else:
            importances = self._importances_on(X, y, sample_weight)
        return self._importance_frame(importances, by_member)

    def _importance_frame(self, importances, by_member=False):
        """Per-member importances as a DataFrame, or their weighted combination."""
        index = pd.Index(_check_feature_names_in(self, None), name="feature")
        if by_member:
            return pd.DataFrame(
                {
                    name: np.full(len(index), np.nan) if imp is None else imp
                    for name, imp in importances.items()
                },
                index=index,
            )
        lacking = [
            name
            for name, imp in importances.items()
            if imp is None and self.weights_[name] > 0
        ]
        if lacking:
            raise ValueError(
                f"Members {lacking} have no feature_importances_ and no "
                "permutation importances: pass rows and labels, "
                "get_feature_importance(X, y), to measure them (importance="
                "'auto'), fit with importance='fit', or use by_member=True."
            )
        combined = sum(
            self.weights_[name] * imp
            for name, imp in importances.items()
            if imp is not None
        )
        return pd.Series(_normalise(combined), index=index, name="importance")

    # -- predict ----------------------------------------------------------
    def _aligned_proba(self, est, X, class_map=None, last_only=False):
        """Member probabilities in the ensemble's ``classes_`` columns.

        ``last_only`` computes the last row of ``X`` alone (see
        :meth:`predict_proba_last`).
        """
        proba = _last_row_proba(est, X) if last_only else est.predict_proba(X)
        return self._in_class_columns(
            est, proba, 1 if last_only else X.shape[0], class_map
        )

    def _in_class_columns(self, est, proba, n_rows, class_map=None):
        """A member's ``proba`` (``n_rows`` expected) in ``classes_`` columns."""
        proba = np.asarray(proba, dtype=np.float64)
        columns = np.asarray(est.classes_).astype(np.intp)  # members see 0..K-1
        if class_map is not None:
            columns = class_map[columns]
        n_classes = len(self.classes_)
        if proba.shape[0] != n_rows:
            raise ValueError(
                f"Member {type(est).__name__} returned {proba.shape[0]} rows of "
                f"probabilities for {n_rows} input rows; members must "
                "return one row per input row (pad windows rather than drop "
                "the first rows)."
            )
        if proba.shape[1] == n_classes and np.array_equal(
            columns, np.arange(n_classes)
        ):
            return proba
        full = np.zeros((proba.shape[0], n_classes))
        full[:, columns] = proba
        return full

    def predict_proba(self, X):
        """Weighted mean of the members' class probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows in time order.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        return self._weighted_proba(X, last_only=False)

    def _weighted_proba(self, X, last_only):
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        proba = None
        for est, weight in zip(self.estimators_, self.weights_.values(), strict=True):
            if weight == 0:
                continue
            member = weight * self._aligned_proba(est, X, last_only=last_only)
            proba = member if proba is None else proba + member
        return proba

    def predict_proba_last(self, X):
        """Probabilities of the last row of ``X`` only: the per-bar fast path.

        A service that receives a new bar passes the last ``sequence_length``
        rows and needs one prediction. :meth:`predict_proba` would run every
        sequence member on all of their windows; here each tabular member
        predicts the last row and each sequence member (a Pipeline whose
        earlier steps, such as :class:`SequenceWindower`, only look back)
        transforms the rows and predicts the last window alone, in a
        one-window pass. The result equals
        ``predict_proba(X)[-1:]`` to 1e-5: the networks compute in float32,
        and a one-window pass rounds differently from ``predict_proba``'s
        fixed-size batches (quantized networks, which predict every window
        alone, agree to 1e-6).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The latest rows in time order, at least the longest look-back.

        Returns
        -------
        proba : ndarray of shape (1, n_classes)
            Columns follow ``classes_``.
        """
        return self._weighted_proba(X, last_only=True)

    def _serve_last(self, rows):
        """:meth:`predict_proba_last` of float rows the serving path checked.

        ``rows`` (an ndarray, n_features_in_ columns, finite or NaN) skip the
        input check; each member predicts through :func:`_serving_proba`.
        """
        proba = None
        for est, weight in zip(self.estimators_, self.weights_.values(), strict=True):
            if weight == 0:
                continue
            member = self._in_class_columns(est, _serving_proba(est, rows), 1)
            proba = weight * member if proba is None else proba + weight * member
        return proba

    def predict(self, X):
        """Class with the highest weighted mean probability.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows in time order.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)  # checks fitted before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]

    def transform(self, X):
        """Members' probabilities side by side.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows in time order.

        Returns
        -------
        probas : ndarray of shape (n_samples, n_members * n_classes)
            For each member that is not dropped (in order), its probabilities
            in ``classes_`` columns.
        """
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        return np.hstack([self._aligned_proba(est, X) for est in self.estimators_])

    def get_feature_names_out(self, input_features=None):
        """Names of the :meth:`transform` columns: ``"<member>_<class>"``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against ``feature_names_in_``.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        self._check_fitted()
        _check_feature_names_in(self, input_features, generate_names=False)
        return np.asarray(
            [f"{name}_{label}" for name in self.weights_ for label in self.classes_],
            dtype=object,
        )

    def _sk_visual_block_(self):
        names, estimators = zip(*self.estimators, strict=True)
        return _VisualBlock("parallel", estimators, names=names)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        try:
            members = [est for _, est in self.estimators if not _is_drop(est)]
            tags.non_deterministic = any(
                get_tags(est).non_deterministic for est in members
            )
            tags.input_tags.allow_nan = all(map(_allows_nan, members))
        except Exception:  # invalid `estimators`: fit raises the clear error
            pass
        return tags


# -- members --------------------------------------------------------------
def _is_drop(est):
    return isinstance(est, str) and est == "drop"


def _is_torch(est):
    return bool(getattr(_final_step(est), "_torch_member", False))


def _allows_nan(est):
    """Whether a member accepts NaN: for a Pipeline, every one of its steps.

    (scikit-learn's Pipeline does not tag ``allow_nan``; requiring it of every
    step is safe, if strict for a Pipeline that imputes first.)
    """
    steps = [step for _, step in est.steps] if isinstance(est, Pipeline) else [est]
    return all(
        get_tags(step).input_tags.allow_nan
        for step in steps
        if step is not None and step != "passthrough"
    )


def _last_row_proba(est, X):
    """A member's probabilities for the last row of ``X``, computing only that row.

    A Pipeline's earlier steps transform every row (a SequenceWindower returns
    a view, so this is cheap); its final step then sees the last row alone,
    through its own one-row path where it has one (the sequence classifiers'
    ``_predict_proba_last``: one window, one forward pass).
    """
    if isinstance(est, Pipeline) and len(est) > 1:
        # Step by step: Pipeline.transform re-checks every step's tags first.
        for _, step in est.steps[:-1]:
            if step is not None and step != "passthrough":
                X = step.transform(X)
        est = est.steps[-1][1]
    last = getattr(est, "_predict_proba_last", None)
    return last(X) if last is not None else est.predict_proba(X[-1:])


def _serving_proba(est, rows):
    """A member's probabilities for the last of ``rows``, by its one-row call.

    A booster's ``_serve_row`` (its library's one-row prediction), or a
    windower-and-network Pipeline's last window straight into the network's
    ``_serve_window``; any other member, or too few rows for a window, goes
    through :func:`_last_row_proba`.
    """
    if isinstance(est, Pipeline) and len(est) == 2:
        last_window = getattr(est[0], "_last_window", None)
        serve = getattr(est[-1], "_serve_window", None)
        window = None if last_window is None else last_window(rows)
        if window is not None and serve is not None:
            return serve(window)
    elif hasattr(est, "_serve_row"):
        return est._serve_row(rows[-1:])
    return _last_row_proba(est, rows)


def _context_rows(est):
    """Rows of history a member looks back over (SequenceWindower steps)."""
    steps = [step for _, step in est.steps] if isinstance(est, Pipeline) else [est]
    lengths = [getattr(step, "sequence_length", 1) for step in steps]
    return sum(n - 1 for n in lengths if isinstance(n, numbers.Integral) and n > 1)


def _check_accepts_sample_weight(members):
    for name, est in members:
        if not has_fit_parameter(_final_step(est), "sample_weight"):
            raise TypeError(
                f"Member {name!r} ({type(_final_step(est)).__name__}) does not "
                "accept sample_weight; drop it or fit without sample_weight."
            )


def _sample_weight_kwargs(est, sample_weight):
    if sample_weight is None:
        return {}
    if isinstance(est, Pipeline) and not _routing_enabled():
        return {f"{est.steps[-1][0]}__sample_weight": sample_weight}
    return {"sample_weight": sample_weight}


def _member_error(name, est, exc):
    """The member's exception with its name prepended (same type if possible)."""
    message = f"Member {name!r} ({type(est).__name__}) failed to fit: {exc}"
    try:
        return type(exc)(message)
    except Exception:
        return RuntimeError(message)


def _fit_lane(lane, X, y, sample_weights, verbose, stop=None):
    """Fit a lane's members one after another; return [(name, seconds)].

    ``sample_weights`` maps each member's name to its weights or None.
    ``stop``, set when the ensemble's fit is interrupted, ends the lane
    before its next member and its networks before their next batch.
    """
    times = []
    with stop_on(stop or current_stop()):
        for name, est in lane:
            check_stop()
            start = time.perf_counter()
            try:
                est.fit(X, y, **_sample_weight_kwargs(est, sample_weights[name]))
            except Exception as exc:
                raise _member_error(name, est, exc) from exc
            times.append((name, time.perf_counter() - start))
            if verbose:
                print(f"[SoftVotingEnsemble] fitted {name!r} in {times[-1][1]:.2f}s")
    return times


def _plan_lanes(members):
    """One lane holding every torch member, then one lane per other member."""
    torch_lane = [(n, e) for n, e in members if _is_torch(e)]
    others = [[(n, e)] for n, e in members if not _is_torch(e)]
    return ([torch_lane] if torch_lane else []) + others


def _cap_threads(est, threads):
    """Lower every thread-count parameter of ``est`` (nested too) to ``threads``."""
    updates = {}
    params = est.get_params(deep=True)
    for key, value in params.items():
        owner_key, _, param = key.rpartition("__")
        if param not in _THREAD_PARAMS:
            continue
        if value is None and param != "n_jobs":
            continue  # an unset alias: setting it could override n_jobs
        owner = params[owner_key] if owner_key else est
        if value is None and type(owner).__module__.startswith("sklearn."):
            continue  # scikit-learn reads n_jobs=None as one thread already
        if value is None or (
            isinstance(value, numbers.Integral) and (value < 0 or value > threads)
        ):
            updates[key] = threads
    if updates:
        est.set_params(**updates)


def _native_or_none(est, n_features):
    """Normalised native importances of a member, or None if it has none."""
    native = _native_importances(est, n_features)
    return None if native is None else _normalise(native)


def _importance_rows(block, scored, y_scored, w_scored):
    """Rows for permutation importances: a dense array to shuffle in place.

    Returns ``(block, scored, y_scored, w_scored, panel)``: the rows as a
    dense array, which of them are scored, their encoded labels and weights
    (None if absent or all zero), and for a panel the index levels, their
    names and the columns (None otherwise).
    """
    panel = None
    if isinstance(block, pd.DataFrame):
        index = block.index
        levels = [index.get_level_values(i).to_numpy() for i in range(2)]
        panel = (levels, list(index.names), block.columns.to_numpy())
    block = block.toarray() if issparse(block) else np.array(block)
    return block, scored, y_scored, _nonzero_weights(w_scored), panel


def _native_importances(est, n_features):
    """``feature_importances_`` of the final step if it maps to the input columns."""
    try:
        importances = getattr(_final_step(est), "feature_importances_", None)
    except Exception:  # e.g. XGBoost's linear booster raises here
        return None
    if importances is None or len(importances) != n_features:
        return None
    if isinstance(est, Pipeline) and len(est.steps) > 1:
        names_in = np.array([f"x{i}" for i in range(n_features)], dtype=object)
        try:
            names_out = est[:-1].get_feature_names_out(names_in)
        except Exception:
            return None
        if not np.array_equal(np.asarray(names_out, dtype=object), names_in):
            return None
    return np.asarray(importances, dtype=np.float64)


# -- weights and losses ---------------------------------------------------
def _weights_from_dict(weights, names, active):
    unknown = sorted(set(map(str, weights)) - set(names))
    if unknown:
        raise ValueError(
            f"weights names unknown members {unknown}; the members are {names}."
        )
    missing = [name for name in active if name not in weights]
    if missing:
        raise ValueError(
            f"weights has no weight for the members {missing}; give a weight "
            "for every member that is not 'drop'."
        )
    return [weights[name] for name in active]


def _normalise_weights(values, active):
    try:
        values = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"weights must be numbers, got {values!r}.") from exc
    if not np.all(np.isfinite(values)):
        raise ValueError(f"weights must be finite numbers, got {values.tolist()}.")
    if np.any(values < 0):
        raise ValueError(f"weights must be non-negative, got {values.tolist()}.")
    if values.sum() == 0:
        raise ValueError(
            f"weights of the members {active} are all zero; at least one "
            "weight must be positive."
        )
    return values / values.sum()


def _simplex_log_loss_weights(probas, y, sample_weight):
    """Weights on the simplex minimising the log-loss of the weighted mean.

    ``probas`` has shape (n_members, n_samples, n_classes). The loss only
    depends on each member's probability of the true class, and is convex in
    the weights, so SLSQP from equal weights finds the optimum.
    """
    n_members = probas.shape[0]
    p_true = probas[:, np.arange(len(y)), y].T  # (n_samples, n_members)
    w_rows = np.ones(len(y)) if sample_weight is None else sample_weight
    w_rows = w_rows / w_rows.sum()

    def loss_and_grad(w):
        mixed = np.clip(p_true @ w, _EPS, None)
        return -w_rows @ np.log(mixed), -(w_rows / mixed) @ p_true

    result = minimize(
        loss_and_grad,
        np.full(n_members, 1.0 / n_members),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * n_members,
        constraints={
            "type": "eq",
            "fun": lambda w: w.sum() - 1.0,
            "jac": lambda w: np.ones_like(w),
        },
    )
    weights = np.clip(result.x, 0.0, None)
    return weights / weights.sum()


def _normalise(values):
    """Scale to sum 1; all zeros stay zeros."""
    values = np.asarray(values, dtype=np.float64)
    total = values.sum()
    return values / total if total > 0 else values


def _rows(array, rows):
    return None if array is None else array[rows]


@contextmanager
def _rows_named_on_nan(X, keys):
    """Turn a failed input check caused by NaN into an error naming the rows.

    A member that rejects NaN (a network) makes the whole ensemble reject
    it; the rows are only looked for once the check has failed.
    """
    try:
        yield
    except ValueError:
        try:
            check_missing_values(X, keys)
        except ValueError as named:
            raise named from None
        except Exception:  # X is not a table of numbers: keep the first error
            pass
        raise


def _keep_panel(X_checked, X, keys):
    """Validated rows, as a frame with the panel's index when X is a panel.

    Members need the instrument and date of each row (a SequenceWindower
    windows within instruments, boosters hold out the last dates), and a
    panel carries them in its index.
    """
    if keys is None:
        return X_checked
    return pd.DataFrame(X_checked, index=X.index, columns=X.columns, copy=False)


def _first_scored_date(dates, validation_fraction):
    """First date rank scored by permutation importance on a panel: the first
    validation date, or later so that at most ``_MAX_IMPORTANCE_ROWS`` rows
    (and at least one date) are scored."""
    n_dates = int(dates.max()) + 1
    first = tail_split(n_dates, validation_fraction) if n_dates > 1 else n_dates
    rows_from = np.bincount(dates, minlength=n_dates)[::-1].cumsum()[::-1]
    capped = int(np.searchsorted(-rows_from, -_MAX_IMPORTANCE_ROWS, "left"))
    return max(first, min(capped, n_dates - 1))

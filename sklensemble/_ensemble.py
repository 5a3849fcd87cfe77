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
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, TransformerMixin, clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch, get_tags
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    process_routing,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, has_fit_parameter, validate_data

from ._hooks import fit_with_hooks, member_fits
from ._importance import _ImportancesMixin
from ._lanes import _fit_lanes, _plan_lanes
from ._panel import panel_keys, take_rows
from ._sklearn_private import (
    Interval,
    StrOptions,
    _BaseHeterogeneousEnsemble,
    _check_feature_names,
    _check_feature_names_in,
    _check_n_features,
    _check_sample_weight,
    _routing_enabled,
    _VisualBlock,
)
from ._utils import _context_rows, _final_step, _is_dropped, _is_passthrough
from ._validation import check_missing_values, check_time_order
from ._weights import _LearnedWeightsMixin, _resolve_weights


class SoftVotingEnsemble(
    ClassifierMixin,
    TransformerMixin,
    _LearnedWeightsMixin,
    _ImportancesMixin,
    _BaseHeterogeneousEnsemble,
):
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
        if all(_is_dropped(est) for est in estimators):
            raise ValueError(
                "All estimators are dropped. At least one member must be an "
                "estimator rather than 'drop'."
            )
        for name, est in zip(names, estimators, strict=True):
            if _is_dropped(est):
                continue
            # is_classifier raises on what is no estimator at all (None,
            # "passthrough": a Pipeline's spellings for a skipped step).
            if not hasattr(est, "fit") or not is_classifier(est):
                raise ValueError(
                    f"Member {name!r} ({type(est).__name__}) is not a "
                    "classifier; every member must be a classifier (or a "
                    "Pipeline ending in one), or 'drop' to leave it out."
                )
            if not hasattr(est, "predict_proba"):
                raise ValueError(
                    f"Member {name!r} ({type(est).__name__}) has no "
                    "predict_proba, which soft voting needs; enable "
                    "probabilities (e.g. SVC(probability=True)) or wrap it "
                    "in sklearn.calibration.CalibratedClassifierCV."
                )
        return list(names), list(estimators)

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
        return fit_with_hooks(self, X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        """Fit; return what the fit hooks get besides ``fit``'s arguments."""
        self._validate_params()
        names, estimators = self._validate_estimators()
        members = [
            (n, e) for n, e in zip(names, estimators, strict=True) if not _is_dropped(e)
        ]
        active = [name for name, _ in members]
        weights = _resolve_weights(self.weights, names, active)
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
            if not _is_dropped(est):
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
        lanes, n_parallel = _plan_lanes(clones, self.n_jobs)
        weights = {n: sample_weight if n in receivers else None for n, _ in members}
        with member_fits(self):
            times = _fit_lanes(lanes, n_parallel, X, y, weights, self.verbose)
        return [est for _, est in clones], {name: times[name] for name, _ in clones}

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

    # -- importances (measured by _ImportancesMixin) ----------------------
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
            members = [est for _, est in self.estimators if not _is_dropped(est)]
            tags.non_deterministic = any(
                get_tags(est).non_deterministic for est in members
            )
            tags.input_tags.allow_nan = all(map(_allows_nan, members))
        except Exception:  # invalid `estimators`: fit raises the clear error
            pass
        return tags


def _allows_nan(est):
    """Whether a member accepts NaN: for a Pipeline, every one of its steps.

    (scikit-learn's Pipeline does not tag ``allow_nan``; requiring it of every
    step is safe, if strict for a Pipeline that imputes first.)
    """
    steps = [step for _, step in est.steps] if isinstance(est, Pipeline) else [est]
    return all(
        get_tags(step).input_tags.allow_nan
        for step in steps
        if not _is_passthrough(step)
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
            if not _is_passthrough(step):
                X = step.transform(X)
        est = _final_step(est)
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


def _check_accepts_sample_weight(members):
    for name, est in members:
        if not has_fit_parameter(_final_step(est), "sample_weight"):
            raise TypeError(
                f"Member {name!r} ({type(_final_step(est)).__name__}) does not "
                "accept sample_weight; drop it or fit without sample_weight."
            )


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

"""PurgedStackingClassifier: a meta-learner on out-of-fold probabilities in time order.

scikit-learn's ``StackingClassifier`` trains its meta-learner on
``cross_val_predict``, which needs a partition of the rows: with K-fold, most
rows are predicted by members that trained on their future. Here the
out-of-fold probabilities come from purged walk-forward folds
(:class:`~sklensemble.PurgedWalkForwardSplit`) within the training rows, so
every row the meta-learner learns from was predicted by members fitted only
on rows before it, ``validation_gap`` rows (dates) apart.

The members are fitted through :class:`~sklensemble.SoftVotingEnsemble`
(one per fold, one on all rows): it validates the members, aligns their
probability columns, fits them in lanes and gives sequence members the
history their windows look back over.
"""

import numbers

import numpy as np
from sklearn.base import ClassifierMixin, clone, is_classifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import has_fit_parameter

from ._ensemble import SoftVotingEnsemble
from ._hooks import fit_with_hooks
from ._panel import take_rows
from ._sklearn_private import (
    HasMethods,
    Interval,
    _BaseHeterogeneousEnsemble,
    _check_sample_weight,
)
from ._splits import PurgedWalkForwardSplit
from ._utils import _context_rows, _rows

__all__ = ["PurgedStackingClassifier"]


class PurgedStackingClassifier(ClassifierMixin, _BaseHeterogeneousEnsemble):
    """Stacking whose meta-learner only learns from predictions of the past.

    The members' class probabilities become the features of a meta-learner
    (``final_estimator``). Its training rows are predicted out of fold by
    purged walk-forward folds *within* the training rows: the last
    ``n_splits`` blocks of ``n_samples // (n_splits + 1)`` rows (dates, on a
    panel) are each predicted by clones of the members fitted on all rows
    before the block, minus the ``validation_gap`` rows right before it.
    The meta-learner is fitted on those rows; then the members are refitted
    on **all** rows, and predicting feeds their probabilities to it.

    Read more in ``docs/estimators.md`` ("Stacking in time order").

    Parameters
    ----------
    estimators : list of (str, estimator)
        Named members, as for :class:`~sklensemble.SoftVotingEnsemble`:
        classifiers with ``predict_proba`` (a Pipeline such as
        ``make_pipeline(SequenceWindower(20), AttentionLSTMClassifier())``
        included), or ``"drop"``. Clones are fitted.

    final_estimator : classifier or None, default=None
        The meta-learner, fitted on the out-of-fold probabilities (one
        column per member and class, in ``classes_`` order; a class a
        fold's members never saw gets probability 0). ``None`` means
        ``LogisticRegression()``.

    n_splits : int, default=5
        Walk-forward folds (>= 1) that predict the meta-learner's training
        rows. The rows before the first block (the first
        ``n_samples - n_splits * (n_samples // (n_splits + 1))``) are never
        predicted out of fold: they are not meta-training rows. The members
        of the first fold train on them, less the ``validation_gap`` rows
        before the block. Members are fitted ``n_splits + 1``
        times in all; with expanding folds this costs about
        ``n_splits / 2 + 1`` fits on all rows.

    validation_gap : int, default=0
        Rows (dates, on a panel) between each fold's training rows and the
        block it predicts: set it to the label horizon, so that no training
        label looks into the block (the ``purge`` of
        :class:`~sklensemble.PurgedWalkForwardSplit`;
        :func:`~sklensemble.evaluate.walk_forward` and the tuning folds
        raise it to their purge). The members keep their own
        ``validation_gap`` for early stopping.

    n_jobs : int or None, default=None
        Members fitted at the same time within each fit, as
        :class:`~sklensemble.SoftVotingEnsemble`'s ``n_jobs``.

    verbose : bool, default=False
        Print each member's fit time as it finishes.

    Attributes
    ----------
    estimators_ : list of classifiers
        The members that are not ``"drop"``, refitted on all rows (on ``y``
        encoded as ``0..n_classes-1``).

    named_estimators_ : :class:`~sklearn.utils.Bunch`
        Fitted members by name; dropped members map to ``"drop"``.

    final_estimator_ : classifier
        The meta-learner fitted on the out-of-fold probabilities (on the
        encoded ``y``).

    n_meta_rows_ : int
        Rows the meta-learner was fitted on: those predicted out of fold by
        a fold whose training rows held at least two classes.

    classes_ : ndarray of shape (n_classes,)
        Class labels.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column
        names.

    See Also
    --------
    SoftVotingEnsemble : Fixed or tail-learned weights instead of a
        meta-learner (``weights="auto"``).
    sklearn.ensemble.StackingClassifier : The same idea on K-fold
        predictions, which train on the future of time-ordered rows.

    Notes
    -----
    A fold whose training rows hold a single class is skipped (its rows are
    not meta-training rows): most members cannot be fitted on one class.
    ``sample_weight`` goes to every member and to the meta-learner.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklensemble import PurgedStackingClassifier, XGBoostClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3))
    >>> y = np.where(X[:, 0] > 0, "buy", "sell")
    >>> stack = PurgedStackingClassifier(
    ...     [("xgb", XGBoostClassifier(n_estimators=10, n_jobs=1, random_state=0)),
    ...      ("logreg", LogisticRegression())],
    ...     n_splits=3, validation_gap=1,
    ... ).fit(X, y)
    >>> stack.n_meta_rows_  # rows 75..299; the first 75 train the first fold
    225
    >>> stack.predict_proba(X[:2]).shape
    (2, 2)
    >>> stack.final_estimator_.coef_.shape  # 2 members x 2 classes
    (1, 4)
    """

    _parameter_constraints = {
        "estimators": [list],
        "final_estimator": [HasMethods(["fit", "predict_proba"]), None],
        "n_splits": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_gap": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_jobs": [numbers.Integral, None],
        "verbose": ["verbose"],
    }

    # The members are validated, and X checked, exactly as the voting
    # ensemble does: the same rules, the same messages.
    _validate_X = SoftVotingEnsemble._validate_X
    _check_fitted = SoftVotingEnsemble._check_fitted

    def __init__(
        self,
        estimators,
        *,
        final_estimator=None,
        n_splits=5,
        validation_gap=0,
        n_jobs=None,
        verbose=False,
    ):
        super().__init__(estimators=estimators)
        self.final_estimator = final_estimator
        self.n_splits = n_splits
        self.validation_gap = validation_gap
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _members(self):
        """An unfitted equal-weight SoftVotingEnsemble of the members."""
        return SoftVotingEnsemble(
            self.estimators, importance=None, n_jobs=self.n_jobs, verbose=self.verbose
        )

    def _final(self):
        final = self.final_estimator
        final = LogisticRegression() if final is None else clone(final)
        if not is_classifier(final):
            raise ValueError(
                f"final_estimator ({type(final).__name__}) is not a classifier; "
                "pass a classifier with predict_proba, e.g. LogisticRegression()."
            )
        return final

    # -- fit --------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the meta-learner on out-of-fold probabilities, then the members.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows in time order (or a panel, folded by date).
        y : array-like of shape (n_samples,)
            Class labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights for every member's fit and the meta-learner's.

        Returns
        -------
        self : object
            The fitted classifier.

        Raises
        ------
        ValueError
            If ``y`` holds one class, the rows are too few for ``n_splits``
            folds and ``validation_gap``, no fold's training rows hold two
            classes, or the meta-training rows hold a single class.
        """
        return fit_with_hooks(self, X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        self._validate_params()
        members = self._members()
        names, estimators = members._validate_estimators()
        final = self._final()
        X, y, keys = self._validate_X(X, y, reset=True)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least two classes in y, got 1 "
                f"class ({self.classes_[0]!r})."
            )
        y = encoder.transform(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
            if not has_fit_parameter(final, "sample_weight"):
                raise TypeError(
                    f"final_estimator ({type(final).__name__}) does not accept "
                    "sample_weight; use another meta-learner or fit without "
                    "sample_weight."
                )
        dates = None if keys is None else keys.date
        Z, rows = self._out_of_fold(members, X, y, sample_weight, dates)
        self._check_meta_rows(y[rows], rows)
        weights = (
            {} if sample_weight is None else {"sample_weight": sample_weight[rows]}
        )
        self.final_estimator_ = final.fit(Z, y[rows], **weights)
        self.n_meta_rows_ = len(rows)
        self._ensemble = members.fit(X, y, sample_weight=sample_weight)
        self.estimators_ = self._ensemble.estimators_
        self.named_estimators_ = Bunch(**self._ensemble.named_estimators_)

    def _out_of_fold(self, members, X, y, sample_weight, dates):
        """Members' probabilities of every fold's block, from the rows before it.

        Returns the stacked probabilities (one row per predicted row, one
        column per member and class) and the positions of those rows.
        """
        splitter = PurgedWalkForwardSplit(self.n_splits, purge=self.validation_gap)
        probas, predicted = [], []
        for train, test in splitter.split(X):
            if np.unique(y[train]).size < 2:
                continue  # the members cannot learn from one class
            fold = clone(members).fit(
                take_rows(X, train),
                y[train],
                sample_weight=_rows(sample_weight, train),
            )
            probas.append(self._member_probas(fold, X, test, dates))
            predicted.append(test)
        if not probas:
            raise ValueError(
                f"No fold of n_splits={self.n_splits} has two classes in its "
                "training rows, so no row is predicted out of fold; pass more "
                "rows or lower n_splits."
            )
        return np.vstack(probas), np.concatenate(predicted)

    def _member_probas(self, ensemble, X, rows, dates):
        """Probabilities of ``rows`` by each member of a fitted ensemble.

        Members see ``rows`` together with the earlier rows their windows
        look back over (features only: no label), never a later row.
        Columns: for each member, ``classes_`` (0 where it saw no such class).
        """
        if dates is None:  # single series: ``rows`` is a contiguous range
            start = rows[0] - max(map(_context_rows, ensemble.estimators_))
            block = np.arange(max(0, start), rows[-1] + 1)
        else:  # a panel: each instrument's own history, up to the block's end
            block = np.flatnonzero(dates <= dates[rows].max())
        stacked = ensemble.transform(take_rows(X, block))[np.searchsorted(block, rows)]
        n_members, n_classes = len(ensemble.estimators_), len(self.classes_)
        seen = ensemble.classes_  # encoded labels: indices into classes_
        full = np.zeros((len(rows), n_members, n_classes))
        full[:, :, seen] = stacked.reshape(len(rows), n_members, len(seen))
        return full.reshape(len(rows), -1)

    def _check_meta_rows(self, y, rows):
        if np.unique(y).size < 2:
            raise ValueError(
                f"The {len(rows)} rows predicted out of fold (the meta-learner's "
                f"training rows) hold a single class, {self.classes_[y[0]]!r}; "
                "pass more rows or lower n_splits."
            )

    # -- predict ----------------------------------------------------------
    def _meta_features(self, X):
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        return self._ensemble.transform(X)

    def predict_proba(self, X):
        """Meta-learner's class probabilities from the members' probabilities.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows in time order.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; a class absent from the
            meta-training rows gets probability 0.
        """
        features = self._meta_features(X)  # checks fitted first
        meta = self.final_estimator_
        proba = meta.predict_proba(features)
        full = np.zeros((proba.shape[0], len(self.classes_)))
        full[:, np.asarray(meta.classes_, dtype=np.intp)] = proba
        return full

    def predict(self, X):
        """Class with the highest stacked probability.

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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            voting = self._members().__sklearn_tags__()
        except Exception:  # invalid `estimators`: fit raises the clear error
            return tags
        tags.input_tags = voting.input_tags
        tags.non_deterministic = voting.non_deterministic
        return tags

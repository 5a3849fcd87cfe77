"""Probability calibration fitted in time order.

scikit-learn's ``CalibratedClassifierCV`` fits its calibrators on
out-of-fold predictions of a K-fold, so most calibration rows are scored by
a model that trained on their future; it refuses walk-forward splitters.
:class:`TimeOrderedCalibratedClassifier` fits its calibrator only on rows
predicted by a model fitted on earlier rows, with a purge gap between them,
and :func:`calibrate_walk_forward` does the same for the test predictions
of :func:`~sklensemble.evaluate.walk_forward` without refitting anything.
"""

import numbers

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone, is_classifier
from sklearn.isotonic import IsotonicRegression
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import get_tags, indexable
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._panel import panel_keys
from ._sklearn_private import Interval, StrOptions, _num_samples, _safe_indexing
from ._splits import purge_validation_tails
from ._utils import _EPS
from ._validation import check_int, check_time_order, tail_rows

__all__ = ["TimeOrderedCalibratedClassifier", "calibrate_walk_forward"]


class TimeOrderedCalibratedClassifier(ClassifierMixin, BaseEstimator):
    """Sigmoid or isotonic calibration fitted on later rows than the model.

    The classifier is fitted on the leading rows, its probabilities of the
    rows after them (after a purge gap) are compared with their labels, and
    a calibrator maps each class's probability to a calibrated one. No
    calibration row is ever scored by a model that saw it or its future.

    Read more in ``docs/estimators.md`` ("Calibration in time order").

    Parameters
    ----------
    estimator : classifier
        Any classifier with ``predict_proba``: a booster, the ensemble, or a
        whole Pipeline such as :func:`~sklensemble.make_ensemble_pipeline`'s.
        Clones are fitted; ``estimator`` itself is never touched.

    method : {"sigmoid", "isotonic"}, default="sigmoid"
        ``"sigmoid"``: a logistic curve in the log-odds of each class's
        probability (Platt scaling, two parameters per class; suits the few
        hundred rows of a tail). ``"isotonic"``: a non-decreasing step
        function (any monotone distortion, but it needs more rows and can
        overfit a short tail). With more than two classes each class is
        calibrated against the rest and the rows renormalised to sum to 1.

    cv : "tail" or splitter, default="tail"
        Where the calibration rows come from:

        - ``"tail"``: the last ``validation_fraction`` of the rows (or a
          panel's last dates), predicted by the classifier fitted on the
          rows before them less the ``validation_gap`` rows in between
          (:func:`~sklensemble._validation.tail_rows`, the tail of every
          estimator of this package);
        - a splitter whose folds train only on rows before their test rows,
          such as :class:`~sklensemble.PurgedWalkForwardSplit`: the test
          rows of all folds, each predicted by its fold's model (out-of-fold
          predictions in time order). More calibration rows, one fit per
          fold. A splitter whose training rows follow a test row (a K-fold)
          is refused.

    validation_fraction : float, default=0.2
        Share of the last rows that calibrates, with ``cv="tail"``.

    validation_gap : int, default=0
        Rows (dates, on a panel) between the classifier's last training row
        and the first calibration row: the label horizon, so that no
        training label looks into the calibration rows. With a splitter its
        folds must leave at least this gap.

    refit : bool, default=True
        ``True``: after the calibrator is fitted, the classifier is refitted
        on **all** rows and the calibrator applied to it, as
        ``CalibratedClassifierCV(ensemble=False)`` does: the newest rows
        train the model (the costlier choice: one more fit). ``False``: the
        model that produced the calibration rows' probabilities is kept
        (the last fold's, with a splitter), so the calibrator matches it
        exactly, but it never trained on the calibration rows.

    Attributes
    ----------
    estimator_ : classifier
        The fitted classifier whose probabilities are calibrated.

    calibrators_ : list of estimators
        One fitted calibrator per class (one for two classes: the second
        class's probability), mapping that class's probability to a
        calibrated one.

    classes_ : ndarray of shape (n_classes,)
        Class labels.

    n_features_in_ : int
        Number of features seen during fit, when the classifier has it.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when the classifier has them.

    See Also
    --------
    sklearn.calibration.CalibratedClassifierCV : The K-fold reference.
    calibrate_walk_forward : Calibrate walk-forward test predictions.
    expected_calibration_error, plot_reliability : Diagnostics.

    Notes
    -----
    Predicting the calibration rows feeds the model every row up to the
    last of them (a panel: every date up to it), never a later one, so that
    look-back windows see their real history, as in
    :func:`~sklensemble.evaluate.walk_forward`. ``sample_weight`` is not
    supported.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklensemble import TimeOrderedCalibratedClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2))
    >>> y = np.where(X[:, 0] + rng.normal(size=400) > 0, "buy", "sell")
    >>> model = TimeOrderedCalibratedClassifier(
    ...     LogisticRegression(), method="isotonic", validation_gap=5
    ... ).fit(X, y)
    >>> model.predict_proba(X[:3]).sum(axis=1).round(6).tolist()
    [1.0, 1.0, 1.0]
    >>> len(model.calibrators_)  # two classes: one calibrator
    1
    """

    _parameter_constraints = {
        "estimator": [object],
        "method": [StrOptions({"sigmoid", "isotonic"})],
        "cv": [StrOptions({"tail"}), "cv_object"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "validation_gap": [Interval(numbers.Integral, 0, None, closed="left")],
        "refit": ["boolean"],
    }

    def __init__(
        self,
        estimator,
        *,
        method="sigmoid",
        cv="tail",
        validation_fraction=0.2,
        validation_gap=0,
        refit=True,
    ):
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.validation_fraction = validation_fraction
        self.validation_gap = validation_gap
        self.refit = refit

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.non_deterministic = inner.non_deterministic
        return tags

    def fit(self, X, y):
        """Fit the classifier and the calibrator on later rows.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
            Training rows in time order, or a panel (rows in any order).
        y : array-like of shape (n_samples,)
            Class labels of any type.

        Returns
        -------
        self : object
            The fitted classifier.
        """
        self._validate_params()
        self._check_estimator()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the "
                "target y is None."
            )
        X, y = indexable(X, column_or_1d(y, warn=True))
        check_classification_targets(y)
        keys = panel_keys(X)
        if keys is None:
            check_time_order(X)
        dates = None if keys is None else keys.date
        self.classes_ = LabelEncoder().fit(y).classes_
        if self.classes_.size < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y, got 1 "
                f"class: {self.classes_.tolist()}."
            )
        probas, labels, last = [], [], None
        for train, calib in self._calibration_folds(X, dates):
            last = self._fit_on(X, y, train)
            probas.append(self._proba_of_rows(last, X, calib, dates))
            labels.append(y[calib])
        proba, y_calib = np.concatenate(probas), np.concatenate(labels)
        self.calibrators_ = _fit_calibrators(
            proba, np.searchsorted(self.classes_, y_calib), self.method
        )
        self.estimator_ = clone(self.estimator).fit(X, y) if self.refit else last
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(self.estimator_, attr):
                setattr(self, attr, getattr(self.estimator_, attr))
        return self

    def _check_estimator(self):
        est = self.estimator
        if isinstance(est, type) or not is_classifier(est):
            raise TypeError(
                f"estimator must be a classifier instance (or a Pipeline ending "
                f"in one), got {est!r}."
            )
        if not hasattr(est, "predict_proba"):
            raise ValueError(
                f"estimator {type(est).__name__} has no predict_proba, which "
                "calibration needs; enable probabilities, e.g. "
                "SVC(probability=True)."
            )

    def _calibration_folds(self, X, dates):
        """``(train, calib)`` row positions, calib strictly after train + gap."""
        n_samples = _num_samples(X)
        gap = check_int(self.validation_gap, "validation_gap", 0)
        if isinstance(self.cv, str):  # "tail"
            train, calib = tail_rows(n_samples, self.validation_fraction, dates, gap)
            return [(_positions(train, n_samples), _positions(calib, n_samples))]
        folds = [(np.asarray(tr), np.asarray(te)) for tr, te in self.cv.split(X)]
        if not folds:
            raise ValueError(f"cv={self.cv!r} yielded no fold.")
        when = np.arange(n_samples) if dates is None else dates
        seen = np.zeros(n_samples, dtype=bool)
        for train, test in folds:
            if len(train) == 0 or len(test) == 0:
                raise ValueError(f"cv={self.cv!r} yielded a fold without rows.")
            distance = when[test].min() - when[train].max()
            if distance <= gap:
                raise ValueError(
                    f"cv={self.cv!r} trains on rows that are not at least "
                    f"validation_gap={gap} rows before its test rows (the "
                    f"closest are {distance - 1} apart, negative: the model "
                    "saw their future). Pass a walk-forward splitter such as "
                    f"PurgedWalkForwardSplit(purge={gap})."
                )
            if seen[test].any():
                raise ValueError(
                    f"cv={self.cv!r} tests some rows in several folds; each "
                    "calibration row must be predicted once."
                )
            seen[test] = True
        return folds

    def _fit_on(self, X, y, train):
        """A clone fitted on ``train``; its own tails purged like the folds."""
        if np.unique(y[train]).size < 2:
            raise ValueError(
                f"The classifier would be fitted on {len(train)} rows that hold a "
                "single class before calibrating on the rows after them; pass "
                "more rows or a smaller validation_fraction."
            )
        est = self.estimator
        if not isinstance(self.cv, str):
            est = purge_validation_tails(est, self.cv)
        return clone(est).fit(_safe_indexing(X, train), y[train])

    def _proba_of_rows(self, est, X, rows, dates):
        """Probabilities of ``rows`` in ``classes_`` columns, given their history.

        The model gets every row (date) up to the last of ``rows``: windows
        need their history, and no later row is ever shown.
        """
        if dates is None:
            block = np.arange(rows.max() + 1)
        else:
            block = np.flatnonzero(dates <= dates[rows].max())
        proba = est.predict_proba(_safe_indexing(X, block))
        return _in_columns(proba, est.classes_, self.classes_)[
            np.searchsorted(block, rows)
        ]

    def predict_proba(self, X):
        """Calibrated class probabilities; each row sums to 1.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
            Rows as the classifier takes them.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        check_is_fitted(self)
        proba = _in_columns(
            self.estimator_.predict_proba(X), self.estimator_.classes_, self.classes_
        )
        return _apply_calibrators(self.calibrators_, proba)

    def predict(self, X):
        """Class with the highest calibrated probability.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class _SigmoidCalibrator(BaseEstimator):
    """Platt scaling of one class's probability: ``expit(a * logit(p) + b)``.

    Fitted by maximum likelihood on Platt's smoothed targets
    (``(n_pos + 1) / (n_pos + 2)`` and ``1 / (n_neg + 2)``), which keep the
    curve finite when the classes separate.
    """

    def fit(self, p, y):
        z = _logit(p)
        n_pos = float(y.sum())
        n_neg = len(y) - n_pos
        target = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

        def loss(params):
            q = np.clip(expit(params[0] * z + params[1]), _EPS, 1 - _EPS)
            residual = q - target
            value = -np.sum(target * np.log(q) + (1 - target) * np.log1p(-q))
            return value, np.array([residual @ z, residual.sum()])

        prior = np.log((n_pos + 1) / (n_neg + 1))
        result = minimize(loss, [1.0, prior], jac=True, method="L-BFGS-B")
        self.a_, self.b_ = float(result.x[0]), float(result.x[1])
        return self

    def predict(self, p):
        return expit(self.a_ * _logit(p) + self.b_)


def _logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _fit_calibrators(proba, y, method):
    """One calibrator per class (one for two classes); ``y`` holds column indices."""
    columns = [1] if proba.shape[1] == 2 else range(proba.shape[1])
    calibrators = []
    for k in columns:
        if method == "isotonic":
            cal = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        else:
            cal = _SigmoidCalibrator()
        calibrators.append(cal.fit(proba[:, k], (y == k).astype(np.float64)))
    return calibrators


def _apply_calibrators(calibrators, proba):
    """Calibrated probabilities; one-vs-rest rows renormalised to sum to 1."""
    if proba.shape[1] == 2:
        positive = np.clip(calibrators[0].predict(proba[:, 1]), 0.0, 1.0)
        return np.column_stack([1.0 - positive, positive])
    out = np.column_stack(
        [cal.predict(proba[:, k]) for k, cal in enumerate(calibrators)]
    )
    out = np.clip(out, 0.0, 1.0)
    total = out.sum(axis=1, keepdims=True)
    # Isotonic steps can map every class of a row to 0: nothing to prefer.
    uniform = total[:, 0] <= 0
    out[uniform] = 1.0 / proba.shape[1]
    total[uniform] = 1.0
    return out / total


def _in_columns(proba, fitted_classes, classes):
    """``proba`` with columns ``fitted_classes`` placed under ``classes``."""
    proba = np.asarray(proba, dtype=np.float64)
    if len(fitted_classes) == len(classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, np.searchsorted(classes, fitted_classes)] = proba
    return out


def _positions(rows, n_samples):
    return np.arange(n_samples)[rows] if isinstance(rows, slice) else rows


def calibrate_walk_forward(predictions, *, method="sigmoid", gap=0, min_rows=50):
    """Calibrate walk-forward test predictions on the earlier folds' only.

    For each model and each fold, a calibrator is fitted on that model's
    test predictions of the *earlier* folds (out-of-sample themselves),
    minus the last ``gap`` of them, whose labels are not yet known when the
    fold starts, and applied to the fold. Nothing is refitted: this shows
    what calibration in time order does to the members and the ensemble of
    a walk-forward evaluation.

    Parameters
    ----------
    predictions : pandas DataFrame
        The predictions of :func:`~sklensemble.evaluate.walk_forward`
        (``return_predictions=True``) on a single series: ``fold``,
        ``model``, ``y_true`` and ``proba_<class>`` columns, in time order
        within each model.
    method : {"sigmoid", "isotonic"}, default="sigmoid"
    gap : int, default=0
        Rows purged before each fold: the label horizon.
    min_rows : int, default=50
        Folds with fewer earlier rows than this are left out.

    Returns
    -------
    calibrated : pandas DataFrame
        The rows of the calibrated folds (every fold after the first, when
        it has ``min_rows`` rows before it), with calibrated ``proba_``
        columns and ``y_pred``; the ``"majority"`` rule (no probabilities)
        is left out.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklensemble import calibrate_walk_forward
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=300)
    >>> frame = pd.DataFrame({"fold": np.repeat([0, 1, 2], 100), "model": "m",
    ...     "y_true": np.where(rng.uniform(size=300) < p, "up", "down"),
    ...     "proba_down": 1 - p, "proba_up": p})
    >>> calibrate_walk_forward(frame, gap=1)["fold"].unique().tolist()
    [1, 2]
    """
    if method not in ("sigmoid", "isotonic"):
        raise ValueError(f"method must be 'sigmoid' or 'isotonic', got {method!r}.")
    gap = check_int(gap, "gap", 0)
    min_rows = check_int(min_rows, "min_rows", 1)
    columns = [c for c in predictions.columns if str(c).startswith("proba_")]
    missing = {"fold", "model", "y_true"} - set(predictions.columns)
    if missing or not columns:
        raise ValueError(
            "predictions must be walk_forward's predictions (fold, model, y_true "
            f"and proba_<class> columns); missing {sorted(missing) or 'proba_'}."
        )
    if "instrument" in predictions.columns:
        raise ValueError(
            "calibrate_walk_forward takes a single series' predictions; select "
            "one instrument's rows first."
        )
    classes = np.array([c[len("proba_") :] for c in columns], dtype=object)
    calibrated = []
    for model, rows in predictions.groupby("model", sort=False):
        if model == "majority":
            continue
        calibrated += _calibrate_model(rows, columns, classes, method, gap, min_rows)
    if not calibrated:
        return predictions.iloc[:0]
    return pd.concat(calibrated)


def _calibrate_model(rows, columns, classes, method, gap, min_rows):
    """One model's folds after the first, calibrated on the folds before."""
    folds = rows["fold"].to_numpy()
    proba = rows[columns].to_numpy(dtype=np.float64)
    position = {str(c): k for k, c in enumerate(classes)}
    y = np.array([position[str(v)] for v in rows["y_true"]])
    out = []
    for fold in pd.unique(folds):
        earlier = np.flatnonzero(folds < fold)
        earlier = earlier[: max(0, len(earlier) - gap)]
        if len(earlier) < min_rows:
            continue
        calibrators = _fit_calibrators(proba[earlier], y[earlier], method)
        now = folds == fold
        frame = rows[now].copy()
        fitted = _apply_calibrators(calibrators, proba[now])
        frame[columns] = fitted
        if "y_pred" in frame:
            labels = _labels_like(rows["y_true"].to_numpy(), classes)
            frame["y_pred"] = labels[fitted.argmax(axis=1)]
        out.append(frame)
    return out


def _labels_like(y_true, classes):
    """``classes`` (read from column names) in the type of the true labels."""
    by_text = {str(v): v for v in pd.unique(y_true)}
    return np.array([by_text.get(c, c) for c in classes], dtype=object)

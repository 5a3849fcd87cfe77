"""The shared logic of the two gradient-boosting members.

:class:`_TailEarlyStoppingBooster` builds a library classifier inside
``fit`` (fitted attribute ``model_``) and adds what the members share:
early stopping on the last rows, purged labels, class weights, the
instrument feature of panels, refitting on all rows, fit hooks and
scikit-learn's input checks. The two members (``_boosting``) say which
library model to build and how to fit it.
"""

import numbers
import warnings

import numpy as np
import pandas as pd
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._hooks import run_fit_hooks
from ._panel import panel_keys, take_rows
from ._sklearn_private import Interval, StrOptions, _check_sample_weight
from ._utils import _check_class_weight, _normalise, _rows, _to_seed
from ._validation import check_time_order, tail_rows


class _TailEarlyStoppingBooster(ClassifierMixin, BaseEstimator):
    """Shared fit/predict logic; subclasses build and fit the library model."""

    _parameter_constraints = {
        "n_estimators": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "subsample": [Interval(numbers.Real, 0, 1, closed="right")],
        "colsample_bytree": [Interval(numbers.Real, 0, 1, closed="right")],
        "reg_lambda": [Interval(numbers.Real, 0, None, closed="left")],
        "reg_alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "early_stopping_rounds": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither"), None],
        "validation_gap": [Interval(numbers.Integral, 0, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "booster_params": [dict, None],
        "random_state": ["random_state"],
        "n_jobs": [numbers.Integral, None],
        "verbose": ["verbose"],
        "instrument_feature": ["boolean"],
        "refit_full": ["boolean"],
    }

    # -- subclass hooks ---------------------------------------------------
    def _make_model(self, n_classes, seed, early_stopping):
        """Return the unfitted library classifier."""
        raise NotImplementedError

    def _fit_model(self, model, X, y, w, X_val, y_val, w_val):
        """Fit ``model``; validation arrays are None without early stopping."""
        raise NotImplementedError

    def _n_trees_kept(self, model, early_stopping):
        """Boosting rounds used for prediction."""
        raise NotImplementedError

    def _gain_importances(self):
        """Total gain per feature over the kept rounds (unnormalised)."""
        raise NotImplementedError

    def _predict_model_proba(self, X):
        raise NotImplementedError

    def _predict_row_proba(self, row):
        raise NotImplementedError

    # -- fit --------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the booster, early-stopping on the last rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows in time order. NaN marks a missing value.
        y : array-like of shape (n_samples,)
            Class labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, multiplied by the ``class_weight`` weights. The
            validation tail is weighted the same way.

        Returns
        -------
        self : object
            The fitted classifier.
        """
        self._fit(X, y, sample_weight)
        run_fit_hooks(self, X, y, sample_weight)
        return self

    def _fit(self, X, y, sample_weight):
        self._validate_params()
        self._check_booster_params()
        keys = panel_keys(X)
        if keys is None:
            check_time_order(X)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=("csr", "csc"),
            dtype=(np.float64, np.float32),
            ensure_all_finite="allow-nan",
        )
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in "
                "the data, but the data contains only one class: "
                f"{self.classes_[0]!r}."
            )
        y_enc = encoder.transform(y)
        w = self._row_weights(y, sample_weight, X)

        if self.instrument_feature:
            _check_panel(keys, X)
            self.instruments_ = keys.instrument_names.to_numpy()
        X = self._model_input(X, keys)
        train, valid = self._tail_rows(y_enc, keys)
        early = valid is not None
        seed = _to_seed(self.random_state)
        model = self._make_model(len(self.classes_), seed, early)
        fit_args = (take_rows(X, train), y_enc[train], _rows(w, train))
        val_args = (
            (take_rows(X, valid), y_enc[valid], _rows(w, valid))
            if early
            else (None, None, None)
        )
        self._fit_model(model, *fit_args, *val_args)
        self.n_estimators_ = self._n_trees_kept(model, early)
        if early and self.refit_full:
            # Early stopping chose the number of trees; grow that many again
            # on every row, the newest included.
            model = self._make_model(len(self.classes_), seed, False)
            model.set_params(n_estimators=self.n_estimators_)
            self._fit_model(model, X, y_enc, w, None, None, None)
            self.n_estimators_ = self._n_trees_kept(model, False)
        self.model_ = model
        self.best_iteration_ = self.n_estimators_ - 1
        gains = self._gain_importances()
        if self.instrument_feature:
            total = gains.sum()
            self.instrument_importance_ = float(gains[-1] / total) if total > 0 else 0.0
            gains = gains[:-1]
        self.feature_importances_ = _normalise(gains)
        return self

    def _model_input(self, X, keys):
        """X, plus the categorical instrument column when it is a feature."""
        if not self.instrument_feature:
            return X
        frame = pd.DataFrame(
            _check_panel(keys, X), columns=[f"f{i}" for i in range(X.shape[1])]
        )
        # Codes of the fitted instruments; -1 (missing) for one unseen in fit.
        codes = pd.Index(self.instruments_).get_indexer(keys.instrument_names)
        frame["instrument"] = pd.Categorical.from_codes(
            codes[keys.instrument], categories=self.instruments_
        )
        return frame

    def _check_booster_params(self):
        clash = set(self.booster_params or {}) & set(self.get_params(deep=False))
        if clash:
            raise ValueError(
                f"booster_params repeats the parameters {sorted(clash)} of "
                f"{type(self).__name__}; set them as constructor parameters."
            )

    def _row_weights(self, y, sample_weight, X):
        """Sample weights times class weights, or None when all are 1."""
        if sample_weight is None and self.class_weight is None:
            return None
        w = _check_sample_weight(sample_weight, X, dtype=np.float64)
        _check_class_weight(self.class_weight, self.classes_)
        if self.class_weight is not None:
            w = w * compute_sample_weight(self.class_weight, y)
        return w

    def _tail_rows(self, y_enc, keys):
        """(train, valid) rows; all rows and no validation if a class is missing."""
        dates = None if keys is None else keys.date
        train, valid = tail_rows(
            len(y_enc), self.validation_fraction, dates, self.validation_gap
        )
        missing = np.setdiff1d(np.arange(len(self.classes_)), y_enc[train])
        n_train = len(y_enc[train])
        if valid is not None and missing.size:
            warnings.warn(
                f"{type(self).__name__}: the first {n_train} rows (before the "
                f"validation tail and its gap) lack the classes "
                f"{self.classes_[missing].tolist()}, which appear only in the "
                f"last rows; early stopping is disabled and all {len(y_enc)} "
                f"rows train {self.n_estimators} trees. Lower "
                "validation_fraction or pass validation_fraction=None to "
                "silence this warning.",
                UserWarning,
                stacklevel=3,
            )
            return slice(None), None
        return train, valid

    # -- predict ----------------------------------------------------------
    def predict_proba(self, X):
        """Class probabilities from the kept trees.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        check_is_fitted(self)
        keys = panel_keys(X) if self.instrument_feature else None
        X = validate_data(
            self,
            X,
            reset=False,
            accept_sparse=("csr", "csc"),
            dtype=(np.float64, np.float32),
            ensure_all_finite="allow-nan",
        )
        X = self._model_input(X, keys)
        proba = np.asarray(self._predict_model_proba(X), dtype=np.float64)
        # XGBoost computes in float32: rows miss 1 by ~1e-7, which makes
        # sklearn's log_loss warn. Renormalise in float64.
        return proba / proba.sum(axis=1, keepdims=True)

    def _serve_row(self, row):
        """Probabilities of one checked float row, by the library's own call.

        The serving path's call: the ensemble checked the row, so this skips
        :meth:`predict_proba`'s checks (an instrument feature needs them).
        """
        if self.instrument_feature:
            return self.predict_proba(row)
        proba = np.asarray(self._predict_row_proba(row), dtype=np.float64)
        if proba.ndim == 1:  # binary: the library returns P(class 1)
            proba = np.column_stack([1.0 - proba, proba])
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Most probable class for each row.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input rows.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)  # checks fitted before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = True
        return tags

    def _verbose_period(self):
        """Rounds between printed validation scores; 0 prints nothing."""
        return int(self.verbose)


def _check_panel(keys, X):
    """X as a dense array, or a clear error when instrument_feature has no panel."""
    if keys is None:
        raise ValueError(
            "instrument_feature=True needs X as a panel: a DataFrame indexed by "
            "(instrument, date) (see sklensemble.to_panel). Pass a panel or "
            "set instrument_feature=False."
        )
    if issparse(X):
        raise ValueError(
            "instrument_feature=True needs dense X; convert it with X.toarray()."
        )
    return X

"""Gradient-boosting members: XGBoostClassifier and LightGBMClassifier.

Composition, not inheritance: each classifier is a plain scikit-learn
estimator that builds an ``xgboost.XGBClassifier`` or a
``lightgbm.LGBMClassifier`` inside ``fit`` (fitted attribute ``model_``).
What they add to the library classifiers:

* early stopping on the *last* ``validation_fraction`` of the training rows
  (the shared :func:`~sklensemble._validation.tail_rows`; the last dates
  of a panel), purged of the ``validation_gap`` rows before it, with no
  ``eval_set`` to pass, so "validation" means the same rows as for the
  network members and the ensemble's learned weights;
* labels of any type (strings, -1/0/1, ...) encoded to ``0..K-1``;
* ``class_weight`` as in scikit-learn, applied as sample weights;
* scikit-learn's input checks and error messages instead of library ones.
"""

import inspect
import numbers

import numpy as np
from scipy.sparse import csc_matrix, csr_matrix, issparse, spmatrix

from ._booster_base import _TailEarlyStoppingBooster
from ._sklearn_private import Interval


def _lightgbm_eval_kwargs(model, X_val, y_val):
    """Validation set in the spelling this LightGBM version expects."""
    # LightGBM 4.7 deprecates eval_set in favour of eval_X / eval_y.
    if "eval_X" in inspect.signature(model.fit).parameters:
        return {"eval_X": (X_val,), "eval_y": (y_val,)}
    return {"eval_set": [(X_val, y_val)]}


class XGBoostClassifier(_TailEarlyStoppingBooster):
    """XGBoost classifier that early-stops on the last rows of its data.

    Early stopping holds out the **last** ``validation_fraction`` of the rows
    in the order given (time order; no shuffling) and keeps the number of
    trees with the best validation log-loss. No ``eval_set`` is needed.
    The ``validation_gap`` rows before that tail are purged (they neither
    train nor validate), so that no training label looks into the tail.
    If the leading training rows lack a class that only the held-out tail
    contains, the libraries cannot train on them with the full label set:
    early stopping is then switched off with a warning and all rows train
    ``n_estimators`` trees.

    Missing values (NaN) are supported natively: each split learns a default
    direction for them. Infinite values are rejected. Sparse CSR/CSC input
    is accepted; note that XGBoost treats unstored entries of a sparse
    matrix as missing, not 0.

    On a panel (a DataFrame with an ``(instrument, date)`` MultiIndex, see
    :func:`~sklensemble.to_panel`) the last *dates* are held out, so every
    instrument of a date falls on one side, and ``instrument_feature=True``
    adds the instrument as a categorical feature (an instrument unseen in
    fit is treated as missing).

    Read more in ``docs/estimators.md`` ("The boosters").

    Parameters
    ----------
    n_estimators : int, default=500
        Maximum number of boosting rounds; early stopping usually keeps fewer.
    learning_rate : float, default=0.05
        Shrinkage of each tree's contribution.
    max_depth : int, default=4
        Maximum depth of a tree (shallow trees suit noisy market data).
    subsample : float, default=0.8
        Share of rows sampled (without replacement) for each tree.
    colsample_bytree : float, default=0.8
        Share of features sampled for each tree.
    min_child_weight : float, default=1.0
        Minimum sum of hessians (weights) in a leaf.
    reg_lambda : float, default=1.0
        L2 penalty on leaf values.
    reg_alpha : float, default=0.0
        L1 penalty on leaf values.
    early_stopping_rounds : int, default=20
        Stop when the validation log-loss has not improved for this many
        rounds; the best round is kept.
    validation_fraction : float or None, default=0.1
        Share of the **last** rows held out for early stopping. ``None``
        trains on every row for ``n_estimators`` rounds.
    validation_gap : int, default=0
        Rows (dates, on a panel) right before the held-out tail that neither
        train nor validate: set it to the label horizon, so that no training
        label looks into the tail (the ``purge`` of
        :class:`~sklensemble.PurgedWalkForwardSplit`).
        :func:`~sklensemble.make_ensemble_pipeline` sets it from its
        ``horizon``. Ignored when ``validation_fraction=None``.
    class_weight : dict, "balanced" or None, default=None
        Weights per class (keys are the original labels) applied as sample
        weights; ``"balanced"`` uses ``n_samples / (n_classes * counts)``.
    booster_params : dict or None, default=None
        Further keyword arguments for ``xgboost.XGBClassifier``, for example
        ``{"max_bin": 128}`` or ``{"device": "cuda"}``. They must not repeat
        a parameter above.
    random_state : int, RandomState instance or None, default=None
        Seeds the row and column sampling.
    n_jobs : int or None, default=None
        Threads used by XGBoost; ``None`` lets XGBoost choose.
    verbose : int, default=0
        ``k > 0`` prints the validation log-loss every ``k`` rounds.
        ``0`` prints nothing but XGBoost's own warnings.
    instrument_feature : bool, default=False
        Panels only: add each row's instrument (read from the index, never
        from the numeric features) as a categorical feature.
    refit_full : bool, default=False
        After early stopping chose the number of trees on the tail, grow
        that many trees again on **all** rows, the tail included, with the
        same seed, and keep that model. Costs up to twice the training.
        No effect when nothing is held out.

    Attributes
    ----------
    model_ : xgboost.XGBClassifier
        The fitted library classifier, trained on labels ``0..K-1``.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_estimators_ : int
        Boosting rounds used for prediction: the best round when early
        stopping ran (the rounds grown again on all rows with
        ``refit_full=True``), else the rounds built (``n_estimators`` unless
        the library found no further split).
    best_iteration_ : int
        Zero-based index of the last round used: ``n_estimators_ - 1``.
    feature_importances_ : ndarray of shape (n_features,)
        Total gain of each feature's splits over the rounds used, normalised
        to sum to 1 (all zeros if no split was made).
    instruments_ : ndarray of shape (n_instruments,)
        The panel's instruments, with ``instrument_feature=True`` only.
    instrument_importance_ : float
        Share of the total gain earned by the instrument feature, with
        ``instrument_feature=True`` only (``feature_importances_`` then
        covers the numeric features and still sums to 1).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column
        names.

    See Also
    --------
    LightGBMClassifier : The same early stopping around LightGBM.
    SoftVotingEnsemble : Combines boosters with sequence networks.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklensemble import XGBoostClassifier
    >>> X, y = make_classification(n_samples=300, random_state=0)
    >>> clf = XGBoostClassifier(n_estimators=50, n_jobs=1, random_state=0)
    >>> clf = clf.fit(X, y)
    >>> clf.n_estimators_ <= 50
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        **_TailEarlyStoppingBooster._parameter_constraints,
        "max_depth": [Interval(numbers.Integral, 0, None, closed="left")],
        "min_child_weight": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_estimators=500,
        learning_rate=0.05,
        max_depth=4,
        subsample=0.8,
        colsample_bytree=0.8,
        min_child_weight=1.0,
        reg_lambda=1.0,
        reg_alpha=0.0,
        early_stopping_rounds=20,
        validation_fraction=0.1,
        validation_gap=0,
        class_weight=None,
        booster_params=None,
        random_state=None,
        n_jobs=None,
        verbose=0,
        instrument_feature=False,
        refit_full=False,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.validation_gap = validation_gap
        self.class_weight = class_weight
        self.booster_params = booster_params
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.instrument_feature = instrument_feature
        self.refit_full = refit_full

    def _make_model(self, n_classes, seed, early_stopping):
        from xgboost import XGBClassifier

        return XGBClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            min_child_weight=self.min_child_weight,
            reg_lambda=self.reg_lambda,
            reg_alpha=self.reg_alpha,
            early_stopping_rounds=self.early_stopping_rounds
            if early_stopping
            else None,
            eval_metric="logloss" if n_classes == 2 else "mlogloss",
            random_state=seed,
            n_jobs=self.n_jobs,
            verbosity=1,
            enable_categorical=self.instrument_feature,
            **(self.booster_params or {}),
        )

    def _fit_model(self, model, X, y, w, X_val, y_val, w_val):
        kwargs = {}
        if X_val is not None:
            kwargs["eval_set"] = [(X_val, y_val)]
            if w_val is not None:
                kwargs["sample_weight_eval_set"] = [w_val]
        period = self._verbose_period()
        model.fit(X, y, sample_weight=w, verbose=period if period else False, **kwargs)

    def _n_trees_kept(self, model, early_stopping):
        if early_stopping:
            return int(model.best_iteration) + 1
        return model.get_booster().num_boosted_rounds()

    def _gain_importances(self):
        booster = self.model_.get_booster()
        if self.n_estimators_ < booster.num_boosted_rounds():
            booster = booster[: self.n_estimators_]
        # total_gain matches LightGBM's "gain"; XGBoost's default "gain" is
        # the mean gain per split, which favours rarely used features.
        scores = booster.get_score(importance_type="total_gain")
        importances = np.zeros(self.n_features_in_ + self.instrument_feature)
        for key, value in scores.items():
            # keys are "f0", "f1", ...; the instrument column comes last.
            index = -1 if key == "instrument" else int(key[1:])
            importances[index] = value
        return importances

    def _predict_model_proba(self, X):
        return self.model_.predict_proba(X, iteration_range=(0, self.n_estimators_))

    def _predict_row_proba(self, row):
        # The call XGBClassifier.predict_proba makes for dense input.
        booster = self.model_.get_booster()
        return booster.inplace_predict(row, iteration_range=(0, self.n_estimators_))


class LightGBMClassifier(_TailEarlyStoppingBooster):
    """LightGBM classifier that early-stops on the last rows of its data.

    Early stopping holds out the **last** ``validation_fraction`` of the rows
    in the order given (time order; no shuffling) and keeps the number of
    trees with the best validation log-loss. No ``eval_set`` is needed.
    The ``validation_gap`` rows before that tail are purged (they neither
    train nor validate), so that no training label looks into the tail.
    If the leading training rows lack a class that only the held-out tail
    contains, the libraries cannot train on them with the full label set:
    early stopping is then switched off with a warning and all rows train
    ``n_estimators`` trees.

    Missing values (NaN) are supported natively: each split learns a default
    direction for them. Infinite values are rejected. Sparse CSR/CSC input
    is accepted; note that LightGBM treats unstored entries of a sparse
    matrix as 0.

    On a panel (a DataFrame with an ``(instrument, date)`` MultiIndex, see
    :func:`~sklensemble.to_panel`) the last *dates* are held out, so every
    instrument of a date falls on one side, and ``instrument_feature=True``
    adds the instrument as a categorical feature (an instrument unseen in
    fit is treated as missing).

    Read more in ``docs/estimators.md`` ("The boosters").

    Parameters
    ----------
    n_estimators : int, default=500
        Maximum number of boosting rounds; early stopping usually keeps fewer.
    learning_rate : float, default=0.05
        Shrinkage of each tree's contribution.
    num_leaves : int, default=15
        Maximum leaves per tree (LightGBM grows trees leaf-wise).
    max_depth : int, default=-1
        Maximum depth of a tree; ``-1`` or ``0`` means no limit.
    subsample : float, default=0.8
        Share of rows sampled (without replacement) for each tree.
    colsample_bytree : float, default=0.8
        Share of features sampled for each tree.
    min_child_samples : int, default=20
        Minimum number of rows in a leaf.
    reg_lambda : float, default=0.0
        L2 penalty on leaf values.
    reg_alpha : float, default=0.0
        L1 penalty on leaf values.
    early_stopping_rounds : int, default=20
        Stop when the validation log-loss has not improved for this many
        rounds; the best round is kept.
    validation_fraction : float or None, default=0.1
        Share of the **last** rows held out for early stopping. ``None``
        trains on every row for ``n_estimators`` rounds.
    validation_gap : int, default=0
        Rows (dates, on a panel) right before the held-out tail that neither
        train nor validate: set it to the label horizon, so that no training
        label looks into the tail (the ``purge`` of
        :class:`~sklensemble.PurgedWalkForwardSplit`).
        :func:`~sklensemble.make_ensemble_pipeline` sets it from its
        ``horizon``. Ignored when ``validation_fraction=None``.
    class_weight : dict, "balanced" or None, default=None
        Weights per class (keys are the original labels) applied as sample
        weights; ``"balanced"`` uses ``n_samples / (n_classes * counts)``.
    booster_params : dict or None, default=None
        Further keyword arguments for ``lightgbm.LGBMClassifier``, for example
        ``{"max_bin": 127}``. They must not repeat a parameter above.
    random_state : int, RandomState instance or None, default=None
        Seeds the row and column sampling.
    n_jobs : int or None, default=None
        Threads used by LightGBM; ``None`` lets LightGBM choose.
    verbose : int, default=0
        ``k > 0`` prints the validation log-loss every ``k`` rounds.
        ``0`` prints nothing (LightGBM runs with ``verbosity=-1``).
    instrument_feature : bool, default=False
        Panels only: add each row's instrument (read from the index, never
        from the numeric features) as a categorical feature.
    refit_full : bool, default=False
        After early stopping chose the number of trees on the tail, grow
        that many trees again on **all** rows, the tail included, with the
        same seed, and keep that model. Costs up to twice the training.
        No effect when nothing is held out.

    Attributes
    ----------
    model_ : lightgbm.LGBMClassifier
        The fitted library classifier, trained on labels ``0..K-1``.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_estimators_ : int
        Boosting rounds used for prediction: the best round when early
        stopping ran (the rounds grown again on all rows with
        ``refit_full=True``), else the rounds built (``n_estimators`` unless
        the library found no further split).
    best_iteration_ : int
        Zero-based index of the last round used: ``n_estimators_ - 1``.
    feature_importances_ : ndarray of shape (n_features,)
        Total gain of each feature's splits over the rounds used, normalised
        to sum to 1 (all zeros if no split was made).
    instruments_ : ndarray of shape (n_instruments,)
        The panel's instruments, with ``instrument_feature=True`` only.
    instrument_importance_ : float
        Share of the total gain earned by the instrument feature, with
        ``instrument_feature=True`` only (``feature_importances_`` then
        covers the numeric features and still sums to 1).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` had string column
        names.

    See Also
    --------
    XGBoostClassifier : The same early stopping around XGBoost.
    SoftVotingEnsemble : Combines boosters with sequence networks.

    Notes
    -----
    Row subsampling (``subsample < 1``) is applied on every round
    (``subsample_freq=1``); LightGBM ignores ``subsample`` otherwise.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklensemble import LightGBMClassifier
    >>> X, y = make_classification(n_samples=300, random_state=0)
    >>> clf = LightGBMClassifier(n_estimators=50, n_jobs=1, random_state=0)
    >>> clf = clf.fit(X, y)
    >>> clf.n_estimators_ <= 50
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        **_TailEarlyStoppingBooster._parameter_constraints,
        "num_leaves": [Interval(numbers.Integral, 2, None, closed="left")],
        "max_depth": [numbers.Integral],
        "min_child_samples": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_estimators=500,
        learning_rate=0.05,
        num_leaves=15,
        max_depth=-1,
        subsample=0.8,
        colsample_bytree=0.8,
        min_child_samples=20,
        reg_lambda=0.0,
        reg_alpha=0.0,
        early_stopping_rounds=20,
        validation_fraction=0.1,
        validation_gap=0,
        class_weight=None,
        booster_params=None,
        random_state=None,
        n_jobs=None,
        verbose=0,
        instrument_feature=False,
        refit_full=False,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.validation_gap = validation_gap
        self.class_weight = class_weight
        self.booster_params = booster_params
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.instrument_feature = instrument_feature
        self.refit_full = refit_full

    def _make_model(self, n_classes, seed, early_stopping):
        from lightgbm import LGBMClassifier

        params = dict(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            max_depth=self.max_depth,
            subsample=self.subsample,
            subsample_freq=1 if self.subsample < 1 else 0,
            colsample_bytree=self.colsample_bytree,
            min_child_samples=self.min_child_samples,
            reg_lambda=self.reg_lambda,
            reg_alpha=self.reg_alpha,
            random_state=seed,
            n_jobs=self.n_jobs,
            verbosity=1 if self.verbose else -1,
        )
        params.update(self.booster_params or {})
        return LGBMClassifier(**params)

    def _fit_model(self, model, X, y, w, X_val, y_val, w_val):
        import lightgbm

        X, X_val = _sparse_matrix(X), _sparse_matrix(X_val)
        kwargs, callbacks = {}, []
        if X_val is not None:
            kwargs.update(_lightgbm_eval_kwargs(model, X_val, y_val))
            if w_val is not None:
                kwargs["eval_sample_weight"] = [w_val]
            callbacks.append(
                lightgbm.early_stopping(
                    self.early_stopping_rounds, first_metric_only=True, verbose=False
                )
            )
        if self._verbose_period():
            callbacks.append(lightgbm.log_evaluation(self._verbose_period()))
        model.fit(X, y, sample_weight=w, callbacks=callbacks, **kwargs)

    def _n_trees_kept(self, model, early_stopping):
        # LightGBM counts its best iteration from 1, and may build fewer
        # rounds than asked when no split improves the loss any more.
        built = model.booster_.current_iteration()
        return min(int(model.best_iteration_), built) if early_stopping else built

    def _gain_importances(self):
        return self.model_.booster_.feature_importance(
            importance_type="gain", iteration=self.n_estimators_
        )

    def _predict_model_proba(self, X):
        return self.model_.predict_proba(
            _sparse_matrix(X), num_iteration=self.n_estimators_
        )

    def _predict_row_proba(self, row):
        # The call LGBMClassifier.predict_proba makes, without its checks.
        return self.model_.booster_.predict(row, num_iteration=self.n_estimators_)


def _sparse_matrix(X):
    """LightGBM reads scipy sparse *matrices* directly but copies sparse arrays."""
    if X is None or not issparse(X) or isinstance(X, spmatrix):
        return X
    return csr_matrix(X) if X.format == "csr" else csc_matrix(X)

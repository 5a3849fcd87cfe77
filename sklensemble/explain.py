"""Per-row, per-feature attributions of a fitted ensemble, in probability space.

:func:`explain_ensemble` explains a fitted :class:`~sklensemble.SoftVotingEnsemble`
(or the Pipeline of :func:`~sklensemble.make_ensemble_pipeline`) member by
member and combines the members with the ensemble's ``weights_``:

* **Boosters**: exact TreeSHAP values of every class's margin, from the
  boosters' own C++ routines (XGBoost ``pred_contribs``, LightGBM
  ``pred_contrib``). They are carried into probability space along the
  softmax: each feature's margin contributions are multiplied by the
  softmax's Jacobian averaged over the straight path from the expected
  margin to the row's margin (Gauss-Legendre quadrature). Because the
  margin values add up exactly, so do the probability values: they sum to
  the member's probability minus the probability at its expected margin.
* **Networks**: integrated gradients of every class probability over the
  member's look-back window, against an all-zero window (through the
  pipeline's RobustScaler, every feature at its training median). The
  attribution of window feature ``j`` at lag ``k`` belongs to input
  feature ``j``; summing over lags gives the per-feature value, and the
  per-lag values are kept.

Why no ``shap`` dependency: its ``TreeExplainer(model_output="probability")``
supports a single logistic output only, not the softmax of the three-class
(Buy/Hold/Sell) boosters, and the boosters already ship exact TreeSHAP.
Attributions therefore need only the core dependencies; the ``explain``
extra adds matplotlib for :func:`plot_explanation`.

Read more in ``docs/explain.md``.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from ._boosting import LightGBMClassifier, XGBoostClassifier
from ._ensemble import SoftVotingEnsemble
from ._sequence_base import _SequenceClassifierBase
from ._utils import _final_step
from ._windowing import SequenceWindower

__all__ = ["Explanation", "explain_ensemble", "plot_explanation"]

# Rows of one integrated-gradients pass (times ``n_steps`` forward passes).
_IG_BATCH_ROWS = 256
# Quadrature nodes of the softmax path integral: far past float64 accuracy
# for the margin ranges boosters produce.
_LINK_NODES = 64


@dataclass
class Explanation:
    """Attributions of one model (an ensemble or one of its members).

    ``values[i, :, k].sum() + expected_value[k]`` is the probability of class
    ``k`` for row ``i`` (exactly for boosters, to the integration error of
    integrated gradients for networks). Built by :func:`explain_ensemble`;
    its fields are read as attributes.

    Parameters
    ----------
    values : ndarray of shape (n_rows, n_features, n_classes)
        Attribution of each feature to each class probability of each row.
    expected_value : ndarray of shape (n_classes,)
        Probabilities the attributions start from.
    prediction : ndarray of shape (n_rows, n_classes)
        Probabilities explained: ``expected_value + values.sum(axis=1)``.
    feature_names : ndarray of shape (n_features,)
    classes : ndarray of shape (n_classes,)
    index : pandas.Index
        The explained rows' index (a RangeIndex for arrays).
    values_by_lag : ndarray of shape (n_rows, sequence_length, n_features, \
            n_classes) or None
        Networks only: the attributions per lag, lag 0 being the row
        itself; ``values`` is their sum over lags.
    members : dict of str to Explanation
        The members' explanations (an ensemble's only), by member name.
    weights : dict of str to float
        The ensemble's ``weights_`` (an ensemble's only).
    """

    values: np.ndarray
    expected_value: np.ndarray
    prediction: np.ndarray
    feature_names: np.ndarray
    classes: np.ndarray
    index: pd.Index
    values_by_lag: np.ndarray | None = None
    members: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)

    def to_frame(self, class_label):
        """Attributions to one class as a DataFrame (rows x features).

        Parameters
        ----------
        class_label : object
            One of ``classes``.

        Returns
        -------
        frame : pandas.DataFrame
        """
        return pd.DataFrame(
            self.values[:, :, self._class_position(class_label)],
            index=self.index,
            columns=self.feature_names,
        )

    def mean_abs(self):
        """Mean absolute attribution per feature and class (features x classes).

        Returns
        -------
        frame : pandas.DataFrame
        """
        return pd.DataFrame(
            np.abs(self.values).mean(axis=0),
            index=self.feature_names,
            columns=self.classes,
        )

    def _class_position(self, class_label):
        positions = np.flatnonzero(self.classes == class_label)
        if not positions.size:
            raise ValueError(
                f"class_label {class_label!r} is not one of the classes "
                f"{self.classes.tolist()}."
            )
        return int(positions[0])


def explain_ensemble(model, X, *, last=None, n_steps=32):
    """Explain a fitted ensemble's class probabilities, row by row.

    Parameters
    ----------
    model : Pipeline or SoftVotingEnsemble
        A fitted :class:`~sklensemble.SoftVotingEnsemble`, or a fitted
        Pipeline ending in one (as built by
        :func:`~sklensemble.make_ensemble_pipeline`) whose earlier steps keep
        the columns one to one (a scaler), so that the attributions belong to
        the input columns. Members: :class:`~sklensemble.XGBoostClassifier`,
        :class:`~sklensemble.LightGBMClassifier`, and
        ``Pipeline(SequenceWindower, network)``.
    X : array-like of shape (n_rows, n_features)
        Rows to explain, with the columns the model was fitted on, in time
        order. A network's window of row ``i`` holds the rows before it in
        ``X``: pass enough preceding rows and explain the last ones.
    last : int or None, default=None
        Explain only the last ``last`` rows of ``X``; the rows before them
        serve as the networks' look-back context. ``None`` explains every
        row.
    n_steps : int, default=32
        Integration points of the networks' integrated gradients (the cost
        grows linearly with it).

    Returns
    -------
    explanation : Explanation
        The ensemble's attributions, ``sum over members of weight x member
        attributions`` per class, with the members' in ``members``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble import XGBoostClassifier, SoftVotingEnsemble
    >>> from sklensemble.explain import explain_ensemble
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3))
    >>> y = (X[:, 1] > 0).astype(int)
    >>> ens = SoftVotingEnsemble(
    ...     [("xgb", XGBoostClassifier(n_estimators=20, random_state=0))]
    ... ).fit(X, y)
    >>> ex = explain_ensemble(ens, X[-50:])
    >>> ex.values.shape
    (50, 3, 2)
    >>> int(ex.mean_abs().sum(axis=1).argmax())
    1
    >>> np.allclose(ex.values.sum(axis=1) + ex.expected_value,
    ...             ens.predict_proba(X[-50:]), atol=1e-5)
    True
    """
    _check_positive_int(n_steps, "n_steps")
    if last is not None:
        _check_positive_int(last, "last")
    ensemble, rows, names, index = _ensemble_rows(model, X)
    kept = slice(None) if last is None else slice(-last, None)
    index = index[kept]
    members = {}
    for (name, weight), est in zip(
        ensemble.weights_.items(), ensemble.estimators_, strict=True
    ):
        if weight == 0:
            continue
        values, expected, proba, by_lag = _explain_member(
            name, est, rows, kept, n_steps
        )
        columns = np.asarray(est.classes_).astype(np.intp)
        n_classes = len(ensemble.classes_)
        members[name] = Explanation(
            values=_in_columns(values, columns, n_classes),
            expected_value=_in_columns(expected, columns, n_classes),
            prediction=_in_columns(proba, columns, n_classes),
            feature_names=names,
            classes=ensemble.classes_,
            index=index,
            values_by_lag=None
            if by_lag is None
            else _in_columns(by_lag, columns, n_classes),
        )
    weights = {name: ensemble.weights_[name] for name in members}
    return Explanation(
        values=sum(w * members[n].values for n, w in weights.items()),
        expected_value=sum(w * members[n].expected_value for n, w in weights.items()),
        prediction=sum(w * members[n].prediction for n, w in weights.items()),
        feature_names=names,
        classes=ensemble.classes_,
        index=index,
        members=members,
        weights=weights,
    )


# -- the model and its rows -------------------------------------------------
def _ensemble_rows(model, X):
    """(ensemble, rows it sees, input feature names, index) of a fitted model.

    The rows are what the ensemble hands its members (a panel stays a panel,
    so that windows are built within each instrument).
    """
    ensemble = _final_step(model)
    if not isinstance(ensemble, SoftVotingEnsemble):
        raise TypeError(
            "explain_ensemble explains a SoftVotingEnsemble or a Pipeline ending "
            f"in one, got {type(ensemble).__name__}."
        )
    if not hasattr(ensemble, "estimators_"):
        raise NotFittedError(
            f"This {type(model).__name__} instance is not fitted yet. Call 'fit' "
            "before explaining it."
        )
    index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(X))
    rows = model[:-1].transform(X) if isinstance(model, Pipeline) else X
    checked = ensemble._validate_X(rows, reset=False)
    if checked.shape[1] != np.shape(X)[1]:
        raise ValueError(
            f"The steps before the ensemble turn {np.shape(X)[1]} columns into "
            f"{checked.shape[1]}: attributions would not belong to the input "
            "columns. Explain the ensemble step on the transformed rows instead."
        )
    names = getattr(ensemble, "feature_names_in_", None)
    if names is None:
        names = np.array([f"x{j}" for j in range(checked.shape[1])], dtype=object)
    return ensemble, checked, np.asarray(names), index


def _check_positive_int(value, name):
    if not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _explain_member(name, est, rows, kept, n_steps):
    """(values, expected, proba, values_by_lag or None) in the member's classes."""
    if isinstance(est, XGBoostClassifier | LightGBMClassifier):
        if est.instrument_feature:
            raise ValueError(
                f"Member {name!r} reads the instrument as a feature; explanations "
                "cover numeric features only. Refit it with "
                "instrument_feature=False to explain it."
            )
        dense = rows.toarray() if hasattr(rows, "toarray") else rows
        values, expected, proba = _tree_attributions(
            est, np.asarray(dense[kept], dtype=np.float64)
        )
        return values, expected, proba, None
    steps = est.steps if isinstance(est, Pipeline) else []
    if (
        len(steps) == 2
        and isinstance(steps[0][1], SequenceWindower)
        and isinstance(steps[1][1], _SequenceClassifierBase)
    ):
        windows = np.asarray(steps[0][1].transform(rows)[kept], dtype=np.float32)
        by_lag, expected, proba = _network_attributions(steps[1][1], windows, n_steps)
        return by_lag.sum(axis=1), expected, proba, by_lag
    raise TypeError(
        f"Member {name!r} ({type(est).__name__}) cannot be explained: "
        "explanations cover XGBoostClassifier, LightGBMClassifier and "
        "Pipeline(SequenceWindower, AttentionLSTMClassifier or "
        "TransformerClassifier) members. Set its weight to 0 or drop it."
    )


def _in_columns(array, columns, n_classes):
    """``array`` with its last axis (member classes) placed in ensemble classes."""
    if array.shape[-1] == n_classes and np.array_equal(columns, np.arange(n_classes)):
        return array
    full = np.zeros(array.shape[:-1] + (n_classes,))
    full[..., columns] = array
    return full


# -- boosters: exact TreeSHAP of the margins, carried along the softmax --------
def _tree_attributions(est, rows):
    """Probability-space attributions of a booster from its margin TreeSHAP."""
    contribs = _margin_contributions(est, rows)  # (n, K, F + 1), bias last
    if contribs.shape[1] == 1:  # binary: the margin is class 1's log-odds
        contribs = np.concatenate([np.zeros_like(contribs), contribs], axis=1)
    phi, bias = contribs[..., :-1], contribs[:, :, -1]
    start = bias[0]  # the expected margin, the same for every row
    jacobian = _mean_softmax_jacobian(start, phi.sum(axis=2))  # (n, K, K)
    values = np.einsum("nkc,ncf->nfk", jacobian, phi)
    expected = _softmax(start[np.newaxis])[0]
    return values, expected, _softmax(contribs.sum(axis=2))


def _margin_contributions(est, rows):
    """Per-class TreeSHAP of the margin, ``(n_rows, n_margins, n_features + 1)``."""
    n_rows, n_features = rows.shape
    if isinstance(est, XGBoostClassifier):
        from xgboost import DMatrix

        booster = est.model_.get_booster()
        matrix = DMatrix(rows, missing=np.nan, feature_names=booster.feature_names)
        contribs = booster.predict(
            matrix,
            pred_contribs=True,
            iteration_range=(0, est.n_estimators_),
        )
    else:
        contribs = est.model_.booster_.predict(
            rows, pred_contrib=True, num_iteration=est.n_estimators_
        )
    return np.asarray(contribs, dtype=np.float64).reshape(n_rows, -1, n_features + 1)


def _softmax(margins):
    shifted = np.exp(margins - margins.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _mean_softmax_jacobian(start, deltas):
    """Softmax Jacobian averaged over ``start + t * delta``, t in [0, 1], per row.

    ``J @ delta`` is then exactly ``softmax(start + delta) - softmax(start)``.
    """
    nodes, weights = np.polynomial.legendre.leggauss(_LINK_NODES)
    nodes, weights = (nodes + 1) / 2, weights / 2  # from [-1, 1] to [0, 1]
    mean = np.zeros(deltas.shape + (deltas.shape[1],))
    for t, w in zip(nodes, weights, strict=True):
        p = _softmax(start + t * deltas)  # (n, K)
        mean += w * (
            p[:, :, np.newaxis] * np.eye(p.shape[1]) - np.einsum("nk,nc->nkc", p, p)
        )
    return mean


# -- networks: integrated gradients over the look-back window -----------------
def _network_attributions(net, windows, n_steps):
    """(values by lag, expected, proba) of a sequence network's windows.

    Integrated gradients of the softmax probabilities against an all-zero
    window, the path integral by Gauss-Legendre quadrature. Missing-value
    indicator inputs (``missing_indicator_features_``) are credited to the
    feature they indicate.
    """
    if getattr(net, "quantized_", False):
        raise ValueError(
            "A quantized network has no gradients to explain: explain the "
            "model before quantize_networks, or refit it."
        )
    module, device = net.module_, net.device_
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    nodes, weights = (nodes + 1) / 2, weights / 2
    # A writable copy: torch reads no read-only (strided window) memory.
    filled = np.array(net._fill_missing(windows), dtype=np.float32)
    n_classes = len(net.classes_)
    by_input = np.zeros(filled.shape + (n_classes,))
    proba = np.empty((len(filled), n_classes))
    was_training = module.training
    module.eval()
    # cuDNN's recurrent kernels run backward in training mode only.
    try:
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):
            for start in range(0, len(filled), _IG_BATCH_ROWS):
                batch = torch.as_tensor(filled[start : start + _IG_BATCH_ROWS])
                rows = slice(start, start + len(batch))
                by_input[rows] = _integrated_gradients(
                    module, batch.to(device), nodes, weights, n_classes
                )
                with torch.inference_mode():
                    proba[rows] = net._forward(batch)
            with torch.inference_mode():
                expected = net._forward(torch.zeros((1,) + filled.shape[1:]))[0]
    finally:
        module.train(was_training)
    n_features = windows.shape[2]
    by_lag = by_input[:, ::-1, :n_features].copy()  # lag 0 = the row itself
    for position, feature in enumerate(net.missing_indicator_features_):
        by_lag[:, :, feature] += by_input[:, ::-1, n_features + position]
    return by_lag, expected, proba


def _integrated_gradients(module, batch, nodes, weights, n_classes):
    """``batch x mean gradient`` of each class probability, zero baseline."""
    grads = torch.zeros(batch.shape + (n_classes,), dtype=torch.float64)
    for t, w in zip(nodes, weights, strict=True):
        point = (float(t) * batch).requires_grad_(True)
        proba = torch.softmax(module(point).double(), dim=1)
        for k in range(n_classes):
            (grad,) = torch.autograd.grad(
                proba[:, k].sum(), point, retain_graph=k < n_classes - 1
            )
            grads[..., k] += w * grad.double().cpu()
    return (batch.double().cpu().unsqueeze(-1) * grads).numpy()


# -- plot -------------------------------------------------------------------
def plot_explanation(explanation, *, class_label=None, max_features=20):
    """Bar chart of the mean absolute attribution per feature.

    Parameters
    ----------
    explanation : Explanation
        From :func:`explain_ensemble`.
    class_label : object or None, default=None
        One class's attributions; ``None`` shows every class, one bar each.
    max_features : int, default=20
        The features with the largest mean absolute attribution shown.

    Returns
    -------
    figure : matplotlib.figure.Figure
        A bare Figure (pyplot's state is left alone); save it with
        ``figure.savefig(path)``.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "plot_explanation needs matplotlib: pip install 'sklensemble[explain]'."
        ) from exc
    table = explanation.mean_abs()
    if class_label is not None:
        table = table.iloc[:, [explanation._class_position(class_label)]]
    order = table.sum(axis=1).sort_values(ascending=False).index[:max_features]
    shown = table.loc[order[::-1]]
    height = 1.5 + 0.25 * len(shown) * max(1, len(shown.columns) / 2)
    fig = Figure(figsize=(7, height), layout="constrained")
    ax = fig.subplots()
    shown.plot.barh(ax=ax, width=0.8)
    ax.set_xlabel("mean |attribution| (probability)")
    ax.set_title(f"Ensemble explanation, {len(explanation.index)} rows")
    ax.legend(title="class")
    return fig

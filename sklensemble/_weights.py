"""Weights of the ensemble's members: given ones checked and normalised,
``"auto"`` ones learned on the time-ordered tail.

Learning minimises the log-loss (:func:`~sklensemble._utils._log_loss`, the
package's one definition) of the weighted probabilities over the simplex.
"""

import numpy as np
from scipy.optimize import minimize

from ._panel import take_rows
from ._utils import _EPS, _nonzero_weights, _rows
from ._validation import tail_rows


class _LearnedWeightsMixin:
    """``weights="auto"`` for :class:`~sklensemble.SoftVotingEnsemble`.

    Uses the ensemble's ``validation_fraction``, ``validation_gap``,
    ``_fit_members`` and ``_tail_proba``.
    """

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


def _resolve_weights(weights, names, active):
    """Normalised weights of the ``active`` members, or the string "auto".

    ``weights`` is the ensemble's parameter: None, a sequence aligned with
    ``names`` (dropped members included), a dict by name, or "auto".
    """
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
    The objective is :func:`~sklensemble._utils._log_loss` of the weighted
    mean (its rows already sum to 1), written here with its gradient.
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

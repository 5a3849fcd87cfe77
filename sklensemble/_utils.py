"""Small helpers shared across the package; each one stands on its own."""

import numpy as np
from sklearn.pipeline import Pipeline

# Probabilities are clipped to at least this before their log is taken.
_EPS = 1e-15


def _final_step(est):
    """The estimator that predicts: a Pipeline's last step, else ``est``."""
    return est.steps[-1][1] if isinstance(est, Pipeline) else est


def _log_loss(proba, y, sample_weight):
    """Mean negative log-probability of the true classes.

    ``y`` holds class indices into the columns of ``proba``; probabilities
    are clipped to ``1e-15`` first, so a confident miss costs a finite loss.
    """
    picked = np.clip(proba[np.arange(len(y)), y], _EPS, None)
    return float(-np.average(np.log(picked), weights=sample_weight))


def _nonzero_weights(weights):
    """The weights, or None when absent or all zero."""
    return weights if weights is not None and weights.sum() > 0 else None

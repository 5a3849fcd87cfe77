"""What the tracking modules share: options, the warning, small helpers."""

import contextlib
import json
import re
import sys
import warnings

from .._utils import _PACKAGES
from .._utils import _package_version as _version  # noqa: F401 (for the modules)

# Packages whose versions tag each run (see reproducibility.py).
_VERSIONED = (*_PACKAGES, "mlflow")
# Set by autolog(); read after each ensemble fit (see autologging._after_fit).
_OPTIONS = {"log_ensemble_details": True, "log_importances": False, "log_plots": True}


class TrackingWarning(UserWarning):
    """Something could not be logged to MLflow; the model itself is unaffected.

    Examples
    --------
    >>> import warnings
    >>> from sklensemble.tracking import TrackingWarning
    >>> issubclass(TrackingWarning, UserWarning)
    True
    """


def _warn_from_fit(message):
    """Warn with a :class:`TrackingWarning` attributed to the estimator's fit.

    That is the frame that called the fit hooks: a frame inside MLflow would
    have MLflow reroute the warning into its own log.
    """
    frame, level = sys._getframe(0), 1
    while frame is not None and frame.f_code.co_name != "run_fit_hooks":
        frame, level = frame.f_back, level + 1
    warnings.warn(
        message, TrackingWarning, stacklevel=level + 1 if frame is not None else 2
    )


@contextlib.contextmanager
def _details_suspended():
    """Within: ensembles log no details to the active run.

    For callers that fit many ensembles inside one run (a tuning trial's
    folds), whose details would pile up in it. The previous setting is
    restored on exit, also after an error.
    """
    before = _OPTIONS["log_ensemble_details"]
    _OPTIONS["log_ensemble_details"] = False
    try:
        yield
    finally:
        _OPTIONS["log_ensemble_details"] = before


def _import_mlflow():
    try:
        import mlflow
    except ImportError as exc:
        raise ImportError(
            "sklensemble.tracking needs MLflow: pip install 'sklensemble[tracking]'."
        ) from exc
    return mlflow


def _key(name):
    """A metric-key-safe version of a member or metric name."""
    return re.sub(r"[^\w\-. /]", "_", str(name))


def _short_json(value, limit=5000):
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."

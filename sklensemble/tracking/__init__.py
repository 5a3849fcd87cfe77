"""MLflow tracking for sklensemble: autologging, ensemble details, model logging.

MLflow is optional: importing this package does not import it, and fitting
never imports it. What this package adds to MLflow:

* :func:`autolog` -- MLflow's scikit-learn autologging, extended to
  sklensemble's own estimators fitted on their own (MLflow patches only
  scikit-learn's classes; a bare :class:`~sklensemble.SoftVotingEnsemble`
  would otherwise be skipped silently). See :mod:`.autologging`.
* Ensemble details: after :meth:`SoftVotingEnsemble.fit`, when ``mlflow``
  is already imported and a run is active (autologging or
  ``mlflow.start_run()``), the ensemble logs per-member fit times, weights
  and held-out log-losses, the networks' per-epoch losses and the boosters'
  per-round validation loss (stepped metrics), reproducibility tags, a
  confusion-matrix and a feature-importance plot, and the importance table.
  A tracking failure never fails the fit: one :class:`TrackingWarning`
  says what was not logged. See :mod:`.details`.
* :func:`log_model` / :func:`load_model` -- log (and register) a model as
  a pickle (MLflow's scikit-learn flavour) or in sklensemble's safe format
  (see :func:`sklensemble.save`), which MLflow serves through the
  ``sklensemble`` flavour's pyfunc loader without unpickling anything. See
  :mod:`.flavor`.

The estimators never import this package: it plugs into their fits through
hooks it registers here, on import (see :mod:`sklensemble._hooks`).

Read more in ``docs/tracking.md``.
"""

# Besides the public names: private ones used elsewhere in the package
# (tuning, the command line, tests), and the pyfunc loader of models saved
# before the flavour had a module of its own (``sklensemble.tracking``).
from .._hooks import register_fit_hook, register_member_fit_hook
from ._common import _OPTIONS, TrackingWarning, _details_suspended, _version  # noqa: F401
from ._fits import _member_fits
from .autologging import _after_fit, autolog
from .details import _held_out_rows  # noqa: F401
from .flavor import FLAVOR_NAME, _load_pyfunc, load_model, log_model, save_model  # noqa: F401
from .http import _HTTP_LIMITS, _bounded_requests, _unreachable  # noqa: F401
from .reproducibility import data_digest

__all__ = [
    "FLAVOR_NAME",
    "TrackingWarning",
    "autolog",
    "data_digest",
    "load_model",
    "log_model",
    "save_model",
]

register_fit_hook(_after_fit)
register_member_fit_hook(_member_fits)

"""Which fit a run belongs to, and an ensemble's member fits as one session.

A run belongs to the outermost fit in progress; an ensemble's members never
get runs of their own. MLflow's training sessions are the only record of
patched fits across threads (a search's workers): they are reached through
:mod:`._mlflow_private` only.
"""

import sys
from contextlib import nullcontext

from ._mlflow_private import _sklearn_autolog_disabled, _training_session


def _is_logged_fit(ensemble):
    """True when this fit is the outermost fit in progress, or its refit.

    A run belongs to the outermost fit: the ensemble logs its details when
    it is that estimator, the final step of that Pipeline, or the refit of
    that search (scikit-learn sets ``best_estimator_`` before refitting
    it), not when it is one of the many fits inside a search or another
    estimator.
    """
    from sklearn.pipeline import Pipeline

    est = _outermost_fit()
    while est is not None and est is not ensemble:
        if isinstance(est, Pipeline):
            est = est.steps[-1][1]
        else:
            est = getattr(est, "best_estimator_", None)
    return est is ensemble


def _outermost_fit():
    """The estimator whose fit, in progress, encloses all others.

    Under autologging, MLflow's training sessions know it: the stack of
    patched fits, which also covers a search's fits in worker threads.
    ``mlflow.sklearn`` has no public way to read it (see
    :func:`._mlflow_private._training_session`). Without autologging (a
    manual run), the fits on this thread's call stack tell.
    """
    session = _training_session()
    stack = getattr(session, "_session_stack", None)
    if stack:
        return getattr(stack[0], "estimator", None)
    from sklearn.base import BaseEstimator

    outermost = None
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "fit":
            owner = frame.f_locals.get("self")
            if isinstance(owner, BaseEstimator):
                outermost = owner
        frame = frame.f_back
    return outermost


def _member_fits(ensemble):
    """Fits of the ensemble's members within, never logged as runs of their own.

    Under ``mlflow.sklearn.autolog()`` a bare ensemble's fit is not patched
    (MLflow patches scikit-learn's classes only), so each member that is a
    scikit-learn Pipeline would be an outermost patched fit and get a run of
    its own, or log its parameters into the active run. Within this block
    the ensemble is the outermost training session, with no logged
    children, as a patched fit would be. MLflow has no public way to open
    one (see :func:`._mlflow_private._training_session`). Nothing happens
    when MLflow is not imported, scikit-learn autologging is off or a
    patched fit already encloses this one. Registered as a member-fit hook
    (:mod:`sklensemble._hooks`).
    """
    if "mlflow.sklearn" not in sys.modules:
        return nullcontext()
    try:
        session = _training_session()
        needed = (
            session is not None
            and not session._session_stack
            and not _sklearn_autolog_disabled()
        )
    except Exception:  # tracking must never cost the fit
        needed = False
    return session(ensemble, allow_children=False) if needed else nullcontext()

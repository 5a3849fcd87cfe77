"""What runs around sklensemble's fits without the estimators knowing it.

Optional integrations (MLflow tracking, see :mod:`sklensemble.tracking`)
register hooks here; the estimators call them and import nothing of the
integrations, so imports run one way: integrations -> hooks <- estimators.

Two kinds of hook:

* *fit hooks*, ``hook(estimator, X, y, sample_weight, **fitted)``, called
  after every successful ``fit`` of a sklensemble estimator with the
  arguments ``fit`` was given (``fitted`` holds what the estimator adds, e.g.
  the ensemble's validated rows and encoded labels). A hook decides itself
  whether a fit concerns it (e.g. only the outermost one).
* *member-fit hooks*, ``hook(ensemble)`` returning a context manager that
  :class:`~sklensemble.SoftVotingEnsemble` enters around its members' fits.

A hook that raises never costs the fit: its error becomes one warning.
"""

import warnings
from contextlib import ExitStack, contextmanager

from ._interrupt import discard_fit

_FIT_HOOKS = []
_MEMBER_FIT_HOOKS = []


def register_fit_hook(hook):
    """Call ``hook`` after each successful fit (once, however often registered)."""
    if hook not in _FIT_HOOKS:
        _FIT_HOOKS.append(hook)


def unregister_fit_hook(hook):
    """Stop calling ``hook`` after fits; nothing happens if it was not registered."""
    if hook in _FIT_HOOKS:
        _FIT_HOOKS.remove(hook)


def register_member_fit_hook(hook):
    """Enter ``hook(ensemble)`` around an ensemble's member fits."""
    if hook not in _MEMBER_FIT_HOOKS:
        _MEMBER_FIT_HOOKS.append(hook)


def unregister_member_fit_hook(hook):
    """Stop entering ``hook`` around member fits."""
    if hook in _MEMBER_FIT_HOOKS:
        _MEMBER_FIT_HOOKS.remove(hook)


def run_fit_hooks(estimator, X, y, sample_weight=None, **fitted):
    """Call the fit hooks after ``estimator``'s successful fit; never raises.

    A hook's ``Exception`` is reported as one ``RuntimeWarning`` (the model
    is fitted); an interrupt still propagates.
    """
    for hook in tuple(_FIT_HOOKS):
        try:
            hook(estimator, X, y, sample_weight, **fitted)
        except Exception as exc:
            warnings.warn(
                f"A post-fit hook ({getattr(hook, '__qualname__', hook)}) failed "
                f"after fitting {type(estimator).__name__}: "
                f"{type(exc).__name__}: {exc}. The model is fitted normally.",
                RuntimeWarning,
                stacklevel=3,
            )


def fit_with_hooks(estimator, X, y, sample_weight=None):
    """``estimator._fit(X, y, sample_weight)``, then the fit hooks; ``estimator``.

    ``_fit`` returns the hooks' extra keyword arguments, or None. A failed or
    interrupted fit leaves ``estimator`` unfitted (no partly fitted model
    passes for one) and runs no hook.
    """
    try:
        extra = estimator._fit(X, y, sample_weight)
    except BaseException:
        discard_fit(estimator)
        raise
    run_fit_hooks(estimator, X, y, sample_weight, **(extra or {}))
    return estimator


@contextmanager
def member_fits(ensemble):
    """Within: the member-fit hooks' contexts for ``ensemble``, all entered."""
    with ExitStack() as stack:
        for hook in tuple(_MEMBER_FIT_HOOKS):
            stack.enter_context(hook(ensemble))
        yield

"""The only place that reads MLflow's private names, and why.

MLflow's public API has no way to (1) mark a block of code as one training
session, so that the scikit-learn fits inside it are not autologged, or to
read which patched fit is the outermost one in progress, and (2) read the
configuration :func:`mlflow.sklearn.autolog` was last called with. Each is
reached through one function here; ``tests/test_tracking_local.py``
(``test_mlflow_private_routes_still_exist``) fails when an MLflow release
removes or renames what they read.
"""

import sys


def _training_session():
    """MLflow's scikit-learn training-session class, or None.

    ``mlflow.sklearn._SklearnTrainingSession``: a context manager
    ``(estimator, allow_children)`` whose class attribute ``_session_stack``
    lists the patched fits in progress, in every thread. MLflow opens one
    around each patched fit and logs only the outermost; there is no public
    equivalent.
    """
    return getattr(sys.modules.get("mlflow.sklearn"), "_SklearnTrainingSession", None)


def _sklearn_autolog_disabled():
    """Whether MLflow's scikit-learn autologging is off (or never turned on)."""
    from mlflow.utils.autologging_utils import autologging_is_disabled

    return autologging_is_disabled("sklearn")


def _sklearn_autolog_config(key):
    """A value ``mlflow.sklearn.autolog`` was last called with (None if never)."""
    from mlflow.utils.autologging_utils import get_autologging_config

    return get_autologging_config("sklearn", key)

"""The fit hooks: how optional integrations plug into fit."""

import ast
import inspect

import numpy as np
import pytest

from sklensemble import SoftVotingEnsemble, XGBoostClassifier, _ensemble, _hooks
from sklensemble.tracking import _common


def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    return X, np.where(X[:, 0] > 0, "up", "down")


def booster():
    return XGBoostClassifier(n_estimators=3, n_jobs=1, random_state=0)


def test_fit_hooks_get_the_fit_and_the_ensemble_adds_its_rows():
    X, y = data()
    calls = []

    def hook(estimator, X, y, sample_weight, **fitted):
        calls.append((type(estimator).__name__, X.shape, sorted(fitted)))

    _hooks.register_fit_hook(hook)
    _hooks.register_fit_hook(hook)  # once, however often registered
    try:
        SoftVotingEnsemble([("a", booster()), ("b", booster())]).fit(X, y)
    finally:
        _hooks.unregister_fit_hook(hook)
    ensemble = ("SoftVotingEnsemble", (60, 3), ["X_fit", "sample_weight_fit", "y_fit"])
    assert calls == [("XGBoostClassifier", (60, 3), [])] * 2 + [ensemble]
    booster().fit(X, y)
    assert len(calls) == 3  # unregistered


def test_a_failing_hook_is_one_warning_and_the_model_is_fitted():
    X, y = data()

    def broken(*args, **kwargs):
        raise ValueError("boom")

    _hooks.register_fit_hook(broken)
    try:
        with pytest.warns(RuntimeWarning, match="post-fit hook .*broken.* boom"):
            model = booster().fit(X, y)
    finally:
        _hooks.unregister_fit_hook(broken)
    assert model.predict(X).shape == (60,)


def test_member_fit_hooks_enclose_the_member_fits():
    X, y = data()
    events = []

    class Recording:
        def __init__(self, ensemble):
            self.ensemble = ensemble

        def __enter__(self):
            events.append(("enter", hasattr(self.ensemble, "estimators_")))

        def __exit__(self, *exc):
            events.append(("exit", None))

    _hooks.register_member_fit_hook(Recording)
    try:
        SoftVotingEnsemble([("a", booster())]).fit(X, y)
    finally:
        _hooks.unregister_member_fit_hook(Recording)
    assert events == [("enter", False), ("exit", None)]


def test_the_ensemble_imports_no_tracking():
    tree = ast.parse(inspect.getsource(_ensemble))
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ]
    assert not [name for name in imported if "tracking" in name]


def test_details_suspended_restores_the_option_even_on_error():
    assert _common._OPTIONS["log_ensemble_details"] is True
    with pytest.raises(KeyError):
        with _common._details_suspended():
            assert _common._OPTIONS["log_ensemble_details"] is False
            raise KeyError("x")
    assert _common._OPTIONS["log_ensemble_details"] is True

"""What the package relies on in scikit-learn's private names (_sklearn_private).

Each test pins one behaviour; a scikit-learn release that changes it fails
here, naming the name, before it fails somewhere deep in an estimator.
"""

import numbers

import numpy as np
import pandas as pd
import pytest
from sklearn import config_context
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import InvalidParameterError

from sklensemble import SequenceWindower, SoftVotingEnsemble
from sklensemble import _sklearn_private as private


def test_every_name_is_importable():
    assert all(hasattr(private, name) for name in private.__all__)


def test_parameter_constraints_refuse_with_the_parameter_named():
    interval = private.Interval(numbers.Integral, 1, None, closed="left")
    assert interval.is_satisfied_by(1) and not interval.is_satisfied_by(0)
    assert private.StrOptions({"a"}).is_satisfied_by("a")
    assert private.HasMethods(["fit"]).is_satisfied_by(LogisticRegression())
    with pytest.raises(InvalidParameterError, match="sequence_length"):
        SequenceWindower(sequence_length=0).fit(np.zeros((5, 2)))


def test_heterogeneous_ensemble_exposes_members_as_parameters():
    ensemble = SoftVotingEnsemble([("logreg", LogisticRegression())])
    assert isinstance(ensemble, private._BaseHeterogeneousEnsemble)
    ensemble.set_params(logreg__C=0.5)
    assert ensemble.get_params()["logreg__C"] == 0.5
    assert list(ensemble.named_estimators) == ["logreg"]


def test_safe_indexing_takes_rows_of_arrays_and_frames():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    assert private._safe_indexing(frame, [0, 2])["x"].tolist() == [1.0, 3.0]
    assert private._safe_indexing(np.arange(3), [1]).tolist() == [1]
    assert private._num_samples(frame) == 3


def test_visual_block_of_the_ensemble():
    ensemble = SoftVotingEnsemble([("logreg", LogisticRegression())])
    block = ensemble._sk_visual_block_()
    assert isinstance(block, private._VisualBlock)
    assert block.kind == "parallel" and block.names == ("logreg",)


def test_routing_enabled_follows_the_config():
    assert private._routing_enabled() is False
    with config_context(enable_metadata_routing=True):
        assert private._routing_enabled() is True


def test_feature_checks_record_and_compare():
    est = BaseEstimator()
    frame = pd.DataFrame({"a": [1.0], "b": [2.0]})
    private._check_feature_names(est, frame, reset=True)
    private._check_n_features(est, frame.to_numpy(), reset=True)
    assert list(est.feature_names_in_) == ["a", "b"] and est.n_features_in_ == 2
    assert list(private._check_feature_names_in(est, None)) == ["a", "b"]
    with pytest.raises(ValueError, match="feature names"):
        private._check_feature_names(est, frame[["b", "a"]], reset=False)
    with pytest.raises(ValueError, match="features"):
        private._check_n_features(est, np.zeros((1, 3)), reset=False)


def test_sample_weight_check():
    X = np.zeros((3, 2))
    np.testing.assert_array_equal(private._check_sample_weight(None, X), np.ones(3))
    with pytest.raises(ValueError):
        private._check_sample_weight(np.ones(2), X)

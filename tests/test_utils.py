"""Tests for the helpers shared across the package (one definition of each)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder

from sklensemble import SoftVotingEnsemble, XGBoostClassifier
from sklensemble._panel import panel_keys
from sklensemble._prices import _check_prices, _forward_returns
from sklensemble._utils import _is_dropped, _is_passthrough, _log_loss
from sklensemble.evaluate import _scores
from sklensemble.tracking.details import _member_metrics, _Payload
from sklensemble.tuning import default_search_space


class TestDroppedMembersAndSkippedSteps:
    def test_drop_is_a_member_passthrough_is_a_step(self):
        assert _is_dropped("drop")
        assert not _is_dropped("passthrough") and not _is_dropped(None)
        assert _is_passthrough("passthrough") and _is_passthrough(None)
        assert not _is_passthrough("drop")
        assert not _is_dropped(LogisticRegression())
        assert not _is_passthrough(LogisticRegression())

    @pytest.mark.parametrize("member", ["passthrough", None])
    def test_a_step_spelling_is_no_member(self, member):
        X, y = make_classification(n_samples=40, random_state=0)
        ensemble = SoftVotingEnsemble([("a", LogisticRegression()), ("b", member)])
        with pytest.raises(ValueError, match="'b'.*is not a classifier"):
            ensemble.fit(X, y)

    def test_search_space_skips_dropped_members_and_skipped_steps(self):
        pipe = Pipeline(
            [
                ("scale", "passthrough"),
                (
                    "ensemble",
                    SoftVotingEnsemble(
                        [("xgb", XGBoostClassifier()), ("other", "drop")]
                    ),
                ),
            ]
        )
        space = default_search_space(pipe)
        assert "ensemble__xgb__max_depth" in space
        assert not [key for key in space if key.startswith(("scale", "ensemble__o"))]
        assert "ensemble__weights" not in space  # a single active member


class TestLogLoss:
    def test_textbook_value_and_clipping(self):
        proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.5, 0.5, 0.0]])
        y = np.array([0, 2, 1])
        assert _log_loss(proba, y) == pytest.approx(log_loss(y, proba))
        weights = np.array([1.0, 0.0, 3.0])
        expected = -(np.log(0.7) + 3 * np.log(0.5)) / 4
        assert _log_loss(proba, y, weights) == pytest.approx(expected)
        # A true class given 0 costs -log(1e-15), not infinity.
        assert _log_loss(proba[2:], np.array([2])) == pytest.approx(-np.log(1e-15))

    def test_logged_val_log_loss_and_walk_forward_log_loss_agree(self):
        X, y = make_classification(
            n_samples=300, n_classes=3, n_informative=4, random_state=0
        )
        labels = np.array(["buy", "hold", "sell"])[y]
        ensemble = SoftVotingEnsemble(
            [
                ("a", XGBoostClassifier(n_estimators=5, n_jobs=1, random_state=0)),
                ("b", XGBoostClassifier(n_estimators=5, max_depth=2, n_jobs=1)),
            ]
        ).fit(X, labels)
        payload = _Payload()
        y_enc = LabelEncoder().fit_transform(labels)
        y_true, proba = _member_metrics(payload, ensemble, X, y_enc, None)
        logged = {key: value for key, value, _ in payload.metrics}
        # The walk-forward score of the very same probabilities and labels.
        classes = ensemble.classes_
        scored = _scores(
            classes[y_true], classes[proba.argmax(1)], proba, classes, "ensemble"
        )
        assert scored["log_loss"] == pytest.approx(
            logged["ensemble.val_log_loss"], rel=1e-12
        )
        assert scored["log_loss"] == pytest.approx(log_loss(y_true, proba), rel=1e-9)


class TestPrices:
    def test_forward_returns_stay_within_each_instrument(self):
        dates = pd.bdate_range("2024-01-01", periods=4)
        index = pd.MultiIndex.from_product([["A", "B"], dates])
        prices = np.array([1.0, 2.0, 4.0, 8.0, 10.0, 11.0, 12.1, 13.31])
        shuffled = np.array([5, 0, 7, 2, 4, 1, 6, 3])
        frame = pd.DataFrame(index=index[shuffled])
        keys = panel_keys(frame)
        forward = _forward_returns(prices[shuffled], keys, horizon=2)
        expected = np.array([3.0, 3.0, np.nan, np.nan, 0.21, 0.21, np.nan, np.nan])
        np.testing.assert_allclose(forward, expected[shuffled])
        np.testing.assert_allclose(
            _forward_returns(prices[:4]), [1.0, 1.0, 1.0, np.nan]
        )

    def test_bad_price_named_by_index_or_position(self):
        values = np.array([1.0, np.inf, -1.0])
        with pytest.raises(ValueError, match=r"1 infinite price\(s\).*position 1"):
            _check_prices(values)
        with pytest.raises(ValueError, match=r"close contains 1 infinite.*index 'b'"):
            _check_prices(values, "close", pd.Index(["a", "b", "c"]))

"""explain_ensemble: attributions per member and for the ensemble."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler

from sklensemble import (
    AttentionLSTMClassifier,
    LightGBMClassifier,
    SequenceWindower,
    SoftVotingEnsemble,
    XGBoostClassifier,
)
from sklensemble.explain import Explanation, explain_ensemble, plot_explanation

PLANTED_LAG = 2
LENGTH = 5


def _planted(n=500, lag=0, seed=0):
    """Four features; the class is the sign band of feature "b" ``lag`` rows back."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    driver = X["b"].shift(lag).fillna(0.0).to_numpy()
    y = np.select([driver < -0.4, driver > 0.4], ["sell", "buy"], "hold")
    return X, y


def _trees():
    return [
        ("xgboost", XGBoostClassifier(n_estimators=30, n_jobs=1, random_state=0)),
        ("lightgbm", LightGBMClassifier(n_estimators=30, n_jobs=1, random_state=0)),
    ]


def _network():
    net = AttentionLSTMClassifier(
        hidden_size=16,
        num_layers=1,
        num_heads=2,
        max_epochs=15,
        lr=1e-2,
        batch_size=64,
        random_state=0,
    )
    return Pipeline([("window", SequenceWindower(LENGTH)), ("net", net)])


@pytest.fixture(scope="module")
def tree_pipeline():
    X, y = _planted()
    ensemble = SoftVotingEnsemble(_trees(), weights={"xgboost": 3, "lightgbm": 1})
    scaler = RobustScaler().set_output(transform="pandas")
    return Pipeline([("scaler", scaler), ("ensemble", ensemble)]).fit(X, y), X


@pytest.fixture(scope="module")
def mixed_pipeline():
    X, y = _planted(lag=PLANTED_LAG)
    ensemble = SoftVotingEnsemble(
        [*_trees(), ("lstm", _network())],
        weights={"xgboost": 1, "lightgbm": 1, "lstm": 2},
    )
    scaler = RobustScaler().set_output(transform="pandas")
    return Pipeline([("scaler", scaler), ("ensemble", ensemble)]).fit(X, y), X


class TestBoosters:
    @pytest.mark.parametrize("name", ["xgboost", "lightgbm"])
    def test_member_sums_to_output_minus_expected(self, tree_pipeline, name):
        pipe, X = tree_pipeline
        rows = X.iloc[-100:]
        member = explain_ensemble(pipe, rows).members[name]
        scaled = pipe[:-1].transform(rows).to_numpy()
        proba = pipe[-1].named_estimators_[name].predict_proba(scaled)
        total = member.values.sum(axis=1) + member.expected_value
        np.testing.assert_allclose(total, proba, atol=1e-5)
        np.testing.assert_allclose(member.expected_value.sum(), 1.0)
        assert member.values_by_lag is None

    def test_planted_feature_ranks_first(self, tree_pipeline):
        pipe, X = tree_pipeline
        explanation = explain_ensemble(pipe, X.iloc[-100:])
        for part in [explanation, *explanation.members.values()]:
            ranking = part.mean_abs().sum(axis=1).sort_values(ascending=False)
            assert ranking.index[0] == "b"

    def test_binary_classes(self):
        X, y = _planted()
        y = (y == "buy").astype(int)
        ens = SoftVotingEnsemble(_trees()).fit(X.to_numpy(), y)
        explanation = explain_ensemble(ens, X.to_numpy()[-30:])
        assert explanation.values.shape == (30, 4, 2)
        # The two classes' attributions mirror each other.
        np.testing.assert_allclose(
            explanation.values[..., 0], -explanation.values[..., 1], atol=1e-12
        )
        np.testing.assert_allclose(
            explanation.values.sum(axis=1) + explanation.expected_value,
            ens.predict_proba(X.to_numpy()[-30:]),
            atol=1e-5,
        )


class TestNetworks:
    def test_planted_lag_and_feature_rank_first(self, mixed_pipeline):
        pipe, X = mixed_pipeline
        member = explain_ensemble(pipe, X.iloc[-150:]).members["lstm"]
        assert member.values_by_lag.shape == (150, LENGTH, 4, 3)
        np.testing.assert_allclose(
            member.values_by_lag.sum(axis=1), member.values, atol=1e-12
        )
        by_lag = np.abs(member.values_by_lag).mean(axis=(0, 3))  # (lags, features)
        assert np.argmax(by_lag.sum(axis=0)) == 1  # feature "b"
        assert np.argmax(by_lag[:, 1]) == PLANTED_LAG

    def test_integrated_gradients_are_complete(self, mixed_pipeline):
        pipe, X = mixed_pipeline
        rows = X.iloc[-60:]
        member = explain_ensemble(pipe, rows, n_steps=32).members["lstm"]
        proba = (
            pipe[-1]
            .named_estimators_["lstm"]
            .predict_proba(pipe[:-1].transform(rows).to_numpy())
        )
        np.testing.assert_allclose(member.prediction, proba, atol=1e-5)
        total = member.values.sum(axis=1) + member.expected_value
        np.testing.assert_allclose(total, proba, atol=1e-3)

    def test_missing_values_credit_their_feature(self):
        X, y = _planted(n=200)
        X.iloc[::7, 2] = np.nan
        pipe = _network().set_params(net__max_epochs=2).fit(X.to_numpy(), y)
        ens = SoftVotingEnsemble([("lstm", pipe)]).fit(X.to_numpy(), y)
        explanation = explain_ensemble(ens, X.to_numpy()[-20:])
        assert explanation.values.shape == (20, 4, 3)
        assert np.isfinite(explanation.values).all()


class TestEnsemble:
    def test_weighted_sum_of_members(self, mixed_pipeline):
        pipe, X = mixed_pipeline
        rows = X.iloc[-40:]
        explanation = explain_ensemble(pipe, rows)
        weights = pipe[-1].weights_
        assert explanation.weights == weights
        combined = sum(weights[n] * m.values for n, m in explanation.members.items())
        np.testing.assert_allclose(explanation.values, combined, atol=1e-12)
        expected = sum(
            weights[n] * m.expected_value for n, m in explanation.members.items()
        )
        np.testing.assert_allclose(explanation.expected_value, expected, atol=1e-12)
        np.testing.assert_allclose(
            explanation.prediction, pipe.predict_proba(rows), atol=1e-5
        )

    def test_last_rows_use_the_rows_before_as_context(self, mixed_pipeline):
        pipe, X = mixed_pipeline
        rows = X.iloc[-30:]
        full = explain_ensemble(pipe, rows)
        last = explain_ensemble(pipe, rows, last=10)
        assert last.index.equals(rows.index[-10:])
        # The networks compute in float32: passes over 10 and 30 windows
        # round differently, by about 1e-9 here.
        np.testing.assert_allclose(last.values, full.values[-10:], atol=1e-7)
        lstm = last.members["lstm"].values_by_lag
        np.testing.assert_allclose(
            lstm, full.members["lstm"].values_by_lag[-10:], atol=1e-7
        )

    def test_shapes_columns_and_classes(self, tree_pipeline):
        pipe, X = tree_pipeline
        rows = X.iloc[-25:]
        explanation = explain_ensemble(pipe, rows)
        assert isinstance(explanation, Explanation)
        assert explanation.values.shape == (25, 4, 3)
        assert explanation.feature_names.tolist() == ["a", "b", "c", "d"]
        assert explanation.classes.tolist() == ["buy", "hold", "sell"]
        frame = explanation.to_frame("sell")
        assert frame.index.equals(rows.index)
        assert frame.columns.tolist() == ["a", "b", "c", "d"]
        np.testing.assert_array_equal(frame.to_numpy(), explanation.values[:, :, 2])
        assert explanation.mean_abs().shape == (4, 3)
        with pytest.raises(ValueError, match="class_label 'up' is not one of"):
            explanation.to_frame("up")

    def test_zero_weight_member_is_left_out(self):
        X, y = _planted(n=200)
        ens = SoftVotingEnsemble(_trees(), weights={"xgboost": 1, "lightgbm": 0})
        explanation = explain_ensemble(ens.fit(X, y), X.iloc[-10:])
        assert list(explanation.members) == ["xgboost"]


class TestErrors:
    def test_unfitted(self):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            explain_ensemble(SoftVotingEnsemble(_trees()), np.zeros((3, 4)))

    def test_not_an_ensemble(self):
        with pytest.raises(TypeError, match="SoftVotingEnsemble or a Pipeline"):
            explain_ensemble(XGBoostClassifier(), np.zeros((3, 4)))

    @pytest.mark.filterwarnings("ignore:X does not have valid feature names")
    def test_wrong_columns(self, tree_pipeline):
        pipe, X = tree_pipeline
        with pytest.raises(ValueError, match="feature names should match"):
            explain_ensemble(pipe, X.rename(columns={"b": "B"}).iloc[-5:])
        with pytest.raises(ValueError, match="4 features"):
            explain_ensemble(pipe[-1], X.iloc[-5:, :3].to_numpy())

    def test_unsupported_member(self):
        X, y = _planted(n=100)
        ens = SoftVotingEnsemble([("lr", LogisticRegression())]).fit(X, y)
        with pytest.raises(TypeError, match="Member 'lr' .* cannot be explained"):
            explain_ensemble(ens, X.iloc[-5:])

    def test_columns_changed_before_the_ensemble(self):
        from sklearn.preprocessing import PolynomialFeatures

        X, y = _planted(n=100)
        pipe = Pipeline(
            [
                ("poly", PolynomialFeatures(2)),
                ("ensemble", SoftVotingEnsemble(_trees()[:1])),
            ]
        ).fit(X.to_numpy(), y)
        with pytest.raises(ValueError, match="turn 4 columns into 15"):
            explain_ensemble(pipe, X.to_numpy()[-5:])

    @pytest.mark.parametrize("option", ["n_steps", "last"])
    @pytest.mark.parametrize("value", [0, 2.5])
    def test_bad_counts(self, tree_pipeline, option, value):
        pipe, X = tree_pipeline
        with pytest.raises(ValueError, match=f"{option} must be a positive integer"):
            explain_ensemble(pipe, X.iloc[-5:], **{option: value})


def test_plot(tree_pipeline):
    pytest.importorskip("matplotlib")
    pipe, X = tree_pipeline
    explanation = explain_ensemble(pipe, X.iloc[-30:])
    fig = plot_explanation(explanation, max_features=3)
    ax = fig.axes[0]
    assert len(ax.patches) == 3 * 3  # 3 features x 3 classes
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "b"  # top bar
    one = plot_explanation(explanation, class_label="buy").axes[0]
    assert len(one.patches) == 4


class TestDemoPlot:
    def test_written(self, tree_pipeline, tmp_path):
        pytest.importorskip("matplotlib")
        from sklensemble._jobs import write_explanation

        pipe, X = tree_pipeline
        said = []
        paths = write_explanation(tmp_path, pipe, X, said.append)
        assert paths == [tmp_path / "explanation.png"]
        assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert said == []

    def test_skipped_in_one_line_without_matplotlib(
        self, tree_pipeline, tmp_path, monkeypatch
    ):
        from sklensemble._jobs import write_explanation

        def no_matplotlib(*args, **kwargs):
            raise ImportError("plot_explanation needs matplotlib")

        monkeypatch.setattr("sklensemble.explain.plot_explanation", no_matplotlib)
        pipe, X = tree_pipeline
        said = []
        assert write_explanation(tmp_path, pipe, X, said.append) == []
        assert said == [
            "matplotlib is not installed: explanation plot skipped "
            "(pip install 'sklensemble[explain]')."
        ]
        assert not (tmp_path / "explanation.png").exists()

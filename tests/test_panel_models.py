"""Panels through the windower, the members, the ensemble and the pipeline.

The proofs: a panel's windows equal each instrument's own windows, nothing
an instrument sees depends on another instrument's rows, and row order never
changes a result (only its order).
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklensemble import (
    AttentionLSTMClassifier,
    LightGBMClassifier,
    SequenceWindower,
    SoftVotingEnsemble,
    XGBoostClassifier,
    load,
    make_ensemble_pipeline,
    save,
    to_panel,
)
from sklensemble._panel import panel_keys
from sklensemble._validation import tail_rows
from sklensemble._windowing import PanelWindows, make_windows

INSTRUMENTS = ["AAA", "BBB", "CCC"]


def make_panel(n_dates=40, n_features=3, seed=0, instruments=INSTRUMENTS):
    """Interleaved panel (sorted by date, then instrument) of random features."""
    rng = np.random.RandomState(seed)
    index = pd.MultiIndex.from_product(
        [pd.bdate_range("2020-01-01", periods=n_dates), instruments],
        names=["date", "instrument"],
    )
    columns = [f"x{j}" for j in range(n_features)]
    return pd.DataFrame(rng.randn(len(index), n_features), index=index, columns=columns)


def own_windows(panel, name, sequence_length):
    """Windows of one instrument computed on that instrument alone."""
    rows = panel.xs(name, level="instrument").sort_index()
    return make_windows(rows.to_numpy(), sequence_length)


class TestPanelWindows:
    def test_equal_each_instruments_own_windows_in_input_order(self):
        panel = make_panel()
        windows = np.asarray(SequenceWindower(5).fit_transform(panel))
        assert windows.shape == (len(panel), 5, 3)
        for name in INSTRUMENTS:
            is_name = panel.index.get_level_values("instrument") == name
            np.testing.assert_array_equal(windows[is_name], own_windows(panel, name, 5))

    def test_first_rows_padded_with_the_instruments_own_first_row(self):
        panel = make_panel()
        windows = SequenceWindower(4).fit_transform(panel)
        first_b = panel.index.get_level_values("instrument").get_loc("BBB")
        first_b = np.flatnonzero(first_b)[0] if not np.isscalar(first_b) else first_b
        expected = np.repeat(panel.iloc[[first_b]].to_numpy(np.float32), 4, axis=0)
        np.testing.assert_array_equal(windows[first_b], expected)

    def test_changing_one_instrument_changes_no_other_window(self):
        panel = make_panel()
        shifted = panel.copy()
        is_b = shifted.index.get_level_values("instrument") == "BBB"
        shifted.loc[is_b] = shifted.loc[is_b] * 100 + 7
        windower = SequenceWindower(6).fit(panel)
        before = np.asarray(windower.transform(panel))
        after = np.asarray(windower.transform(shifted))
        np.testing.assert_array_equal(before[~is_b], after[~is_b])
        assert not np.array_equal(before[is_b], after[is_b])

    @settings(max_examples=20, deadline=None)
    @given(seed=st.integers(0, 2**31 - 1), length=st.integers(1, 8))
    def test_any_row_order_gives_the_same_window_per_row(self, seed, length):
        panel = make_panel(n_dates=15)
        order = np.random.RandomState(seed).permutation(len(panel))
        windower = SequenceWindower(length).fit(panel)
        windows = np.asarray(windower.transform(panel))
        shuffled = np.asarray(windower.transform(panel.iloc[order]))
        np.testing.assert_array_equal(shuffled, windows[order])

    def test_memory_is_rows_times_features_not_times_length(self):
        panel = make_panel(n_dates=200, n_features=4)
        windows = SequenceWindower(60).fit_transform(panel)
        assert isinstance(windows, PanelWindows)
        # The padded rows: every row once plus each instrument's padding.
        assert windows.padded.shape == (len(panel) + 3 * 59, 4)
        assert windows.padded.dtype == np.float32
        batch = windows[np.array([0, 5, 7])]
        assert isinstance(batch, PanelWindows) and batch.padded is windows.padded
        assert np.asarray(batch).shape == (3, 60, 4)

    def test_long_form_keys_are_never_features(self):
        panel = make_panel()
        long = panel.reset_index()
        windower = SequenceWindower(3, instrument="instrument", date="date")
        windows = np.asarray(windower.fit_transform(long))
        assert windows.shape == (len(panel), 3, 3)
        np.testing.assert_array_equal(windower.get_feature_names_out(), panel.columns)
        np.testing.assert_array_equal(
            windows, np.asarray(SequenceWindower(3).fit_transform(panel))
        )

    def test_date_first_or_instrument_first_levels_agree(self):
        panel = make_panel()
        swapped = panel.swaplevel().sort_index()
        windower = SequenceWindower(4)
        a = pd.DataFrame(
            np.asarray(windower.fit_transform(panel))[:, 0, :], index=panel.index
        )
        b = pd.DataFrame(
            np.asarray(windower.fit_transform(swapped))[:, 0, :],
            index=swapped.index.swaplevel(),
        )
        pd.testing.assert_frame_equal(a, b.loc[panel.index])

    def test_undated_levels_are_rows_and_duplicates_are_refused(self):
        panel = make_panel()
        ambiguous = panel.copy()
        ambiguous.index = pd.MultiIndex.from_arrays(
            [np.repeat(np.arange(40), 3), np.tile(INSTRUMENTS, 40)], names=["t", "s"]
        )
        # Not a panel unless told: windows run over the rows as given.
        np.testing.assert_array_equal(
            np.asarray(SequenceWindower(3).fit_transform(ambiguous)),
            np.asarray(SequenceWindower(3).fit_transform(ambiguous.to_numpy())),
        )
        assert SequenceWindower(3, instrument="s").fit_transform(ambiguous).shape == (
            120,
            3,
            3,
        )
        duplicated = pd.concat([panel, panel.iloc[:1]])
        with pytest.raises(ValueError, match="repeats .instrument, date."):
            SequenceWindower(3).fit_transform(duplicated)


class TestPanelTailSplit:
    def test_validation_is_the_last_dates_whatever_the_row_order(self):
        panel = make_panel(n_dates=10)
        grouped = panel.swaplevel().sort_index()  # one instrument after another
        keys = panel_keys(grouped)
        train, valid = tail_rows(len(grouped), 0.2, keys.date)
        valid_dates = grouped.index.get_level_values("date")[valid]
        assert set(valid_dates) == set(panel.index.levels[0][-2:])
        assert len(valid) == 6 and len(train) == 24

    def test_network_early_stops_on_the_last_dates(self):
        panel = make_panel(n_dates=30)
        y = np.where(panel["x0"] > 0, "buy", "sell")
        windows = SequenceWindower(4).fit_transform(panel)
        clf = AttentionLSTMClassifier(
            hidden_size=4, num_heads=1, max_epochs=2, device="cpu", random_state=0
        ).fit(windows, y)
        batches = clf.net_.history[-1, "batches"]
        # 10% of 30 dates -> the last 3 dates x 3 instruments validate.
        assert sum(b.get("valid_batch_size", 0) for b in batches) == 9
        assert sum(b.get("train_batch_size", 0) for b in batches) == 81

    def test_nan_in_a_panel_is_imputed_and_inf_reported(self):
        panel = make_panel()
        panel.iloc[5, 1] = np.nan
        windows = SequenceWindower(4).fit_transform(panel)
        clf = AttentionLSTMClassifier(
            hidden_size=4, num_heads=1, max_epochs=1, device="cpu", random_state=0
        ).fit(windows, np.arange(len(panel)) % 2)
        assert clf.missing_indicator_features_.tolist() == [1]
        assert np.isfinite(clf.predict_proba(windows)).all()
        panel.iloc[5, 1] = np.inf
        with pytest.raises(ValueError, match="contains infinity"):
            clf.predict(SequenceWindower(4).fit_transform(panel))


@pytest.mark.parametrize("cls", [XGBoostClassifier, LightGBMClassifier])
class TestBoostersOnPanels:
    def planted(self):
        """Each instrument reads x0 with its own sign: the instrument matters."""
        panel = make_panel(n_dates=150)
        sign = panel.index.get_level_values("instrument").map(
            {"AAA": 1, "BBB": -1, "CCC": 1}
        )
        y = np.where(panel["x0"].to_numpy() * sign > 0, "buy", "sell")
        return panel, y

    def test_instrument_feature_learns_instrument_specific_rules(self, cls):
        panel, y = self.planted()
        plain = cls(n_estimators=60, random_state=0, n_jobs=1).fit(panel, y)
        with_id = cls(
            n_estimators=60, random_state=0, n_jobs=1, instrument_feature=True
        ).fit(panel, y)
        assert (with_id.predict(panel) == y).mean() > 0.95
        assert (plain.predict(panel) == y).mean() < 0.85
        assert with_id.instrument_importance_ > 0.2
        np.testing.assert_array_equal(with_id.instruments_, INSTRUMENTS)
        assert with_id.feature_importances_.shape == (3,)
        assert with_id.feature_importances_.sum() == pytest.approx(1.0)

    def test_unseen_instrument_predicts_as_missing(self, cls):
        panel, y = self.planted()
        clf = cls(n_estimators=20, random_state=0, n_jobs=1, instrument_feature=True)
        clf.fit(panel, y)
        new = make_panel(n_dates=5, instruments=["ZZZ"])
        proba = clf.predict_proba(new)
        assert proba.shape == (5, 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)

    def test_instrument_feature_needs_a_panel(self, cls):
        panel, y = self.planted()
        with pytest.raises(
            ValueError, match="instrument_feature=True needs X as a panel"
        ):
            cls(instrument_feature=True).fit(panel.to_numpy(), y)
        clf = cls(n_estimators=5, instrument_feature=True, n_jobs=1).fit(panel, y)
        with pytest.raises(ValueError, match="needs X as a panel"):
            clf.predict(panel.reset_index(drop=True))

    def test_row_order_does_not_change_the_model(self, cls):
        panel, y = self.planted()
        order = np.random.RandomState(1).permutation(len(panel))
        params = dict(n_estimators=30, subsample=1.0, colsample_bytree=1.0, n_jobs=1)
        a = cls(**params, random_state=0).fit(panel, y)
        b = cls(**params, random_state=0).fit(panel.iloc[order], y[order])
        assert a.n_estimators_ == b.n_estimators_
        np.testing.assert_allclose(
            a.predict_proba(panel), b.predict_proba(panel), atol=1e-6
        )


def user_sessions(n_users=10, n_sessions=20, seed=0):
    """A two-level MultiIndex that is not (instrument, date): no datetimes."""
    index = pd.MultiIndex.from_product(
        [range(n_users), range(n_sessions)], names=["user", "session"]
    )
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(rng.randn(len(index), 3), index=index, columns=["a", "b", "c"])
    return X, np.where(X["a"].to_numpy() > 0, "buy", "sell")


class TestNotAPanel:
    """A MultiIndex that does not unambiguously make a panel is plain rows."""

    @pytest.mark.parametrize("cls", [XGBoostClassifier, LightGBMClassifier])
    def test_boosters_fit_user_sessions_as_rows(self, cls):
        X, y = user_sessions()
        rows = X.reset_index(drop=True)
        model = cls(n_estimators=10, n_jobs=1, random_state=0).fit(X, y)
        reference = cls(n_estimators=10, n_jobs=1, random_state=0).fit(rows, y)
        np.testing.assert_array_equal(
            model.predict_proba(X), reference.predict_proba(rows)
        )

    def test_ensemble_fits_user_sessions_as_rows(self):
        X, y = user_sessions()
        rows = X.reset_index(drop=True)

        def ensemble():
            members = [
                (name, cls(n_estimators=10, n_jobs=1, random_state=0))
                for name, cls in (("x", XGBoostClassifier), ("l", LightGBMClassifier))
            ]
            return SoftVotingEnsemble(members, weights="auto", random_state=0)

        model = ensemble().fit(X, y)
        np.testing.assert_array_equal(
            model.predict_proba(X), ensemble().fit(rows, y).predict_proba(rows)
        )
        assert model.predict(X).shape == (len(X),)

    def test_default_pipeline_fits_user_sessions_as_rows(self):
        X, y = user_sessions()
        pipe = small_pipeline().fit(X, y)
        proba = pipe.predict_proba(X)
        assert proba.shape == (len(X), 2)
        # The same rows without the index give the same model.
        rows = X.reset_index(drop=True)
        np.testing.assert_allclose(
            small_pipeline().fit(rows, y).predict_proba(rows), proba, atol=1e-6
        )

    @pytest.mark.parametrize(
        "levels, names",
        [
            ([["u1", "u2"], [1, 2]], ["user", "session"]),
            ([pd.to_datetime(["2024-01-02"]), pd.to_datetime(["2024-01-03"])], None),
            ([["u1"], [1, 2], ["e1", "e2"]], ["user", "session", "event"]),
        ],
    )
    def test_unrecognised_multiindex_is_not_a_panel(self, levels, names):
        index = pd.MultiIndex.from_product(levels, names=names)
        assert (
            panel_keys(pd.DataFrame({"x": np.zeros(len(index))}, index=index)) is None
        )

    @pytest.mark.parametrize(
        "levels, names, instrument",
        [
            ([pd.to_datetime(["2024-01-02"]), ["AAA", "BBB"]], ["day", "ticker"], None),
            ([["AAA", "BBB"], [1, 2]], ["instrument", "bar"], None),
            ([["AAA", "BBB"], [1, 2]], ["ticker", "bar"], "ticker"),
        ],
    )
    def test_a_panel_is_recognised(self, levels, names, instrument):
        index = pd.MultiIndex.from_product(levels, names=names)
        keys = panel_keys(
            pd.DataFrame({"x": np.zeros(len(index))}, index=index), instrument
        )
        assert list(keys.instrument_names) == ["AAA", "BBB"]

    @pytest.mark.parametrize(
        "levels, names, instrument, match",
        [
            (
                [["AAA"], [1, 2], ["e1"]],
                ["instrument", "bar", "event"],
                None,
                "must have two levels .instrument, date.; got 3 levels",
            ),
            (
                [pd.to_datetime(["2024-01-02"]), ["x", "y"]],
                ["instrument", "other"],
                None,
                "level 'instrument' holds datetimes",
            ),
            ([["AAA"], [1, 2]], ["ticker", "bar"], "symbol", "is neither a column"),
        ],
    )
    def test_ambiguous_panels_are_refused(self, levels, names, instrument, match):
        index = pd.MultiIndex.from_product(levels, names=names)
        X = pd.DataFrame({"x": np.zeros(len(index))}, index=index)
        with pytest.raises(ValueError, match=match):
            panel_keys(X, instrument)


def small_pipeline(**kwargs):
    pipe = make_ensemble_pipeline(
        preset="fast", sequence_length=5, random_state=0, **kwargs
    )
    return pipe.set_params(
        ensemble__xgboost__n_estimators=30,
        ensemble__lightgbm__n_estimators=30,
        ensemble__lstm__net__max_epochs=2,
        ensemble__transformer__net__max_epochs=2,
    )


@pytest.fixture(scope="module")
def fitted_panel_pipeline():
    panel = make_panel(n_dates=120)
    y = np.where(panel["x0"].to_numpy() > 0, "buy", "sell")
    pipe = small_pipeline(weights="auto").set_params(ensemble__importance="fit")
    return pipe.fit(panel, y), panel, y


class TestPipelineOnPanels:
    def test_predicts_one_row_per_input_row_in_input_order(self, fitted_panel_pipeline):
        pipe, panel, y = fitted_panel_pipeline
        proba = pipe.predict_proba(panel)
        assert proba.shape == (len(panel), 2)
        order = np.random.RandomState(0).permutation(len(panel))
        np.testing.assert_allclose(pipe.predict_proba(panel.iloc[order]), proba[order])
        assert (pipe.predict(panel) == y).mean() > 0.8

    def test_other_instruments_never_move_a_prediction(self, fitted_panel_pipeline):
        pipe, panel, _ = fitted_panel_pipeline
        changed = panel.copy()
        is_c = changed.index.get_level_values("instrument") == "CCC"
        changed.loc[is_c] = -changed.loc[is_c] * 3
        before, after = pipe.predict_proba(panel), pipe.predict_proba(changed)
        np.testing.assert_array_equal(before[~is_c], after[~is_c])
        assert not np.allclose(before[is_c], after[is_c])

    def test_learned_weights_and_importances(self, fitted_panel_pipeline):
        pipe, panel, y = fitted_panel_pipeline
        ensemble = pipe.named_steps["ensemble"]
        assert sum(ensemble.weights_.values()) == pytest.approx(1.0)
        on_tail = ensemble.get_feature_importance(by_member=True)  # from fit
        on_rows = ensemble.get_feature_importance(
            pipe[:-1].transform(panel), y, by_member=True
        )
        for importance in (on_tail, on_rows):
            assert list(importance.index) == list(panel.columns)
            # x0 decides the label: every member ranks it first.
            assert (importance.idxmax() == "x0").all()

    def test_safe_format_and_pickle_round_trip(self, fitted_panel_pipeline, tmp_path):
        pipe, panel, _ = fitted_panel_pipeline
        expected = pipe.predict_proba(panel)
        save(pipe, tmp_path / "panel.zip")
        np.testing.assert_array_equal(
            load(tmp_path / "panel.zip").predict_proba(panel), expected
        )
        np.testing.assert_array_equal(
            pickle.loads(pickle.dumps(pipe)).predict_proba(panel), expected
        )

    def test_long_table_through_to_panel(self, fitted_panel_pipeline):
        pipe, panel, _ = fitted_panel_pipeline
        long = panel.reset_index()
        converted = to_panel(long, "instrument", date="date")
        assert list(converted.columns) == list(panel.columns)
        np.testing.assert_array_equal(
            pipe.predict_proba(converted), pipe.predict_proba(panel)
        )

    def test_instrument_feature_reaches_the_boosters_only(self):
        pipe = small_pipeline(instrument_feature=True)
        params = pipe.get_params()
        assert params["ensemble__xgboost__instrument_feature"] is True
        assert params["ensemble__lightgbm__instrument_feature"] is True
        assert not any(
            "instrument_feature" in key
            for key in params
            if key.startswith(("ensemble__lstm", "ensemble__transformer"))
        )


def test_market_panel_end_to_end_walk_forward():
    """OHLCV panel -> features and labels per instrument -> date-split folds."""
    from sklensemble import MarketFeatures, PurgedWalkForwardSplit, evaluate, labels
    from sklensemble.datasets import make_synthetic_market

    bars = pd.concat(
        {
            name: make_synthetic_market(n_bars=200, seed=i)
            for i, name in enumerate("AB")
        },
        names=["instrument", "date"],
    ).sort_index(level="date")
    X = MarketFeatures(return_horizons=(1, 5), ma_windows=(10,)).fit_transform(bars)
    y = labels.return_labels(bars["close"], horizon=1, threshold=0.002)
    X, y = labels.drop_unlabeled(X, y, drop_nan_features=True)
    pipe = small_pipeline()
    cv = PurgedWalkForwardSplit(n_splits=2, purge=1)
    results = evaluate.walk_forward(pipe, X, y, cv, prices=bars["close"])
    ensemble = results[results["model"] == "ensemble"]
    assert sorted(ensemble["instrument"].unique()) == ["(all)", "A", "B"]
    assert len(ensemble) == 2 * 3  # folds x (all, A, B)
    by_fold = ensemble.set_index(["fold", "instrument"])["n_test"]
    for fold in (0, 1):
        assert by_fold[fold, "(all)"] == by_fold[fold, "A"] + by_fold[fold, "B"]


def test_tracked_fit_logs_panel_validation_by_date(tmp_path):
    """An MLflow run gets every ensemble detail of a panel fit, tails by date."""
    mlflow = pytest.importorskip("mlflow")
    pytest.importorskip("matplotlib")
    import warnings

    from _mlflow_helpers import restored_mlflow_state

    from sklensemble.tracking import TrackingWarning

    panel = make_panel(n_dates=50)
    y = np.where(panel["x0"].to_numpy() > 0, "buy", "sell")
    with restored_mlflow_state():
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with mlflow.start_run() as run:
                small_pipeline(refit_full=False).fit(panel, y)
            with mlflow.start_run() as refitted:
                small_pipeline().fit(panel, y)  # the default refit on all rows
        assert not [w for w in caught if issubclass(w.category, TrackingWarning)]
        metrics = mlflow.get_run(run.info.run_id).data.metrics
        refit_metrics = mlflow.get_run(refitted.info.run_id).data.metrics
    # 10% of 50 dates -> the last 5 dates of 3 instruments, for every member.
    members = ("xgboost", "lightgbm", "lstm", "transformer")
    for member in members:
        assert metrics[f"member.{member}.val_rows"] == 15
    assert metrics["ensemble.val_rows"] == 15
    # Refitted members trained on their tails: no held-out figures are claimed.
    assert not [key for key in refit_metrics if ".val_" in key]
    assert all(f"member.{m}.n_iterations" in refit_metrics for m in members)


def test_tune_on_a_panel_splits_by_date():
    pytest.importorskip("optuna")
    from sklensemble import PurgedWalkForwardSplit
    from sklensemble.tuning import tune

    panel = make_panel(n_dates=60)
    y = np.where(panel["x0"].to_numpy() > 0, "buy", "sell")
    pipe = small_pipeline().set_params(
        ensemble__lstm="drop", ensemble__transformer="drop"
    )
    from optuna.distributions import IntDistribution

    space = {"ensemble__xgboost__max_depth": IntDistribution(2, 3)}
    result = tune(
        pipe,
        panel,
        y,
        cv=PurgedWalkForwardSplit(n_splits=2, purge=1),
        n_trials=2,
        search_space=space,
        random_state=0,
        show_progress_bar=False,
    )
    assert result.best_score_ > 0.8
    proba = result.best_estimator_.predict_proba(panel)
    assert proba.shape == (len(panel), 2)


def test_tune_compares_dates_on_a_panel_grouped_by_instrument():
    pytest.importorskip("optuna")
    import warnings

    from optuna.distributions import IntDistribution
    from sklearn.model_selection import KFold

    from sklensemble import PurgedWalkForwardSplit
    from sklensemble.tuning import tune

    panel = make_panel(n_dates=60).sort_index(level="instrument")
    y = np.where(panel["x0"].to_numpy() > 0, "buy", "sell")
    args = dict(
        search_space={"max_depth": IntDistribution(2, 3)},
        n_trials=1,
        random_state=0,
        show_progress_bar=False,
    )
    model = XGBoostClassifier(n_estimators=10, n_jobs=1, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tune(model, panel, y, cv=PurgedWalkForwardSplit(2, purge=1), **args)
    assert not [w for w in caught if "look-ahead" in str(w.message)]
    # Rows of later dates in training: the warning stays for a real look-ahead.
    with pytest.warns(UserWarning, match="trains on rows after its test rows"):
        tune(model, panel, y, cv=KFold(2), **args)

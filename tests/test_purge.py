"""No look-ahead at the edges: purged validation tails, time order, gaps in input.

* Every validation tail (early stopping of networks and boosters,
  ``weights="auto"``, the logged ``val_*`` metrics) is separated from the
  training rows by ``validation_gap`` rows (dates, on a panel), so that no
  training label looks into it; the gap follows the label horizon wherever
  the package knows it (factory, CLI, ``walk_forward``, ``tune``).
* ``tune`` refuses an integer ``cv``, as ``walk_forward`` does.
* A single series whose DatetimeIndex does not strictly increase is refused.
* A missing value in the middle of the input is never stepped over.
"""

import argparse

import numpy as np
import optuna
import pandas as pd
import pytest
import xgboost
from optuna.distributions import FloatDistribution
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import TimeSeriesSplit
from sklearn.pipeline import make_pipeline

from sklensemble import (
    AttentionLSTMClassifier,
    LightGBMClassifier,
    PurgedWalkForwardSplit,
    SequenceWindower,
    SoftVotingEnsemble,
    TransformerClassifier,
    XGBoostClassifier,
    _jobs,
    make_ensemble_pipeline,
    save,
)
from sklensemble._panel import panel_keys
from sklensemble._splits import purge_validation_tails
from sklensemble._validation import check_missing_values, tail_rows, tail_split
from sklensemble._weights import _simplex_log_loss_weights
from sklensemble.cli import main
from sklensemble.evaluate import walk_forward
from sklensemble.labels import return_labels
from sklensemble.tracking import _held_out_rows
from sklensemble.tuning import tune

pytestmark = pytest.mark.usefixtures("seeded_one_thread")


def xgb(**params):
    return XGBoostClassifier(
        **{"n_estimators": 20, "early_stopping_rounds": 5, "n_jobs": 1, **params},
        random_state=0,
    )


def lgbm(**params):
    return LightGBMClassifier(
        **{"n_estimators": 20, "min_child_samples": 2, "n_jobs": 1, **params},
        random_state=0,
    )


def tiny_net(cls=AttentionLSTMClassifier, **params):
    sizes = (
        dict(hidden_size=2, num_heads=1)
        if cls is AttentionLSTMClassifier
        else dict(d_model=4, num_heads=1)
    )
    return cls(
        **sizes,
        num_layers=1,
        max_epochs=1,
        batch_size=64,
        device="cpu",
        random_state=0,
        **params,
    )


@pytest.fixture(scope="module")
def data():
    """120 rows whose first column is the row's position, so that rows can
    be recognised after a model has received them."""
    X, y = make_classification(
        n_samples=120, n_features=4, n_informative=3, n_redundant=0, random_state=0
    )
    X[:, 0] = np.arange(len(X))
    return X, y


def make_panel(n_dates=20, instruments=("A", "B", "C")):
    dates = pd.bdate_range("2024-01-01", periods=n_dates)
    index = pd.MultiIndex.from_product([list(instruments), dates])
    index = index.set_names(["instrument", "date"])
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(len(index), 2)), index=index)


# -- the one definition: tail_rows ---------------------------------------------
class TestTailRows:
    def test_exact_rows(self):
        # 25% of 20 rows -> rows 15..19 validate; gap 3 purges 12, 13, 14.
        train, valid = tail_rows(20, 0.25, gap=3)
        rows = np.arange(20)
        np.testing.assert_array_equal(rows[train], np.arange(12))
        np.testing.assert_array_equal(rows[valid], np.arange(15, 20))

    def test_gap_zero_is_the_plain_tail(self):
        assert tail_rows(20, 0.25) == tail_rows(20, 0.25, gap=0)
        assert tail_rows(20, 0.25)[0] == slice(None, tail_split(20, 0.25))

    def test_no_tail_purges_nothing(self):
        assert tail_rows(20, None, gap=5) == (slice(None), None)

    @pytest.mark.parametrize("horizon", [1, 2, 3, 5])
    def test_gap_of_the_horizon_keeps_training_labels_out_of_the_tail(self, horizon):
        """Move every price from the first validation row on up, or down: with
        ``gap=horizon`` no training label changes; the first purged row's does."""
        n = 60
        rng = np.random.default_rng(horizon)
        close = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.02, n))))
        train, valid = tail_rows(n, 0.2, gap=horizon)
        start = valid.start
        assert train.stop == start - horizon  # the last training row: s - h - 1

        def labels(factor):
            prices = close.copy()
            prices.iloc[start:] *= factor
            return return_labels(prices, horizon, threshold=0.0).to_numpy()

        up, down = labels(10.0), labels(0.1)
        np.testing.assert_array_equal(up[train], labels(1.0)[train])
        np.testing.assert_array_equal(down[train], labels(1.0)[train])
        first_purged = train.stop  # trained on with gap = horizon - 1
        assert (up[first_purged], down[first_purged]) == ("buy", "sell")

    def test_panel_dates_in_any_row_order(self):
        # 10 dates: dates 8, 9 validate, gap 2 purges dates 6, 7.
        dates = np.tile(np.arange(10), 3)  # one instrument after another
        train, valid = tail_rows(len(dates), 0.2, dates, gap=2)
        np.testing.assert_array_equal(train, np.flatnonzero(dates < 6))
        np.testing.assert_array_equal(valid, np.flatnonzero(dates >= 8))

    def test_panel_sorted_by_date_gives_slices(self):
        dates = np.repeat(np.arange(10), 3)
        assert tail_rows(len(dates), 0.2, dates, gap=2) == (
            slice(None, 18),
            slice(24, None),
        )

    @pytest.mark.parametrize(
        "dates, unit", [(None, "rows"), (np.repeat(np.arange(10), 2), "dates")]
    )
    def test_gap_leaving_no_training_row(self, dates, unit):
        n = 10 if dates is None else len(dates)
        assert tail_rows(n, 0.2, dates, gap=7)  # one row (date) still trains
        with pytest.raises(ValueError, match=f"validation_gap=8 leave no {unit}"):
            tail_rows(n, 0.2, dates, gap=8)

    @pytest.mark.parametrize("gap", [-1, 1.5, None, True])
    def test_invalid_gap(self, gap):
        with pytest.raises(ValueError, match="validation_gap must be an integer"):
            tail_rows(20, 0.2, gap=gap)


# -- the members ----------------------------------------------------------------
class TestBoosters:
    @pytest.mark.parametrize("make", [xgb, lgbm])
    def test_trains_and_validates_on_rows_apart(self, make, data, monkeypatch):
        X, y = data
        seen = {}
        cls = type(make())
        fit_model = cls._fit_model

        def spy(self, model, X_tr, y_tr, w, X_val, y_val, w_val):
            seen["train"], seen["valid"] = X_tr[:, 0], X_val[:, 0]
            return fit_model(self, model, X_tr, y_tr, w, X_val, y_val, w_val)

        monkeypatch.setattr(cls, "_fit_model", spy)
        make(validation_fraction=0.25, validation_gap=4).fit(X, y)
        # 25% of 120 rows: rows 90..119 validate; 86..89 are purged.
        np.testing.assert_array_equal(seen["train"], np.arange(86))
        np.testing.assert_array_equal(seen["valid"], np.arange(90, 120))

    def test_equals_a_manual_purged_early_stopping(self, data):
        X, y = data
        clf = xgb(n_estimators=60, learning_rate=0.3, validation_gap=3).fit(X, y)
        n_train = tail_split(len(y), 0.1)
        params = clf.model_.get_params()
        manual = xgboost.XGBClassifier(
            **{k: v for k, v in params.items() if k not in ("eval_metric",)},
            eval_metric="logloss",
        ).fit(
            X[: n_train - 3],
            y[: n_train - 3],
            eval_set=[(X[n_train:], y[n_train:])],
            verbose=False,
        )
        assert clf.best_iteration_ == manual.best_iteration
        np.testing.assert_allclose(
            clf.predict_proba(X), manual.predict_proba(X), rtol=1e-6
        )

    def test_panel_purges_dates(self, monkeypatch):
        panel = make_panel(n_dates=20)
        y = np.where(panel[0] > 0, "buy", "sell")
        seen = {}
        fit_model = XGBoostClassifier._fit_model

        def spy(self, model, X_tr, y_tr, w, X_val, y_val, w_val):
            seen["n"] = len(X_tr), len(X_val)
            return fit_model(self, model, X_tr, y_tr, w, X_val, y_val, w_val)

        monkeypatch.setattr(XGBoostClassifier, "_fit_model", spy)
        xgb(validation_fraction=0.1, validation_gap=3).fit(panel, y)
        # 20 dates: dates 18, 19 validate, 15..17 purged, 0..14 train (x 3).
        assert seen["n"] == (45, 6)


class TestNetworks:
    @pytest.mark.parametrize("cls", [AttentionLSTMClassifier, TransformerClassifier])
    def test_trains_and_validates_on_rows_apart(self, cls, data):
        X, y = data
        windows = SequenceWindower(3).fit_transform(X)
        clf = tiny_net(cls, validation_fraction=0.25, validation_gap=4)
        clf.fit(windows, y)
        split = clf.net_.train_split
        rows = np.arange(len(y))
        np.testing.assert_array_equal(rows[split.train], np.arange(86))
        np.testing.assert_array_equal(rows[split.valid], np.arange(90, 120))

    def test_panel_windows_purge_dates(self):
        panel = make_panel(n_dates=20)
        y = np.where(panel[0] > 0, "buy", "sell")
        windows = SequenceWindower(3).fit_transform(panel)
        clf = tiny_net(validation_fraction=0.1, validation_gap=3).fit(windows, y)
        split = clf.net_.train_split
        dates = panel_keys(panel).date
        np.testing.assert_array_equal(
            np.sort(dates[split.train]), np.repeat(range(15), 3)
        )
        np.testing.assert_array_equal(np.sort(dates[split.valid]), [18] * 3 + [19] * 3)

    def test_gap_too_large_is_a_clear_error(self, data):
        X, y = data
        with pytest.raises(ValueError, match="validation_gap=200 leave no rows"):
            tiny_net(validation_gap=200).fit(X, y)


class TestEnsemble:
    def test_auto_weights_purge_the_head(self, data):
        """weights_ equal the optimum of heads fitted up to the gap, scored on
        the tail."""
        X, y = data
        members = [("xgb", xgb(validation_fraction=None)), ("lr", LogisticRegression())]
        ens = SoftVotingEnsemble(
            members, weights="auto", validation_fraction=0.25, validation_gap=6
        ).fit(X, y)
        heads = [clone(est).fit(X[:84], y[:84]) for _, est in members]
        probas = np.stack([est.predict_proba(X[90:]) for est in heads])
        expected = _simplex_log_loss_weights(probas, y[90:], None)
        np.testing.assert_allclose(list(ens.weights_.values()), expected, atol=1e-6)

    def test_auto_weights_on_a_panel_purge_dates(self, monkeypatch):
        panel = make_panel(n_dates=20)
        y = np.where(panel[0] > 0, 1, 0)
        seen = []
        fit = LogisticRegression.fit

        def spy(self, X, y, sample_weight=None):
            seen.append(len(X))
            return fit(self, X, y, sample_weight)

        monkeypatch.setattr(LogisticRegression, "fit", spy)
        members = [("a", LogisticRegression()), ("b", LogisticRegression(C=0.1))]
        SoftVotingEnsemble(
            members, weights="auto", validation_fraction=0.2, validation_gap=2
        ).fit(panel, y)
        # 20 dates: 16..19 validate, 14, 15 purged: heads fit 14 dates x 3.
        assert seen == [42, 42, 60, 60]

    def test_logged_val_rows_are_the_tail(self, data):
        X, y = data
        booster = xgb(validation_fraction=0.25, validation_gap=4).fit(X, y)
        assert _held_out_rows(booster, len(y), None) == slice(90, None)

    def test_gap_is_a_plain_parameter(self):
        ens = SoftVotingEnsemble([("lr", LogisticRegression())], validation_gap=3)
        assert ens.get_params()["validation_gap"] == 3
        assert clone(ens).set_params(validation_gap=1).validation_gap == 1
        with pytest.raises(ValueError, match="validation_gap"):
            ens.set_params(validation_gap=-1).fit(np.zeros((4, 1)), [0, 1, 0, 1])


# -- where the horizon is known ----------------------------------------------------
def gaps(est):
    return {k: v for k, v in est.get_params().items() if k.endswith("validation_gap")}


class TestHorizonSetsTheGap:
    def test_factory(self):
        pipe = make_ensemble_pipeline(preset="fast", horizon=4)
        assert len(gaps(pipe)) == 5  # four members and the ensemble
        assert set(gaps(pipe).values()) == {4}
        assert set(gaps(make_ensemble_pipeline(preset="fast")).values()) == {1}
        with pytest.raises(ValueError, match="horizon must be an integer >= 0"):
            make_ensemble_pipeline(horizon=-1)

    def test_cli_pipeline(self):
        args = argparse.Namespace(
            preset="fast", device="cpu", sequence_length=5, seed=0, horizon=3
        )
        pipe, _, _ = _jobs.build_pipeline(args, lambda *a, **k: None)
        assert set(gaps(pipe).values()) == {3}

    def test_purge_raises_smaller_gaps_only(self):
        pipe = make_ensemble_pipeline(preset="fast", horizon=1).set_params(
            ensemble__xgboost__validation_gap=9
        )
        purged = purge_validation_tails(pipe, PurgedWalkForwardSplit(2, purge=5))
        assert (
            purged is not pipe
            and gaps(pipe)["ensemble__lstm__net__validation_gap"] == 1
        )
        assert gaps(purged) == {
            **dict.fromkeys(gaps(pipe), 5),
            "ensemble__xgboost__validation_gap": 9,
        }
        assert purge_validation_tails(pipe, TimeSeriesSplit(2)) is pipe
        assert purge_validation_tails(pipe, PurgedWalkForwardSplit(2, purge=1)) is pipe


class Recorder(ClassifierMixin, BaseEstimator):
    """Records the validation_gap it is fitted with; predicts the prior."""

    fits = []

    def __init__(self, validation_gap=0, c=1.0):
        self.validation_gap = validation_gap
        self.c = c

    def fit(self, X, y):
        Recorder.fits.append(self.validation_gap)
        self.classes_, counts = np.unique(y, return_counts=True)
        self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


@pytest.fixture
def recorder():
    Recorder.fits = []
    return Recorder


class TestWalkForwardAndTune:
    def test_walk_forward_purges_each_fold_as_its_split(self, data, recorder):
        X, y = data
        cv = PurgedWalkForwardSplit(n_splits=3, test_size=20, purge=3)
        walk_forward(recorder(), X, y, cv)
        assert recorder.fits == [3, 3, 3]
        walk_forward(recorder(validation_gap=7), X, y, cv)
        assert recorder.fits[3:] == [7, 7, 7]  # a larger gap is kept
        walk_forward(recorder(), X, y, TimeSeriesSplit(2))
        assert recorder.fits[6:] == [0, 0]

    def test_tune_purges_trials_and_refit(self, data, recorder):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        X, y = data
        est = recorder()
        result = tune(
            est,
            X,
            y,
            cv=PurgedWalkForwardSplit(n_splits=2, test_size=20, purge=4),
            search_space={"c": FloatDistribution(0.1, 1.0)},
            n_trials=1,
            random_state=0,
            show_progress_bar=False,
        )
        assert recorder.fits == [4, 4, 4]  # two folds and the refit
        assert result.best_estimator_.validation_gap == 4
        assert est.validation_gap == 0  # the given estimator is untouched

    @pytest.mark.parametrize("cv", [2, 5])
    def test_tune_refuses_an_integer_cv(self, data, cv):
        X, y = data
        with pytest.raises(ValueError, match=rf"cv={cv} is refused.*unpurged") as err:
            space = {"c": FloatDistribution(0.1, 1.0)}
            tune(Recorder(), X, y, cv=cv, search_space=space, n_trials=1)
        assert f"PurgedWalkForwardSplit(n_splits={cv}, purge=" in str(err.value)


# -- time order -------------------------------------------------------------------
def shuffled_frame(X, order):
    dates = pd.bdate_range("2024-01-01", periods=len(X))
    return pd.DataFrame(X, index=dates).iloc[order]


FITTERS = {
    "windower": lambda: SequenceWindower(3),
    "xgboost": xgb,
    "lightgbm": lgbm,
    "lstm": tiny_net,
    "ensemble": lambda: SoftVotingEnsemble([("lr", LogisticRegression())]),
    "pipeline": lambda: make_ensemble_pipeline(preset="fast"),
}


class TestTimeOrder:
    @pytest.mark.parametrize("name", list(FITTERS))
    def test_shuffled_dates_are_refused(self, name, data):
        X, y = data
        order = np.r_[0:50, 51, 50, 52:120]  # rows 50 and 51 swapped
        with pytest.raises(
            ValueError,
            match=r"not in time order: row 51 \(2024-03-11.*comes after row 50 "
            r"\(2024-03-12.*X.sort_index\(\)",
        ):
            FITTERS[name]().fit(shuffled_frame(X, order), y[order])

    @pytest.mark.parametrize("name", ["windower", "xgboost", "ensemble"])
    def test_repeated_dates_are_refused(self, name, data):
        X, y = data
        frame = shuffled_frame(X, np.arange(len(X)))
        frame.index = frame.index[np.r_[0:60, 59, 61:120]]
        with pytest.raises(
            ValueError,
            match=r"repeat the date 2024-03-22 .*\(rows 59 and 60\).*to_panel",
        ):
            FITTERS[name]().fit(frame, y)

    def test_sorted_dates_and_arrays_are_accepted(self, data):
        X, y = data
        frame = shuffled_frame(X, np.arange(len(X)))
        assert SequenceWindower(3).fit_transform(frame).shape == (120, 3, 4)
        assert SequenceWindower(3).fit_transform(X[::-1]).shape == (120, 3, 4)

    def test_windows_and_predictions_refuse_shuffled_dates(self, data):
        X, y = data
        frame = shuffled_frame(X, np.arange(len(X)))
        ens = SoftVotingEnsemble([("lr", LogisticRegression())]).fit(frame, y)
        windower = SequenceWindower(3).fit(frame)
        for transform in (ens.predict_proba, windower.transform):
            with pytest.raises(ValueError, match="not in time order"):
                transform(frame.iloc[::-1])

    def test_panels_may_come_in_any_row_order(self):
        """A panel's rows are ordered by their dates, per instrument."""
        panel = make_panel(n_dates=20)
        y = np.where(panel[0] > 0, "buy", "sell")
        order = np.random.default_rng(0).permutation(len(panel))
        windows = np.asarray(SequenceWindower(3).fit_transform(panel))
        shuffled = SequenceWindower(3).fit_transform(panel.iloc[order])
        np.testing.assert_array_equal(np.asarray(shuffled), windows[order])
        assert xgb().fit(panel.iloc[order], y[order]).n_features_in_ == 2


# -- missing values in the middle ----------------------------------------------------
def with_nan(X, rows):
    frame = shuffled_frame(X, np.arange(len(X)))
    frame.iloc[rows, 1] = np.nan
    return frame


class TestMissingValues:
    def test_rows_are_named(self, data):
        X, _ = data
        frame = with_nan(X, [0, 1, 40, 41, 42, 43])
        with pytest.raises(
            ValueError,
            match=r"NaN in the middle of the series, in 4 rows: 2024-02-26 "
            r"00:00:00 \(row 40\), .* and 1 more\. Fill those values",
        ):
            check_missing_values(frame, allow_leading=True)
        leading = check_missing_values(with_nan(X, [0, 1]), allow_leading=True)
        np.testing.assert_array_equal(np.flatnonzero(leading), [0, 1])
        with pytest.raises(ValueError, match=r"2 rows: .*before the first complete"):
            check_missing_values(with_nan(X, [0, 1]))
        assert not check_missing_values(X).any()

    def test_panel_leading_rows_are_per_instrument(self):
        panel = make_panel(n_dates=10)
        panel.iloc[[0, 1, 10], 0] = np.nan  # A's first two dates, B's first
        keys = panel_keys(panel)
        leading = check_missing_values(panel, keys, allow_leading=True)
        np.testing.assert_array_equal(np.flatnonzero(leading), [0, 1, 10])
        panel.iloc[15, 0] = np.nan  # B, sixth date
        with pytest.raises(ValueError, match=r"in 1 row: B at 2024-01-08 00:00:00\."):
            check_missing_values(panel, keys, allow_leading=True)

    @pytest.mark.parametrize("where", ["fit", "predict"])
    def test_ensemble_names_the_rows_a_member_rejects(self, data, where):
        X, y = data
        ens = SoftVotingEnsemble([("xgb", xgb()), ("lr", LogisticRegression())])
        gappy = with_nan(X, [70])
        if where == "predict":
            ens.fit(with_nan(X, []), y)
        call = ens.fit if where == "fit" else ens.predict_proba
        args = (gappy, y) if where == "fit" else (gappy,)
        with pytest.raises(ValueError, match=r"NaN in the middle .*\(row 70\)"):
            call(*args)

    def test_ensemble_of_members_that_accept_nan_keeps_rows_in_place(self, data):
        """The networks impute NaN: the row stays, so no window steps over it."""
        X, y = data
        ens = SoftVotingEnsemble(
            [("xgb", xgb()), ("lstm", make_pipeline(SequenceWindower(3), tiny_net()))]
        ).fit(with_nan(X, [70]), y)
        assert ens.predict_proba(with_nan(X, [70])).shape == (120, 2)

    def test_boosters_only_ensemble_keeps_nan(self, data):
        X, y = data
        ens = SoftVotingEnsemble([("xgb", xgb())]).fit(with_nan(X, [70]), y)
        assert np.isfinite(ens.predict_proba(with_nan(X, [70]))).all()

    def test_cli_predict_refuses_a_gap(self, data, tmp_path, capsys):
        X, y = data
        columns = [f"f{i}" for i in range(X.shape[1])]
        frame = pd.DataFrame(X, columns=columns, index=with_nan(X, []).index)
        model = tmp_path / "model.skens"
        save(xgb().fit(frame, y), model)
        frame = frame.rename_axis("date")
        frame.iloc[:2, 1] = np.nan  # warm-up rows: no prediction, no error
        frame.to_csv(tmp_path / "warm.csv")
        out = tmp_path / "out.csv"
        assert (
            main(["predict", str(model), str(tmp_path / "warm.csv"), "--out", str(out)])
            == 0
        )
        assert pd.read_csv(out)["label"].isna().sum() == 2
        assert "2 leading rows lack feature history" in capsys.readouterr().err
        frame.iloc[70, 2] = np.nan
        frame.to_csv(tmp_path / "gap.csv")
        assert main(["predict", str(model), str(tmp_path / "gap.csv")]) == 2
        err = capsys.readouterr().err
        assert "gap.csv: the input contains NaN in the middle of the series" in err
        assert "1 row: 2024-04-08 00:00:00 (row 70)" in err
        assert err.count("\n") == 1

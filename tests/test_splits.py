import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklensemble import PurgedWalkForwardSplit


def folds(cv, n):
    return [
        (train.tolist(), test.tolist()) for train, test in cv.split(np.zeros((n, 1)))
    ]


class TestLayout:
    def test_exact_indices(self):
        cv = PurgedWalkForwardSplit(n_splits=3, test_size=2, purge=2, embargo=1)
        assert folds(cv, 12) == [
            ([0, 1, 2], [6, 7]),
            ([0, 1, 2, 3, 4], [8, 9]),
            ([0, 1, 2, 3, 4, 5, 6], [10, 11]),
        ]

    @pytest.mark.parametrize("n", [30, 31, 47])
    @pytest.mark.parametrize("max_train_size", [None, 7])
    def test_matches_time_series_split(self, n, max_train_size):
        # Same block layout as scikit-learn's splitter; its gap is purge + embargo.
        ours = PurgedWalkForwardSplit(
            4, purge=2, embargo=1, max_train_size=max_train_size
        )
        ref = TimeSeriesSplit(4, gap=3, max_train_size=max_train_size)
        assert folds(ours, n) == folds(ref, n)

    def test_default_test_size(self):
        test_sizes = [len(test) for _, test in folds(PurgedWalkForwardSplit(5), 100)]
        assert test_sizes == [100 // 6] * 5

    def test_rolling_window_has_fixed_size(self):
        cv = PurgedWalkForwardSplit(3, test_size=10, purge=2, expanding=False)
        result = folds(cv, 60)
        assert [len(train) for train, _ in result] == [28, 28, 28]
        assert [train[0] for train, _ in result] == [0, 10, 20]
        cv = PurgedWalkForwardSplit(3, test_size=10, expanding=False, max_train_size=5)
        assert [train for train, _ in folds(cv, 60)] == [
            list(range(25, 30)),
            list(range(35, 40)),
            list(range(45, 50)),
        ]

    def test_capped_expanding_window(self):
        cv = PurgedWalkForwardSplit(3, test_size=10, max_train_size=25)
        assert [len(train) for train, _ in folds(cv, 60)] == [25, 25, 25]
        cv = PurgedWalkForwardSplit(3, test_size=10, max_train_size=35)
        assert [len(train) for train, _ in folds(cv, 60)] == [30, 35, 35]

    def test_single_fold_is_a_holdout(self):
        assert folds(PurgedWalkForwardSplit(1, test_size=3, purge=1), 10) == [
            ([0, 1, 2, 3, 4, 5], [7, 8, 9])
        ]


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(20, 200),
    n_splits=st.integers(1, 6),
    purge=st.integers(0, 6),
    embargo=st.integers(0, 4),
    test_size=st.one_of(st.none(), st.integers(1, 15)),
    max_train_size=st.one_of(st.none(), st.integers(1, 40)),
    expanding=st.booleans(),
)
def test_properties(n, n_splits, purge, embargo, test_size, max_train_size, expanding):
    cv = PurgedWalkForwardSplit(
        n_splits,
        test_size=test_size,
        purge=purge,
        embargo=embargo,
        max_train_size=max_train_size,
        expanding=expanding,
    )
    try:
        result = list(cv.split(np.zeros((n, 2))))
    except ValueError as exc:
        assert "Too few rows" in str(exc) or "max_train_size" in str(exc)
        return
    size = test_size or n // (n_splits + 1)
    assert len(result) == cv.get_n_splits() == n_splits
    assert result[-1][1][-1] == n - 1  # the test blocks end with the data
    train_sizes = set()
    for k, (train, test) in enumerate(result):
        assert len(test) == size
        np.testing.assert_array_equal(test, np.arange(test[0], test[0] + size))
        assert test[0] == n - (n_splits - k) * size
        assert len(train) >= 1
        np.testing.assert_array_equal(train, np.arange(train[0], train[-1] + 1))
        # train strictly before test, nothing within purge + embargo rows of it
        assert train[-1] == test[0] - purge - embargo - 1
        if max_train_size is not None:
            assert len(train) <= max_train_size
        train_sizes.add(len(train))
    if not expanding:
        assert len(train_sizes) == 1


class TestPurge:
    def test_purged_rows_are_those_whose_labels_reach_the_test_block(self):
        # A label over h bars at row i uses prices up to i + h.
        horizon = 5
        cv = PurgedWalkForwardSplit(4, test_size=20, purge=horizon)
        for train, test in cv.split(np.zeros((200, 1))):
            assert (train + horizon < test[0]).all()
            assert train[-1] + horizon == test[0] - 1  # nothing more is dropped

    def test_embargo_adds_to_the_gap(self):
        no_embargo = folds(PurgedWalkForwardSplit(2, test_size=5, purge=3), 40)
        embargoed = folds(
            PurgedWalkForwardSplit(2, test_size=5, purge=3, embargo=4), 40
        )
        for (train_a, test_a), (train_b, test_b) in zip(
            no_embargo, embargoed, strict=True
        ):
            assert test_a == test_b
            assert train_a[-1] - train_b[-1] == 4


class TestErrors:
    @pytest.mark.parametrize(
        "kwargs, n, match",
        [
            ({"n_splits": 5}, 5, "Too few rows: 5 rows cannot make 5 test blocks"),
            ({"n_splits": 3, "test_size": 5}, 15, r"Need at least 16 rows"),
            ({"n_splits": 2, "test_size": 5, "purge": 10}, 20, "Need at least 21"),
            ({"n_splits": 2, "test_size": 5, "embargo": 10}, 20, "lower n_splits"),
            (
                {
                    "n_splits": 2,
                    "test_size": 5,
                    "expanding": False,
                    "max_train_size": 11,
                },
                20,
                "only 10",
            ),
        ],
    )
    def test_too_few_rows(self, kwargs, n, match):
        with pytest.raises(ValueError, match=match):
            list(PurgedWalkForwardSplit(**kwargs).split(np.zeros((n, 1))))

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"n_splits": 0}, "n_splits must be an integer >= 1"),
            ({"n_splits": 2.0}, "n_splits must be an integer"),
            ({"test_size": 0}, "test_size must be an integer >= 1 or None"),
            ({"purge": -1}, "purge must be an integer >= 0"),
            ({"embargo": True}, "embargo must be an integer >= 0"),
            ({"max_train_size": 0}, "max_train_size must be an integer >= 1 or None"),
            ({"expanding": "yes"}, "expanding must be True or False"),
        ],
    )
    def test_bad_parameters(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            list(PurgedWalkForwardSplit(**kwargs).split(np.zeros((100, 1))))

    def test_groups_are_ignored_with_a_warning(self):
        cv = PurgedWalkForwardSplit(2)
        with pytest.warns(UserWarning, match="groups parameter is ignored"):
            result = list(cv.split(np.zeros((30, 1)), groups=np.arange(30)))
        assert len(result) == 2


class TestSklearnIntegration:
    def test_repr_and_get_n_splits(self):
        cv = PurgedWalkForwardSplit(3, purge=5, embargo=2)
        assert " ".join(repr(cv).split()) == (
            "PurgedWalkForwardSplit(date=None, embargo=2, expanding=True,"
            " instrument=None, max_train_size=None, n_splits=3, purge=5,"
            " test_size=None)"
        )
        assert cv.get_n_splits() == 3
        assert cv.get_n_splits(np.zeros((10, 1)), None, None) == 3

    @pytest.fixture
    def data(self):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(300, 3))
        y = (X[:, 0] + 0.5 * rng.normal(size=300) > 0).astype(int)
        return X, y

    def test_cross_val_score(self, data):
        X, y = data
        cv = PurgedWalkForwardSplit(4, purge=5, embargo=2)
        scores = cross_val_score(LogisticRegression(), X, y, cv=cv)
        assert scores.shape == (4,)
        assert (scores > 0.7).all()

    def test_grid_search(self, data):
        X, y = data
        search = GridSearchCV(
            make_pipeline(StandardScaler(), LogisticRegression()),
            {"logisticregression__C": [0.01, 1.0]},
            cv=PurgedWalkForwardSplit(3, purge=5, max_train_size=150),
        ).fit(X, y)
        assert search.n_splits_ == 3
        assert len(search.cv_results_["split2_test_score"]) == 2
        assert search.best_score_ > 0.7

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklensemble import SequenceWindower
from sklensemble._windowing import PanelWindows, make_windows


def _base_buffer(array):
    while array.base is not None:
        array = array.base
    return array


class TestSequenceWindower:
    def test_rows_are_lookback_windows_oldest_first(self):
        X = np.arange(20.0).reshape(10, 2)
        windows = SequenceWindower(sequence_length=4).fit_transform(X)
        assert windows.shape == (10, 4, 2)
        assert windows.dtype == np.float32
        for i in range(3, 10):
            np.testing.assert_array_equal(windows[i], X[i - 3 : i + 1])
        # the current row is always last
        np.testing.assert_array_equal(windows[:, -1], X)

    def test_edge_padding_repeats_first_row(self):
        X = np.arange(1.0, 7.0).reshape(3, 2)
        windows = SequenceWindower(sequence_length=3).fit_transform(X)
        np.testing.assert_array_equal(windows[0], [[1, 2], [1, 2], [1, 2]])
        np.testing.assert_array_equal(windows[1], [[1, 2], [1, 2], [3, 4]])

    def test_zero_padding(self):
        X = np.arange(1.0, 7.0).reshape(3, 2)
        windows = SequenceWindower(3, padding="zero").fit_transform(X)
        np.testing.assert_array_equal(windows[0], [[0, 0], [0, 0], [1, 2]])
        np.testing.assert_array_equal(windows[1], [[0, 0], [1, 2], [3, 4]])

    def test_sequence_length_one_is_the_rows(self):
        X = np.random.RandomState(0).normal(size=(5, 3))
        windows = SequenceWindower(1).fit_transform(X)
        np.testing.assert_allclose(windows[:, 0], X, rtol=1e-6)

    def test_windows_are_a_read_only_view_of_padded_rows(self):
        n, f, length = 5_000, 8, 60
        X = np.random.RandomState(0).normal(size=(n, f))
        windows = SequenceWindower(length).fit_transform(X)
        base = _base_buffer(windows)
        # memory is O(rows x features): the padded float32 rows, nothing more
        assert base.nbytes == (n + length - 1) * f * 4
        assert windows.nbytes == n * length * f * 4  # what a copy would cost
        assert not windows.flags.writeable
        assert windows.strides[0] == windows.strides[1]

    def test_row_count_never_changes_so_y_stays_aligned(self):
        X = np.random.RandomState(0).normal(size=(7, 2))
        assert SequenceWindower(50).fit_transform(X).shape == (7, 50, 2)

    def test_no_look_ahead(self):
        rng = np.random.RandomState(1)
        X = rng.normal(size=(50, 3))
        before = SequenceWindower(10).fit_transform(X)
        X_changed = X.copy()
        X_changed[30:] = rng.normal(size=(20, 3)) * 100
        after = SequenceWindower(10).fit_transform(X_changed)
        np.testing.assert_array_equal(before[:30], after[:30])
        assert not np.array_equal(before[30:], after[30:])

    def test_dataframe_feature_names(self):
        df = pd.DataFrame({"ret": [0.1, 0.2, 0.3], "vol": [1.0, 2.0, 3.0]})
        windower = SequenceWindower(2).fit(df)
        np.testing.assert_array_equal(windower.get_feature_names_out(), ["ret", "vol"])
        np.testing.assert_array_equal(windower.feature_names_in_, ["ret", "vol"])
        np.testing.assert_allclose(
            windower.transform(df)[2], [[0.2, 2], [0.3, 3]], rtol=1e-6
        )

    def test_default_feature_names(self):
        windower = SequenceWindower(2).fit(np.zeros((3, 2)))
        np.testing.assert_array_equal(windower.get_feature_names_out(), ["x0", "x1"])

    def test_nan_passes_through_to_the_classifier(self):
        X = np.array([[1.0], [np.nan], [3.0]])
        windows = SequenceWindower(2).fit_transform(X)
        assert np.isnan(windows[1, 1, 0]) and np.isnan(windows[2, 0, 0])

    @pytest.mark.parametrize("length", [0, -3, 2.5, "60"])
    def test_invalid_sequence_length(self, length):
        with pytest.raises(ValueError, match="sequence_length"):
            SequenceWindower(length).fit(np.zeros((3, 2)))

    def test_invalid_padding(self):
        with pytest.raises(ValueError, match="padding"):
            SequenceWindower(2, padding="reflect").fit(np.zeros((3, 2)))

    @pytest.mark.parametrize(
        "X, match",
        [
            (np.zeros((3, 2, 2)), "dim 3"),
            (np.zeros(3), "Expected 2D array"),
            (np.array([["a", "b"]]), "(?i)convert"),
        ],
    )
    def test_bad_input(self, X, match):
        with pytest.raises(ValueError, match=match):
            SequenceWindower(2).fit(X)

    def test_feature_count_mismatch_at_transform(self):
        windower = SequenceWindower(2).fit(np.zeros((3, 2)))
        with pytest.raises(ValueError, match="X has 3 features.*expecting 2"):
            windower.transform(np.zeros((3, 3)))

    def test_in_pipeline(self):
        pipe = make_pipeline(SequenceWindower(3))
        assert pipe.fit_transform(np.ones((4, 2))).shape == (4, 3, 2)


class TestSetOutput:
    """Windows have no DataFrame form: output settings are accepted, not applied."""

    X = pd.DataFrame(np.arange(8.0).reshape(4, 2), columns=["a", "b"])

    @pytest.mark.parametrize("transform", ["pandas", "polars", "default", None])
    def test_set_output_returns_self_and_keeps_3d_windows(self, transform):
        windower = SequenceWindower(2)
        assert windower.set_output(transform=transform) is windower
        windows = windower.fit_transform(self.X)
        assert isinstance(windows, np.ndarray)
        np.testing.assert_array_equal(windows[3], [[4, 5], [6, 7]])

    def test_global_pandas_output(self):
        with sklearn.config_context(transform_output="pandas"):
            windower = SequenceWindower(2).set_output(transform="pandas")
            windows = windower.fit(self.X).transform(self.X)
        assert isinstance(windows, np.ndarray) and windows.shape == (4, 2, 2)
        assert list(windower.get_feature_names_out()) == ["a", "b"]

    def test_pipeline_set_output_reaches_the_windower(self):
        pipe = make_pipeline(StandardScaler(), SequenceWindower(3))
        assert pipe.set_output(transform="pandas") is pipe
        windows = pipe.fit_transform(self.X)
        assert windows.shape == (4, 3, 2)
        assert list(pipe[-1].feature_names_in_) == ["a", "b"]  # a DataFrame came in

    def test_panel_windows_under_global_pandas_output(self):
        index = pd.MultiIndex.from_product(
            [pd.bdate_range("2024-01-01", periods=2), ["A", "B"]]
        )
        panel = pd.DataFrame({"x": [1.0, 10.0, 2.0, 20.0]}, index=index)
        with sklearn.config_context(transform_output="pandas"):
            windows = (
                SequenceWindower(2).set_output(transform="pandas").fit_transform(panel)
            )
        assert isinstance(windows, PanelWindows)
        np.testing.assert_array_equal(
            np.asarray(windows)[:, :, 0], [[1, 1], [10, 10], [1, 2], [10, 20]]
        )

    def test_unknown_container_raises(self):
        with pytest.raises(ValueError, match="transform must be one of.*'pandas'"):
            SequenceWindower(2).set_output(transform="arrow")


def test_make_windows_matches_naive_stacking():
    rng = np.random.RandomState(3)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    length = 7
    padded = np.vstack([np.repeat(X[:1], length - 1, axis=0), X])
    naive = np.stack([padded[i : i + length] for i in range(len(X))])
    np.testing.assert_array_equal(make_windows(X, length), naive)


class TestRowOrder:
    """Rows out of time order give wrong windows: a DataFrame's index tells."""

    X = pd.DataFrame(
        np.arange(12.0).reshape(6, 2),
        columns=["a", "b"],
        index=pd.bdate_range("2024-01-01", periods=6),
    )

    @pytest.mark.parametrize("method", ["fit", "fit_transform"])
    def test_shuffled_datetime_index_raises(self, method):
        shuffled = self.X.iloc[[0, 1, 3, 2, 4, 5]]
        with pytest.raises(
            ValueError,
            match=r"not in time order: row 3 \(2024-01-03 00:00:00\) comes "
            r"after row 2 \(2024-01-04.*X.sort_index\(\).*resource='n_samples'",
        ):
            getattr(SequenceWindower(2), method)(shuffled)

    def test_transform_checks_too(self):
        windower = SequenceWindower(2).fit(self.X)
        with pytest.raises(ValueError, match="not in time order"):
            windower.transform(self.X.iloc[::-1])

    def test_shuffled_integer_index_raises(self):
        shuffled = self.X.reset_index(drop=True).iloc[[1, 0, 2, 3, 4, 5]]
        with pytest.raises(ValueError, match=r"row 1 \(0\) comes after row 0 \(1\)"):
            SequenceWindower(2).fit(shuffled)

    def test_ordered_ties_and_timeless_indexes_pass(self):
        ties = self.X.set_axis([0, 0, 1, 1, 1, 2])  # repeated dates: test_purge
        labels = self.X.set_axis(list("fedcba"))  # no time in it: not checked
        for X in (self.X, ties, labels):
            assert SequenceWindower(2).fit_transform(X).shape == (6, 2, 2)

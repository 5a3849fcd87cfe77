"""SequenceWindower: 2D rows to 3D look-back windows, as a zero-copy view."""

import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    validate_data,
)


def make_windows(X, sequence_length, padding="edge"):
    """Return the look-back windows of ``X`` as a read-only strided view.

    Row ``i`` of the result holds input rows ``i - sequence_length + 1 .. i``,
    oldest first. Rows before the first are padded, so the result has as many
    rows as ``X``. Only the padded float32 copy of ``X`` is allocated:
    ``O(n_samples * n_features)`` memory whatever ``sequence_length`` is.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sequence_length : int
    padding : {"edge", "zero"}

    Returns
    -------
    windows : ndarray of shape (n_samples, sequence_length, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble._windowing import make_windows
    >>> make_windows(np.arange(3.0).reshape(3, 1), 2)[:, :, 0]
    array([[0., 0.],
           [0., 1.],
           [1., 2.]], dtype=float32)
    """
    n_samples, n_features = X.shape
    n_pad = sequence_length - 1
    # One float32 allocation holds the padding and the rows.
    padded = np.empty((n_samples + n_pad, n_features), dtype=np.float32)
    padded[n_pad:] = X
    padded[:n_pad] = X[:1] if padding == "edge" else 0.0
    row_stride, col_stride = padded.strides
    return as_strided(
        padded,
        shape=(X.shape[0], sequence_length, X.shape[1]),
        strides=(row_stride, row_stride, col_stride),
        writeable=False,
    )


class SequenceWindower(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Turn rows into look-back windows for sequence models, keeping y aligned.

    Row ``i`` of the output is the window of input rows
    ``i - sequence_length + 1, ..., i``, oldest first and the current row
    last. The first ``sequence_length - 1`` rows lack history and are padded
    rather than dropped, so the output has exactly as many rows as the input
    and ``y`` stays aligned inside a :class:`~sklearn.pipeline.Pipeline`
    (which cannot drop rows).

    The output is a read-only, zero-copy strided view over a padded float32
    copy of the input: memory stays ``O(n_samples * n_features)``, never
    multiplied by ``sequence_length``. The sequence classifiers of this
    package read it one batch at a time; calling ``np.array(windows)`` on it
    would materialise every window.

    Windows only look backwards: row ``i`` never sees rows after ``i``.
    Rows are taken in the order given, so pass them in time order.

    Parameters
    ----------
    sequence_length : int, default=60
        Number of time steps per window, the current row included.
    padding : {"edge", "zero"}, default="edge"
        How rows without enough history are filled: ``"edge"`` repeats the
        first row, ``"zero"`` uses zeros.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during :term:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    AttentionLSTMClassifier : Classifier for the windows produced here.
    TransformerClassifier : Classifier for the windows produced here.

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble import SequenceWindower
    >>> X = np.arange(8.0).reshape(4, 2)
    >>> windows = SequenceWindower(sequence_length=3).fit_transform(X)
    >>> windows.shape
    (4, 3, 2)
    >>> windows[0]  # the first row has no history: edge padding repeats it
    array([[0., 1.],
           [0., 1.],
           [0., 1.]], dtype=float32)
    >>> windows[3]
    array([[2., 3.],
           [4., 5.],
           [6., 7.]], dtype=float32)
    """

    _parameter_constraints = {
        "sequence_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "padding": [StrOptions({"edge", "zero"})],
    }

    def __init__(self, sequence_length=60, *, padding="edge"):
        self.sequence_length = sequence_length
        self.padding = padding

    def fit(self, X, y=None):
        """Check X and record its features; the windower learns nothing else.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows in time order.
        y : None
            Ignored.

        Returns
        -------
        self : SequenceWindower
        """
        self._validate_params()
        validate_data(self, X, dtype=[np.float32, np.float64], ensure_all_finite=False)
        return self

    def transform(self, X):
        """Return the windows of X as a read-only view.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows in time order.

        Returns
        -------
        windows : ndarray of shape (n_samples, sequence_length, n_features)
            float32 view; row ``i`` ends with input row ``i``.
        """
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            dtype=[np.float32, np.float64],
            ensure_all_finite=False,
            reset=False,
        )
        return make_windows(X, self.sequence_length, self.padding)

    def fit_transform(self, X, y=None):
        """Fit to X, then return its windows (see :meth:`transform`)."""
        return self.fit(X, y).transform(X)

    def get_feature_names_out(self, input_features=None):
        """Names of the last axis of the windows: the input feature names.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input feature names; defaults to ``feature_names_in_`` or
            ``x0, x1, ...``.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "n_features_in_")
        return _check_feature_names_in(self, input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Windowing moves values around without reading them: NaN passes
        # through and the downstream classifier reports it.
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.requires_fit = True
        return tags

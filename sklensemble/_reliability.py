"""How far predicted probabilities are from observed frequencies.

:func:`expected_calibration_error` and :func:`plot_reliability` (the
reliability diagram; matplotlib is imported only when a plot is drawn).
"""

import numpy as np
from sklearn.utils.validation import column_or_1d

from ._validation import check_int

__all__ = ["expected_calibration_error", "plot_reliability"]


def expected_calibration_error(
    y_true, proba, n_bins=10, *, classes=None, kind="top_label"
):
    """Expected calibration error: mean gap between confidence and frequency.

    The probabilities are put in ``n_bins`` equal-width bins on ``[0, 1]``;
    in each bin the mean predicted probability is compared with the share
    of rows where the event happened, and the absolute gaps are averaged
    with the bins' row counts as weights. 0 is perfectly calibrated.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities, columns in the order of ``classes``.
    n_bins : int, default=10
        Equal-width bins on ``[0, 1]``.
    classes : array-like of shape (n_classes,) or None, default=None
        Labels of the columns of ``proba``; None means the sorted labels of
        ``y_true`` (which must then hold every class).
    kind : {"top_label", "class"}, default="top_label"
        ``"top_label"``: the event is "the predicted (most probable) class
        is right" and its probability the row's highest one: one number.
        ``"class"``: for each class, the event "the row is of this class"
        with that column's probability: one number per class.

    Returns
    -------
    ece : float or ndarray of shape (n_classes,)

    Raises
    ------
    ValueError
        If the shapes disagree, ``proba`` is not in ``[0, 1]``, or a label
        of ``y_true`` is not among ``classes``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble import expected_calibration_error
    >>> y = np.array(["a", "b", "a", "b"])
    >>> proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.9, 0.1]])
    >>> float(expected_calibration_error(y, proba))  # says 90 %, right 50 %
    0.4
    >>> expected_calibration_error(y, proba, kind="class").round(2).tolist()
    [0.4, 0.4]
    """
    y, proba, classes = _check_inputs(y_true, proba, classes)
    n_bins = check_int(n_bins, "n_bins", 1)
    if kind == "top_label":
        return _ece(proba.max(axis=1), proba.argmax(axis=1) == y, n_bins)
    if kind == "class":
        return np.array(
            [_ece(proba[:, k], y == k, n_bins) for k in range(len(classes))]
        )
    raise ValueError(f"kind must be 'top_label' or 'class', got {kind!r}.")


def _check_inputs(y_true, proba, classes):
    """Labels as column indices, probabilities as floats, and the classes."""
    y_true = column_or_1d(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    classes = np.unique(y_true) if classes is None else np.asarray(classes)
    if proba.ndim != 2 or proba.shape != (len(y_true), len(classes)):
        raise ValueError(
            f"proba must have shape (n_samples, n_classes) = ({len(y_true)}, "
            f"{len(classes)}), got {proba.shape}; pass classes= when y_true "
            "lacks a class that proba has a column for."
        )
    if not np.all((proba >= 0) & (proba <= 1)):
        raise ValueError("proba must hold probabilities in [0, 1] (no NaN).")
    position = {label: k for k, label in enumerate(classes.tolist())}
    unknown = sorted({v for v in y_true.tolist() if v not in position}, key=str)
    if unknown:
        raise ValueError(
            f"y_true holds labels {unknown} that are not among classes "
            f"{classes.tolist()}."
        )
    return np.array([position[v] for v in y_true.tolist()]), proba, classes


def _bins(confidence, n_bins):
    """Bin of each probability; 1.0 falls in the last bin."""
    return np.minimum((confidence * n_bins).astype(int), n_bins - 1)


def _ece(confidence, hit, n_bins):
    bins = _bins(confidence, n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, confidence, n_bins) - np.bincount(bins, hit, n_bins))
    return float(gap.sum() / max(counts.sum(), 1))


def _curve(confidence, hit, n_bins):
    """Mean probability and observed frequency of the non-empty bins."""
    bins = _bins(confidence, n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    kept = counts > 0
    mean = np.bincount(bins, confidence, n_bins)[kept] / counts[kept]
    freq = np.bincount(bins, hit, n_bins)[kept] / counts[kept]
    return mean, freq


def plot_reliability(y_true, probas, *, classes=None, n_bins=10, ax=None, title=None):
    """Reliability diagram of the top-label probabilities, one curve per model.

    Each curve plots, per bin of the highest probability of each row, the
    share of rows whose predicted class was right against the mean
    probability; the diagonal is perfect calibration. The legend gives each
    model's top-label :func:`expected_calibration_error`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    probas : array-like of shape (n_samples, n_classes) or dict
        One model's probabilities, or ``{name: probabilities}`` for several
        (e.g. every member and the ensemble), all on the rows of ``y_true``.
    classes : array-like of shape (n_classes,) or None, default=None
        Labels of the columns; see :func:`expected_calibration_error`.
    n_bins : int, default=10
    ax : matplotlib Axes or None, default=None
        Axes to draw on; None draws on a new Figure (pyplot's state is left
        alone).
    title : str or None, default=None

    Returns
    -------
    fig : matplotlib.figure.Figure
        The figure holding the axes.

    Examples
    --------
    >>> import numpy as np
    >>> from sklensemble import plot_reliability
    >>> y = np.array([0, 1, 1, 0])
    >>> proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]])
    >>> fig = plot_reliability(y, {"model": proba}, title="tail rows")
    >>> fig.axes[0].get_title()
    'tail rows'
    """
    if not isinstance(probas, dict):
        probas = {"model": probas}
    n_bins = check_int(n_bins, "n_bins", 1)
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(5, 5), layout="constrained").subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for name, proba in probas.items():
        y, proba, _ = _check_inputs(y_true, proba, classes)
        confidence, hit = proba.max(axis=1), proba.argmax(axis=1) == y
        mean, freq = _curve(confidence, hit, n_bins)
        ece = _ece(confidence, hit, n_bins)
        ax.plot(mean, freq, marker="o", label=f"{name} (ECE {ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability of the predicted class")
    ax.set_ylabel("share predicted right")
    ax.legend(loc="upper left", fontsize="small")
    if title is not None:
        ax.set_title(title)
    return ax.figure

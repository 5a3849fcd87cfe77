"""Close prices: their check and the forward returns that labels and the
backtest are computed from.

A panel's returns never run from one instrument into the next: each row's
forward return is to its own instrument's later row (by date).
"""

import numpy as np


def _check_prices(values, name="prices", index=None):
    """Raise a ValueError naming the first NaN, infinite or non-positive price.

    Parameters
    ----------
    values : ndarray of shape (n_rows,)
        Prices as floats.
    name : str, default="prices"
        The argument's name, for the message.
    index : pandas Index or None, default=None
        Index values to name the first bad price by; None names its position.
    """
    for bad, problem, fix in (
        (
            np.isnan(values),
            "NaN",
            "drop or fill them (e.g. with .dropna() or .ffill())",
        ),
        (np.isinf(values), "infinite", "drop or replace them"),
        (values <= 0, "non-positive", "returns need prices > 0; fix the data"),
    ):
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            where = f"position {first}" if index is None else f"index {index[first]!r}"
            raise ValueError(
                f"{name} contains {int(bad.sum())} {problem} price(s) (first at "
                f"{where}); {fix}."
            )


def _forward_returns(values, keys=None, horizon=1):
    """Return from each row's price to its instrument's price ``horizon`` rows on.

    Parameters
    ----------
    values : ndarray of shape (n_rows,)
        Checked prices.
    keys : PanelKeys or None, default=None
        A panel's keys: rows are then ordered by date within each instrument
        and may come in any order. None: one series in time order.
    horizon : int, default=1
        Rows ahead (``>= 1``).

    Returns
    -------
    forward : ndarray of shape (n_rows,)
        ``values[t + horizon] / values[t] - 1`` within the instrument; NaN on
        the last ``horizon`` rows of each instrument.
    """
    n_rows = len(values)
    if keys is None:
        order, starts = np.arange(n_rows), np.array([0, n_rows])
    else:
        order, starts = keys.segments()
    ordered = values[order]
    forward = np.full(n_rows, np.nan)
    forward[:-horizon] = ordered[horizon:] / ordered[:-horizon] - 1.0
    # Never into the next instrument: its last `horizon` rows have no return.
    lengths = np.diff(starts)
    position = np.arange(n_rows) - np.repeat(starts[:-1], lengths)
    forward[position >= np.repeat(lengths, lengths) - horizon] = np.nan
    out = np.empty(n_rows)
    out[order] = forward
    return out

"""Panels: many instruments stacked in one table, and the keys that keep them apart.

scikit-learn transformers see only ``X``, so the instrument of each row has
to travel with the data. A *panel* is a pandas DataFrame in one of three
forms:

* a two-level MultiIndex ``(instrument, date)``;
* a two-level MultiIndex ``(date, instrument)``;
* a *long* table with an instrument column, named by an ``instrument=``
  parameter, and dates in a ``date=`` column or in the (single) index.

Rows may come in any order (interleaved by date, or grouped by instrument):
every per-instrument computation follows the dates, and every output keeps
the input's rows, in the input's order. A panel must not repeat an
``(instrument, date)`` pair.

A MultiIndex makes a panel only when that is unambiguous: it has two
levels and either ``instrument=`` names one of them, or one level is named
``"instrument"``, or exactly one level holds datetimes (the dates; the other
level is the instrument). Any other MultiIndex, e.g. ``(user, session)``, is
not a panel: its rows are plain rows, in their given order. A MultiIndex
that names an ``"instrument"`` level but has more than two levels, or whose
``"instrument"`` level is its only datetime level, is refused as ambiguous.

:func:`panel_keys` reads a panel once into integer codes; everything else in
the package works from those codes.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["PanelKeys", "panel_keys", "to_panel", "wide_to_panel"]


@dataclass(frozen=True, eq=False)
class PanelKeys:
    """Integer keys of a panel's rows.

    Attributes
    ----------
    instrument : ndarray of int of shape (n_samples,)
        Code of each row's instrument, indexing ``instrument_names``.
    instrument_names : pandas Index
        The instruments, sorted.
    date : ndarray of int of shape (n_samples,)
        Rank of each row's date among the panel's distinct dates.
    date_values : pandas Index
        The distinct dates, sorted.
    columns : list or None
        For the long form, the columns other than the instrument and date
        columns (the features); None for the MultiIndex forms.
    """

    instrument: np.ndarray
    instrument_names: pd.Index
    date: np.ndarray
    date_values: pd.Index
    columns: list | None = None

    @property
    def n_instruments(self):
        return len(self.instrument_names)

    @property
    def n_dates(self):
        return len(self.date_values)

    def order(self):
        """Row positions sorted by instrument, then date (stable)."""
        return np.lexsort((self.date, self.instrument))

    def segments(self):
        """``(order, starts)``: rows sorted by (instrument, date) and where each
        instrument's run begins in ``order`` (``starts[-1] == n_samples``)."""
        order = self.order()
        counts = np.bincount(self.instrument, minlength=self.n_instruments)
        return order, np.concatenate([[0], np.cumsum(counts)])

    def positions(self):
        """Position of each row among its instrument's rows, in date order."""
        order, starts = self.segments()
        position = np.empty(len(order), dtype=np.intp)
        position[order] = np.arange(len(order)) - np.repeat(
            starts[:-1], np.diff(starts)
        )
        return position


def _is_datetime(values):
    return pd.api.types.is_datetime64_any_dtype(values)


def _multiindex_levels(index, instrument):
    """(instrument level, date level) of a panel's MultiIndex; None if the
    MultiIndex does not make a panel (see the module docstring)."""
    names = list(index.names)
    if instrument is not None and instrument not in names:
        raise ValueError(
            f"instrument={instrument!r} is neither a column nor an index "
            f"level of X; the index levels are {names}."
        )
    named = instrument if instrument is not None else "instrument"
    if index.nlevels != 2:
        if named not in names:
            return None  # e.g. (user, session, event): plain rows
        raise ValueError(
            f"A panel's MultiIndex must have two levels (instrument, date); got "
            f"{index.nlevels} levels {names}. Reset the extra levels into "
            "columns."
        )
    is_date = [_is_datetime(index.levels[i]) for i in range(2)]
    if named in names:
        inst = names.index(named)
        if is_date[inst] and not is_date[1 - inst]:
            raise ValueError(
                f"The index level {named!r} holds datetimes and the other level "
                f"of {names} does not: it is unclear which holds the "
                "instrument. Put the instruments in the level named "
                f"{named!r} and the dates in the other."
            )
        return inst, 1 - inst
    if is_date[0] != is_date[1]:
        date = is_date.index(True)
        return 1 - date, date
    return None  # e.g. (user, session): plain rows


def _long_form_keys(X, instrument, date):
    inst_values = X[instrument].to_numpy()
    if date is not None:
        if date not in X.columns:
            raise ValueError(
                f"date={date!r} is not a column of X; the columns are "
                f"{list(X.columns)}."
            )
        date_values = X[date].to_numpy()
    elif isinstance(X.index, pd.RangeIndex) or X.index.nlevels != 1:
        raise ValueError(
            f"X has an instrument column {instrument!r} but no dates, so the "
            "order of each instrument's rows cannot be inferred. Pass "
            "date='<date column>' or put the dates in the index."
        )
    else:
        date_values = X.index.to_numpy()
    columns = [c for c in X.columns if c != instrument and c != date]
    return inst_values, date_values, columns


def panel_keys(X, instrument=None, date=None):
    """Read the panel keys of ``X``; None if ``X`` is not a panel.

    Parameters
    ----------
    X : object
        A panel DataFrame (see the module docstring). Anything else (arrays,
        single-index frames without an instrument column) is not a panel.
    instrument : str or None, default=None
        Name of the instrument column (long form) or index level. None
        recognises a panel's MultiIndex by itself: a level named
        ``"instrument"``, or else exactly one datetime level (the dates).
        Any other MultiIndex is not a panel.
    date : str or None, default=None
        Name of the date column in the long form; None reads the dates from
        the index.

    Returns
    -------
    keys : PanelKeys or None

    Raises
    ------
    ValueError
        If ``instrument`` or ``date`` names nothing in ``X``, a MultiIndex
        with an instrument level is ambiguous (more than two levels, or the
        instrument level alone holds datetimes), a key is missing, or an
        ``(instrument, date)`` pair repeats.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklensemble._panel import panel_keys
    >>> index = pd.MultiIndex.from_product(
    ...     [pd.to_datetime(["2024-01-02", "2024-01-03"]), ["AAA", "BBB"]],
    ...     names=["date", "ticker"])
    >>> keys = panel_keys(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}, index=index))
    >>> keys.instrument, keys.date
    (array([0, 1, 0, 1]), array([0, 0, 1, 1]))

    A MultiIndex that is not ``(instrument, date)`` holds plain rows:

    >>> index = pd.MultiIndex.from_product([[1, 2], [1, 2]],
    ...                                    names=["user", "session"])
    >>> panel_keys(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}, index=index)) is None
    True
    """
    if not isinstance(X, pd.DataFrame):
        if instrument is not None:
            raise ValueError(
                f"instrument={instrument!r} needs X as a pandas DataFrame (a "
                f"panel), got {type(X).__name__}."
            )
        return None
    columns = None
    if instrument is not None and instrument in X.columns:
        inst_values, date_values, columns = _long_form_keys(X, instrument, date)
    elif isinstance(X.index, pd.MultiIndex):
        levels = _multiindex_levels(X.index, instrument)
        if levels is None:
            return None
        inst, dt = levels
        inst_values = X.index.get_level_values(inst).to_numpy()
        date_values = X.index.get_level_values(dt).to_numpy()
    elif instrument is not None:
        raise ValueError(
            f"instrument={instrument!r} is neither a column nor an index level "
            f"of X; the columns are {list(X.columns)}."
        )
    else:
        return None
    return _encode(inst_values, date_values, columns)


def _encode(inst_values, date_values, columns):
    if pd.isna(inst_values).any() or pd.isna(date_values).any():
        raise ValueError(
            "A panel's instrument and date keys must not be missing; drop or "
            "fill the rows whose instrument or date is NaN/NaT."
        )
    inst_codes, inst_names = pd.factorize(inst_values, sort=True)
    date_codes, date_names = pd.factorize(date_values, sort=True)
    pair = inst_codes.astype(np.int64) * len(date_names) + date_codes
    unique_pairs, first, counts = np.unique(pair, return_index=True, return_counts=True)
    if len(unique_pairs) < len(pair):
        row = first[np.argmax(counts > 1)]
        raise ValueError(
            f"The panel repeats (instrument, date) = ({inst_values[row]!r}, "
            f"{date_values[row]!r}) and {int((counts - 1).sum()) - 1} other "
            "pair(s); each instrument may have one row per date. Aggregate or "
            "drop the duplicates."
        )
    return PanelKeys(
        instrument=inst_codes.astype(np.intp),
        instrument_names=pd.Index(inst_names),
        date=date_codes.astype(np.intp),
        date_values=pd.Index(date_names),
        columns=columns,
    )


def to_panel(X, instrument, date=None):
    """Long table to the ``(instrument, date)`` MultiIndex form, rows unchanged.

    Parameters
    ----------
    X : pandas DataFrame
        Long table with an instrument column.
    instrument : str
        The instrument column; it leaves the features and becomes an index
        level, so that no model ever reads it as a number.
    date : str or None, default=None
        The date column; None takes the dates from the index.

    Returns
    -------
    panel : pandas DataFrame
        The same rows in the same order, index ``(instrument, date)``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklensemble import to_panel
    >>> long = pd.DataFrame({"ticker": ["A", "B", "A"], "day": [1, 1, 2],
    ...                      "x": [0.1, 0.2, 0.3]})
    >>> to_panel(long, "ticker", date="day").index.tolist()
    [('A', 1), ('B', 1), ('A', 2)]
    """
    if not isinstance(X, pd.DataFrame) or instrument not in getattr(X, "columns", ()):
        raise ValueError(
            f"to_panel needs a DataFrame with an instrument column {instrument!r}."
        )
    keys = panel_keys(X, instrument=instrument, date=date)
    dates = X[date] if date is not None else X.index
    index = pd.MultiIndex.from_arrays(
        [X[instrument].to_numpy(), np.asarray(dates)],
        names=["instrument", date if date is not None else (X.index.name or "date")],
    )
    panel = X[keys.columns].copy()
    panel.index = index
    return panel


def wide_to_panel(table, name="close"):
    """Wide table (one column per instrument) to the ``(instrument, date)`` form.

    Free price data often comes as one column of adjusted closes per ticker,
    indexed by date. A scikit-learn transformer keeps its input's rows, so a
    wide table is not fed to :class:`~sklensemble.MarketFeatures` as it is:
    this reshapes it into the panel form that every part of the package
    reads, one row per instrument and date.

    Parameters
    ----------
    table : pandas DataFrame
        One column per instrument (the column labels name them), one row per
        date (the index). A missing value is a date without a price for that
        instrument (before its listing, after its delisting, a day without
        trading): its row is left out, so the instrument's next return spans
        the gap.
    name : str, default="close"
        Name of the one value column of the panel.

    Returns
    -------
    panel : pandas DataFrame
        A column ``name``, indexed by ``(instrument, date)`` (the date level
        keeps the index's name, else ``"date"``), instruments in the table's
        column order, each instrument's dates in the table's row order.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklensemble import wide_to_panel
    >>> closes = pd.DataFrame(
    ...     {"AAA": [10.0, 10.5, 10.2], "BBB": [np.nan, 20.0, 21.0]},
    ...     index=pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"]))
    >>> panel = wide_to_panel(closes)
    >>> panel.index.names, panel.shape
    (FrozenList(['instrument', 'date']), (5, 1))
    >>> panel.loc["BBB", "close"].tolist()
    [20.0, 21.0]
    """
    if not isinstance(table, pd.DataFrame) or isinstance(table.index, pd.MultiIndex):
        raise ValueError(
            "wide_to_panel needs a DataFrame with one column per instrument and "
            "one row per date (a single index of dates); a table with a "
            "MultiIndex is already a panel."
        )
    if table.shape[1] == 0 or not table.columns.is_unique:
        raise ValueError(
            "wide_to_panel needs one column per instrument, each named once; "
            f"the columns are {list(table.columns)}."
        )
    date = table.index.name or "date"
    panel = pd.concat(
        {label: table[label].dropna() for label in table.columns},
        names=["instrument", date],
    )
    return panel.to_frame(name)


def take_rows(X, rows):
    """Rows of an array or DataFrame by position (slice or int array)."""
    return X.iloc[rows] if isinstance(X, pd.DataFrame | pd.Series) else X[rows]

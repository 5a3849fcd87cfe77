"""Causal technical-indicator features from OHLCV bars or close prices alone."""

import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._feature_inputs import (
    OHLCV,
    _array_positions,
    _check_bars,
    _check_cross_sectional,
    _check_fields,
    _check_key_name,
    _check_n_rows,
    _check_window,
    _check_windows,
    _fields_seen_in_fit,
    _to_float,
)
from ._indicators import (
    _cross_sectional_bases,
    _cross_sectional_features,
    _ema,
    _log_return,
    _masked,
    _percent_b,
    _rolling,
    _rsi,
    _true_range,
    _wilder_mean,
    _zscore,
)
from ._panel import panel_keys, to_panel

__all__ = ["MarketFeatures"]


class MarketFeatures(TransformerMixin, BaseEstimator):
    """Causal technical features from OHLCV bars or close prices alone.

    Turns open/high/low/close/volume bars, or just a column of closes, into
    scale-free features for a classifier. Every feature at row ``t`` is
    computed from rows ``<= t`` only (trailing windows, forward recursions;
    nothing centred, nothing back-filled), so computing features on a whole
    history and then splitting it leaks nothing from the future.

    **Which columns give which features.** Every feature the given columns
    allow is computed; only a missing close is refused (and a high without
    a low, or the reverse):

    | columns of ``X`` | features |
    |---|---|
    | close | log returns, volatility, RSI, MACD, signal, Bollinger %b, SMA distances |
    | + high and low | + ATR, ``hl_range`` |
    | + volume | + volume z-score |
    | open | none (checked, if present, like the other prices) |

    The columns found in :meth:`fit` decide the features (``fields_``,
    :meth:`get_feature_names_out`); :meth:`transform` needs the same
    columns. Full OHLCV bars give all 14 default features; closes alone give
    11. A wide table of closes (one column per instrument) is a panel:
    reshape it with :func:`~sklensemble.wide_to_panel` first, since a
    transformer keeps its input's rows.

    Features, in output order (``w`` = the window parameter):

    ``log_return_{h}``
        ``log(close[t] / close[t-h])`` for each ``h`` in ``return_horizons``.
    ``volatility_{w}``
        Standard deviation (ddof=1) of the last ``w`` one-bar log returns.
    ``rsi_{w}``
        Wilder's RSI in [0, 100]: Wilder-smoothed average gain / (gain +
        loss) x 100, seeded with the simple mean of the first ``w`` changes;
        50 when the window has no price change.
    ``macd``, ``macd_signal``
        MACD relative to price (the percentage price oscillator):
        ``ema_fast / ema_slow - 1`` with recursive EMAs seeded at the first
        close, and its ``signal``-span EMA. Relative rather than in price
        units, so values are comparable across price levels; multiply by
        ``ema_slow`` for the classic MACD.
    ``bollinger_pctb_{w}``
        ``(close - lower) / (upper - lower)`` with bands at the ``w``-bar
        mean +/- ``bollinger_std`` population standard deviations; 0.5 when
        the window is flat.
    ``atr_{w}``
        Wilder's average true range divided by the close.
    ``hl_range``
        ``(high - low) / close``.
    ``volume_zscore_{w}``
        ``(volume - mean) / std`` over the last ``w`` bars, current one
        included; 0 when the window is flat.
    ``dist_sma_{w}``
        ``close / SMA_w - 1`` for each ``w`` in ``ma_windows``.
    ``{feature}_cs_rank``, ``{feature}_cs_zscore``
        Only on a panel with ``cross_sectional``: for each return and
        volatility feature, its rank in [0, 1] and its z-score among the
        instruments of the same date (see ``cross_sectional``).

    **Panels.** ``X`` may hold many instruments (see
    :func:`~sklensemble.to_panel`): a DataFrame with an ``(instrument,
    date)`` or ``(date, instrument)`` MultiIndex, or a long table with an
    instrument column named by ``instrument`` and dates in the ``date``
    column or the index. Rows may come in any order. Every feature is then
    computed per instrument, over that instrument's own bars in date order:
    no window crosses from one instrument into another, and each instrument
    has its own warm-up. The output keeps the input's rows, in the input's
    order; for the long form it is indexed by the ``(instrument, date)``
    MultiIndex (the key columns are not features), so later steps see a
    panel too.

    Parameters
    ----------
    return_horizons : sequence of int, default=(1, 5, 10, 20)
        Horizons of the log returns.
    volatility_window : int, default=20
        Window of the rolling volatility (>= 2).
    rsi_window : int, default=14
        RSI window.
    macd_windows : tuple of 3 int, default=(12, 26, 9)
        Fast EMA span, slow EMA span and signal EMA span.
    bollinger_window : int, default=20
        Bollinger band window (>= 2).
    bollinger_std : float, default=2.0
        Band half-width in standard deviations (> 0).
    atr_window : int, default=14
        ATR window.
    volume_window : int, default=20
        Window of the volume z-score (>= 2).
    ma_windows : sequence of int, default=(10, 50)
        Simple moving averages the close is compared with.
    warmup : {"nan", "drop"}, default="nan"
        What to do with the first rows, where some windows are incomplete
        (``n_warmup_rows_`` of them). ``"nan"`` keeps every row and leaves
        each feature NaN until its own window is full: the output stays
        row-aligned with ``X`` and ``y``, which a Pipeline needs. Follow it
        with an estimator that accepts NaN or a
        :class:`~sklearn.impute.SimpleImputer`, or drop the rows together
        with their labels via :func:`~sklensemble.labels.drop_unlabeled`
        with ``drop_nan_features=True``. ``"drop"`` removes those rows
        and is for standalone use only: in a Pipeline the output would no
        longer line up with ``y``. On a panel, ``"drop"`` removes the first
        ``n_warmup_rows_`` bars of each instrument (its own warm-up) and
        keeps the other rows in input order; cross-sectional features are
        computed before, so kept rows hold the same values as with
        ``"nan"``.
    columns : dict or None, default=None
        Where to find each of ``"open", "high", "low", "close", "volume"``:
        a DataFrame column label or, for an array, an integer position.
        For a DataFrame, unmapped names are matched to its columns
        case-insensitively, and those it lacks are absent. For an array,
        the mapping names every field it holds (``{"close": 0}``: closes
        alone, in column 0, whatever the array's width); without a mapping,
        an array has 5 columns in OHLCV order or 1 column of closes. For
        example ``{"close": "adj_close"}`` computes the close features on
        adjusted prices.
    instrument : str or None, default=None
        Panels only: the instrument column (long form) or index level. None
        recognises a two-level MultiIndex by a level named ``"instrument"``
        or its only datetime level; any other MultiIndex is plain rows.
    date : str or None, default=None
        Long-form panels only: the date column; None reads the dates from
        the index.
    cross_sectional : {"rank", "zscore"}, tuple of them or None, default=None
        Panels only: add, for each ``log_return_{h}`` and the volatility,
        its comparison with the other instruments of the same date, computed
        from that date's rows alone (never from other dates). ``"rank"``:
        ``(average rank - 1) / (n - 1)`` in [0, 1] among the ``n``
        instruments with a value that date (0.5 if ``n == 1``). ``"zscore"``:
        ``(x - mean) / std`` with the population std (0 when all values are
        equal). Rows where the feature is NaN are left out and stay NaN.
        Columns come after the others, one block per kind, in the given
        order. On a non-panel ``X`` it raises a ValueError.

    Attributes
    ----------
    n_features_in_ : int
        Number of columns seen in :meth:`fit` (for a long-form panel, the
        columns other than the instrument and date columns).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen in :meth:`fit`, when ``X`` has string column names.
    fields_ : tuple of str
        The fields found in :meth:`fit`, in OHLCV order, e.g. ``("close",)``
        or ``("open", "high", "low", "close", "volume")``: they decide the
        features.
    n_warmup_rows_ : int
        Leading rows (of each instrument, for a panel) where at least one
        feature is NaN. Inputs need at least ``n_warmup_rows_ + 1`` rows; a
        panel needs that many in its longest instrument, and instruments
        with fewer rows get NaN features throughout.

    Notes
    -----
    Features are computed within the rows passed to :meth:`transform`: a
    separately transformed test block loses its first ``n_warmup_rows_``
    rows to warm-up. Since the features are causal, the simplest correct
    workflow is to transform the full history once, then split.

    Examples
    --------
    >>> from sklensemble import MarketFeatures
    >>> from sklensemble.datasets import make_synthetic_market
    >>> bars = make_synthetic_market(300, seed=0)
    >>> features = MarketFeatures().fit_transform(bars)
    >>> features.shape
    (300, 14)
    >>> list(features.columns[:5])
    ['log_return_1', 'log_return_5', 'log_return_10', 'log_return_20', 'volatility_20']
    >>> int(features.iloc[49:].isna().sum().sum())
    0
    >>> MarketFeatures(warmup="drop").fit_transform(bars).shape
    (251, 14)

    Closes alone give the 11 features that need no high, low or volume:

    >>> closes = bars[["close"]]
    >>> close_features = MarketFeatures().fit(closes)
    >>> close_features.fields_
    ('close',)
    >>> close_features.transform(closes).shape
    (300, 11)
    >>> [name for name in features.columns
    ...  if name not in close_features.get_feature_names_out()]
    ['atr_14', 'hl_range', 'volume_zscore_20']

    A panel of two instruments, with their cross-sectional return ranks:

    >>> import pandas as pd
    >>> panel = pd.concat(
    ...     {"AAA": bars, "BBB": make_synthetic_market(300, seed=1)},
    ...     names=["instrument", "date"])
    >>> features = MarketFeatures(cross_sectional="rank").fit_transform(panel)
    >>> features.shape
    (600, 19)
    >>> float(features.loc[("AAA", "2000-01-04"), "log_return_1_cs_rank"])
    1.0
    """

    def __init__(
        self,
        return_horizons=(1, 5, 10, 20),
        volatility_window=20,
        rsi_window=14,
        macd_windows=(12, 26, 9),
        bollinger_window=20,
        bollinger_std=2.0,
        atr_window=14,
        volume_window=20,
        ma_windows=(10, 50),
        warmup="nan",
        columns=None,
        instrument=None,
        date=None,
        cross_sectional=None,
    ):
        self.return_horizons = return_horizons
        self.volatility_window = volatility_window
        self.rsi_window = rsi_window
        self.macd_windows = macd_windows
        self.bollinger_window = bollinger_window
        self.bollinger_std = bollinger_std
        self.atr_window = atr_window
        self.volume_window = volume_window
        self.ma_windows = ma_windows
        self.warmup = warmup
        self.columns = columns
        self.instrument = instrument
        self.date = date
        self.cross_sectional = cross_sectional

    # ------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------
    def _validated_params(self):
        """Checked parameters, with the first valid row of each feature."""
        p = {
            "return_horizons": _check_windows(self.return_horizons, "return_horizons"),
            "volatility_window": _check_window(
                self.volatility_window, "volatility_window", 2
            ),
            "rsi_window": _check_window(self.rsi_window, "rsi_window"),
            "atr_window": _check_window(self.atr_window, "atr_window"),
            "bollinger_window": _check_window(
                self.bollinger_window, "bollinger_window", 2
            ),
            "volume_window": _check_window(self.volume_window, "volume_window", 2),
            "ma_windows": _check_windows(self.ma_windows, "ma_windows"),
        }
        macd = self.macd_windows
        if not (np.iterable(macd) and len(macd) == 3):
            raise ValueError(
                "macd_windows must be (fast, slow, signal) spans, got "
                f"{macd!r}; the classic choice is (12, 26, 9)."
            )
        fast, slow, signal = (_check_window(v, "each of macd_windows") for v in macd)
        if fast >= slow:
            raise ValueError(
                f"macd_windows needs fast < slow, got fast={fast}, slow={slow}."
            )
        p["macd_windows"] = (fast, slow, signal)
        k = self.bollinger_std
        if (
            not isinstance(k, numbers.Real)
            or isinstance(k, bool)
            or not np.isfinite(k)
            or k <= 0
        ):
            raise ValueError(f"bollinger_std must be a number > 0, got {k!r}.")
        if self.warmup not in ("nan", "drop"):
            raise ValueError(f"warmup must be 'nan' or 'drop', got {self.warmup!r}.")
        if self.columns is not None:
            if not isinstance(self.columns, dict) or not set(self.columns) <= set(
                OHLCV
            ):
                raise ValueError(
                    "columns must be a dict whose keys are among "
                    f"{list(OHLCV)}, got {self.columns!r}."
                )
        _check_key_name(self.instrument, "instrument")
        _check_key_name(self.date, "date")
        p["cross_sectional"] = _check_cross_sectional(self.cross_sectional)
        return p

    @staticmethod
    def _first_valid_rows(p, fields):
        """Feature name -> index of its first row with a full window, for the
        features that the input ``fields`` allow, in output order."""
        fast, slow, signal = p["macd_windows"]
        first = {f"log_return_{h}": h for h in p["return_horizons"]}
        first[f"volatility_{p['volatility_window']}"] = p["volatility_window"]
        first[f"rsi_{p['rsi_window']}"] = p["rsi_window"]
        # EMAs are defined from row 0 but are dominated by their seed until
        # about one span has passed; treat that stretch as warm-up.
        first["macd"] = slow - 1
        first["macd_signal"] = slow - 1 + signal - 1
        first[f"bollinger_pctb_{p['bollinger_window']}"] = p["bollinger_window"] - 1
        if "high" in fields:
            first[f"atr_{p['atr_window']}"] = p["atr_window"]
            first["hl_range"] = 0
        if "volume" in fields:
            first[f"volume_zscore_{p['volume_window']}"] = p["volume_window"] - 1
        for w in p["ma_windows"]:
            first[f"dist_sma_{w}"] = w - 1
        # A cross-sectional feature exists where its own feature does.
        for kind in p["cross_sectional"]:
            for name in _cross_sectional_bases(p):
                first[f"{name}_cs_{kind}"] = first[name]
        return first

    # ------------------------------------------------------------------
    # Input
    # ------------------------------------------------------------------
    def _locate_columns(self, X):
        """Column label (DataFrame) or position (array) of each field present.

        The close is required; high and low come together; open and volume
        are optional (see the table in the class docstring).
        """
        mapping = dict(self.columns or {})
        if not isinstance(X, pd.DataFrame):
            return _check_fields(_array_positions(X, mapping), None)
        by_lower = {}
        for label in X.columns:
            by_lower.setdefault(str(label).strip().lower(), []).append(label)
        located = {}
        for name in OHLCV:
            if name in mapping:
                if mapping[name] not in X.columns:
                    raise ValueError(
                        f"columns maps {name!r} to {mapping[name]!r}, which is not "
                        f"a column of X (columns: {list(X.columns)})."
                    )
                located[name] = mapping[name]
            elif len(by_lower.get(name, [])) == 1:
                located[name] = by_lower[name][0]
            elif name in by_lower:
                raise ValueError(
                    f"X has several columns matching {name!r} "
                    f"({by_lower[name]}); say which with columns={{{name!r}: ...}}."
                )
        return _check_fields(located, list(X.columns))

    def _split_panel(self, X, params):
        """``(X, keys)``: the feature table and its panel keys (None if no panel).

        A long-form panel becomes the ``(instrument, date)`` MultiIndex form,
        so its key columns are never features and the output is a panel too.
        """
        keys = panel_keys(X, self.instrument, self.date)
        if self.date is not None and (keys is None or keys.columns is None):
            raise ValueError(
                f"date={self.date!r} names the date column of a long-form panel, "
                "so it needs instrument='<instrument column>'. For a MultiIndex "
                "panel or a single series, pass date=None."
            )
        if keys is None and params["cross_sectional"]:
            raise ValueError(
                f"cross_sectional={self.cross_sectional!r} compares instruments "
                "on the same date, but X is not a panel (it holds one "
                "instrument). Pass a panel (a DataFrame with an (instrument, "
                "date) MultiIndex, or instrument='<column>' for a long table) "
                "or cross_sectional=None."
            )
        if keys is not None and keys.columns is not None:
            X = to_panel(X, self.instrument, self.date)
        if not isinstance(X, pd.DataFrame):
            # Standard errors (and messages) for sparse, 1D, empty, complex
            # and non-numeric input; finiteness is checked later by column.
            X = check_array(X, dtype="numeric", ensure_all_finite=False)
        return X, keys

    def _bars(self, X, keys, p, fields=None):
        """Validate ``X``; return ``(data, index)``: a float array per field.

        ``fields``, in :meth:`transform`, are the fields seen in :meth:`fit`:
        ``X`` must have them all, and only they are read.
        """
        if isinstance(X, pd.DataFrame):
            located = self._locate_columns(X)
            if keys is None and not (
                X.index.is_unique and X.index.is_monotonic_increasing
            ):
                raise ValueError(
                    "X must have one row per bar in increasing time order; its "
                    "index is unsorted or has duplicates. Use "
                    "X.sort_index() and drop duplicate timestamps first."
                )
            index = X.index
        else:
            located = self._locate_columns(X)
            index = pd.RangeIndex(X.shape[0])
        if fields is not None:
            located = _fields_seen_in_fit(located, fields)
        n_required = max(self._first_valid_rows(p, located).values()) + 1
        if keys is not None:
            # Rows may come in any order: only the longest instrument needs a
            # full warm-up, shorter ones stay NaN.
            _check_n_rows(np.bincount(keys.instrument).max(), n_required, True)
        else:
            _check_n_rows(len(index), n_required)
        # X[label] is a DataFrame's column; X.T[position] an array's.
        by_key = X if isinstance(X, pd.DataFrame) else X.T
        data = {name: _to_float(by_key[key], name) for name, key in located.items()}
        _check_bars(data)
        return data, index

    def _fitted_fields(self):
        # Instances fitted before close-only input existed always had OHLCV.
        return getattr(self, "fields_", OHLCV)

    # ------------------------------------------------------------------
    # Estimator API
    # ------------------------------------------------------------------
    def fit(self, X, y=None):
        """Check the parameters and record the input columns.

        Nothing is learned from the values: every feature depends on the rows
        passed to :meth:`transform` only. The columns found here decide which
        features :meth:`transform` computes (see the table above).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Bars in time order: a DataFrame with a close column and any of
            open, high, low and volume (any case; other columns are
            ignored), or an array of 5 columns in OHLCV order or of 1 column
            of closes. Or a panel of many instruments' bars, rows in any
            order (see *Panels* above).
        y : None
            Ignored.

        Returns
        -------
        self : MarketFeatures
        """
        params = self._validated_params()
        X, keys = self._split_panel(X, params)
        validate_data(self, X, reset=True, skip_check_array=True)
        data, _ = self._bars(X, keys, params)
        self.fields_ = tuple(name for name in OHLCV if name in data)
        self.n_warmup_rows_ = max(self._first_valid_rows(params, data).values())
        return self

    def transform(self, X):
        """Compute the features.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Bars in time order, or a panel, with the columns seen in
            :meth:`fit`.

        Returns
        -------
        features : DataFrame of shape (n_samples, n_features_out)
            Indexed like ``X`` (a ``RangeIndex`` for arrays, the
            ``(instrument, date)`` MultiIndex for a long-form panel), rows
            in the input's order; columns are :meth:`get_feature_names_out`.
            With ``warmup="drop"``, the first ``n_warmup_rows_`` rows (of
            each instrument, for a panel) are left out.
        """
        check_is_fitted(self)
        params = self._validated_params()
        X, keys = self._split_panel(X, params)
        fields = self._fitted_fields()
        if isinstance(X, pd.DataFrame):
            # Before the generic check of the column names: this one says
            # which features the missing columns fed.
            _fields_seen_in_fit(self._locate_columns(X), fields)
        validate_data(self, X, reset=False, skip_check_array=True)
        data, index = self._bars(X, keys, params, fields)
        # From the current parameters, in case set_params ran after fit.
        n_warmup = max(self._first_valid_rows(params, data).values())
        if keys is None:
            features = pd.DataFrame(self._compute(data, params), index=index)
            return features.iloc[n_warmup:] if self.warmup == "drop" else features
        features = pd.DataFrame(self._compute_panel(data, keys, params), index=index)
        if self.warmup == "drop":
            features = features.iloc[keys.positions() >= n_warmup]
        return features

    def _compute_panel(self, data, keys, p):
        """Features of each instrument alone, then the cross-sectional ones."""
        order, starts = keys.segments()
        out = {}
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            rows = order[a:b]
            part = self._compute({k: v[rows] for k, v in data.items()}, p)
            for name, values in part.items():
                if name not in out:
                    out[name] = np.full(len(order), np.nan)
                out[name][rows] = values
        out.update(_cross_sectional_features(out, keys, p))
        return out

    def _compute(self, d, p):
        """Feature name -> array, in output order, for the fields in ``d``."""
        c = d["close"]
        # log(c[t] / c[t-k]) keeps full precision for small moves, unlike
        # differences of log prices.
        log_r1 = _log_return(c, 1)
        fast, slow, signal = p["macd_windows"]
        out = {}
        for k in p["return_horizons"]:
            out[f"log_return_{k}"] = _log_return(c, k)
        out[f"volatility_{p['volatility_window']}"] = _rolling(
            log_r1, p["volatility_window"], "std"
        )
        out[f"rsi_{p['rsi_window']}"] = _rsi(c, p["rsi_window"])
        macd = _ema(c, fast) / _ema(c, slow) - 1.0
        out["macd"] = macd
        out["macd_signal"] = _ema(macd, signal)
        w = p["bollinger_window"]
        out[f"bollinger_pctb_{w}"] = _percent_b(c, w, float(self.bollinger_std))
        if "high" in d:
            h, lo = d["high"], d["low"]
            w = p["atr_window"]
            out[f"atr_{w}"] = _wilder_mean(_true_range(h, lo, c), w) / c
            out["hl_range"] = (h - lo) / c
        if "volume" in d:
            w = p["volume_window"]
            out[f"volume_zscore_{w}"] = _zscore(d["volume"], w)
        for w in p["ma_windows"]:
            out[f"dist_sma_{w}"] = c / _rolling(c, w, "mean") - 1.0
        # One mask for all: kernels already give NaN where a window is
        # short; this also covers the EMA warm-up.
        first_valid = self._first_valid_rows(p, d)
        return {
            name: _masked(values, first_valid[name]) for name, values in out.items()
        }

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: those the columns seen in fit allow.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the names seen in :meth:`fit`.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            expected = getattr(self, "feature_names_in_", None)
            if len(input_features) != self.n_features_in_ or (
                expected is not None and not np.array_equal(input_features, expected)
            ):
                raise ValueError(
                    "input_features is not equal to the columns seen in fit; "
                    "pass None or the same columns."
                )
        first_valid = self._first_valid_rows(
            self._validated_params(), self._fitted_fields()
        )
        return np.asarray(list(first_valid), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags

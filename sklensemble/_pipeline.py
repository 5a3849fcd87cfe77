"""make_ensemble_pipeline: the design's Pipeline(RobustScaler, SoftVotingEnsemble)."""

from sklearn.pipeline import Pipeline
from sklearn.preprocessing import RobustScaler

from ._boosting import LightGBMClassifier, XGBoostClassifier
from ._ensemble import SoftVotingEnsemble
from ._neural import AttentionLSTMClassifier, TransformerClassifier
from ._validation import check_int
from ._windowing import SequenceWindower

# Network sizes and training budgets per preset. "default" is the design's
# sizes (meant for a GPU); "fast" fits 5,000 rows x 20 features in well under
# a minute on 2 CPU cores (figures in benchmarks/RESULTS.md).
PRESETS = {
    "default": {
        "trees": dict(n_estimators=500, learning_rate=0.05),
        "lstm": dict(hidden_size=128, num_layers=3, num_heads=8, dropout=0.2),
        "transformer": dict(d_model=256, num_layers=4, num_heads=8, dropout=0.1),
        # The other training settings are the classifiers' defaults.
        "training": dict(batch_size=128, lr=1e-3),
    },
    "fast": {
        "trees": dict(n_estimators=200, learning_rate=0.1),
        "lstm": dict(hidden_size=16, num_layers=1, num_heads=2, dropout=0.1),
        "transformer": dict(d_model=16, num_layers=1, num_heads=2, dropout=0.1),
        # All 10 epochs run (min_epochs exceeds them), the best one on the
        # tail restored. A constant rate: over only 10 epochs a cosine
        # schedule's small late steps left both networks less trained on
        # the S&P 500 (benchmarks/RESULTS.md).
        "training": dict(
            max_epochs=10, batch_size=256, lr=3e-3, lr_schedule="constant"
        ),
    },
}


def _sequence_member(classifier, sequence_length):
    return Pipeline(
        [("window", SequenceWindower(sequence_length)), ("net", classifier)]
    )


def make_ensemble_pipeline(
    *,
    sequence_length=60,
    weights=None,
    preset="default",
    device="auto",
    n_jobs=None,
    random_state=None,
    instrument_feature=False,
    horizon=1,
    refit_full=True,
):
    """Build ``Pipeline(RobustScaler, SoftVotingEnsemble)`` of the four members.

    The members are XGBoost and LightGBM on the scaled rows, and the
    attention-LSTM and the Transformer on look-back windows of the scaled
    rows. Every member early-stops on the same time-ordered tail of its
    training rows, purged of the ``horizon`` rows before it.

    Parameters
    ----------
    sequence_length : int, default=60
        Look-back window of the two sequence members.
    weights : None, list, dict or "auto", default=None
        Ensemble weights, keyed by member name ``"xgboost"``, ``"lightgbm"``,
        ``"lstm"``, ``"transformer"`` (see :class:`SoftVotingEnsemble`).
    preset : {"default", "fast"}, default="default"
        ``"default"``: the design's sizes (LSTM 3 x 128 units, 8 heads;
        Transformer d_model 256, 4 layers, 8 heads; 500 trees; up to 100
        epochs), meant for a GPU. ``"fast"``: small networks and few epochs
        for CPUs, tests and demos.
    device : str, default="auto"
        Device of the two networks: ``"auto"`` picks CUDA when available.
    n_jobs : int or None, default=None
        Members fitted concurrently (see :class:`SoftVotingEnsemble`).
    random_state : int, RandomState instance or None, default=None
        Passed to every member: two CPU fits with the same integer seed give
        identical predictions.
    instrument_feature : bool, default=False
        Panels only: the two boosters also read each row's instrument as a
        categorical feature. The networks never see it.
    horizon : int, default=1
        Bars the labels look ahead (the ``horizon`` of
        :func:`~sklensemble.labels.return_labels` or
        :func:`~sklensemble.labels.triple_barrier_labels`). It becomes the
        ``validation_gap`` of every member and of the ensemble: the
        ``horizon`` rows (dates, on a panel) before each validation tail
        neither train nor validate, so that no training label looks into
        the tail. ``0`` purges nothing (labels that do not look ahead).
    refit_full : bool, default=True
        The ``refit_full`` of every member: once early stopping has chosen
        a member's epochs (trees) on the tail, the member trains again on
        all rows, the newest included, for that many. On the S&P 500
        walk-forward this lowered the ensemble's log-loss in 4 of 5 folds
        (mean 1.0736 against 1.0763; balanced accuracy 0.400 against 0.390)
        for about 1.6 times the fit time (``benchmarks/RESULTS.md``). The
        classifiers themselves default to ``False``: a plain
        ``fit`` trains once, as scikit-learn's early-stopping estimators do.

    Notes
    -----
    The pipeline fits and predicts on one instrument (rows in time order)
    or on a *panel*: a DataFrame indexed by ``(instrument, date)`` or
    ``(date, instrument)`` in any row order (a long table with an
    instrument column converts with :func:`~sklensemble.to_panel`, or
    comes out of ``MarketFeatures(instrument=...)`` in that form). The
    scaler keeps the index, the windows are built within each instrument,
    and every member holds out the last dates for early stopping.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``"scaler"`` (RobustScaler, pandas output so that feature names
        reach the ensemble) and ``"ensemble"``. Member parameters are
        addressed as ``ensemble__xgboost__max_depth``,
        ``ensemble__lightgbm__num_leaves``,
        ``ensemble__lstm__net__hidden_size``,
        ``ensemble__lstm__window__sequence_length``,
        ``ensemble__transformer__net__d_model``, and so on.

    Examples
    --------
    >>> from sklensemble import make_ensemble_pipeline
    >>> pipe = make_ensemble_pipeline(preset="fast", sequence_length=20)
    >>> [name for name, _ in pipe.named_steps["ensemble"].estimators]
    ['xgboost', 'lightgbm', 'lstm', 'transformer']
    >>> pipe.get_params()["ensemble__lstm__window__sequence_length"]
    20
    >>> pipe = make_ensemble_pipeline(preset="fast", horizon=5)
    >>> sorted({v for k, v in pipe.get_params().items()
    ...         if k.endswith("validation_gap")})
    [5]
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}.")
    sizes = PRESETS[preset]
    gap = check_int(horizon, "horizon", 0)
    trees = dict(
        **sizes["trees"],
        refit_full=refit_full,
        validation_gap=gap,
        random_state=random_state,
        instrument_feature=instrument_feature,
    )
    nets = dict(
        **sizes["training"],
        refit_full=refit_full,
        validation_gap=gap,
        device=device,
        random_state=random_state,
    )
    members = [
        ("xgboost", XGBoostClassifier(**trees)),
        ("lightgbm", LightGBMClassifier(**trees)),
        (
            "lstm",
            _sequence_member(
                AttentionLSTMClassifier(**sizes["lstm"], **nets), sequence_length
            ),
        ),
        (
            "transformer",
            _sequence_member(
                TransformerClassifier(**sizes["transformer"], **nets), sequence_length
            ),
        ),
    ]
    ensemble = SoftVotingEnsemble(
        members,
        weights=weights,
        validation_gap=gap,
        n_jobs=n_jobs,
        random_state=random_state,
    )
    scaler = RobustScaler().set_output(transform="pandas")
    return Pipeline([("scaler", scaler), ("ensemble", ensemble)])

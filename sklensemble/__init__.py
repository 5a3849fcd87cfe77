"""sklensemble: scikit-learn-native ensembles of gradient boosting and deep
sequence models for market time series (Buy/Hold/Sell).

Public estimators are re-exported here; see the documentation in ``docs/``.
"""

from . import backtest, datasets, evaluate, explain, labels, tracking
from ._boosting import LightGBMClassifier, XGBoostClassifier
from ._calibration import TimeOrderedCalibratedClassifier, calibrate_walk_forward
from ._ensemble import SoftVotingEnsemble
from ._features import MarketFeatures
from ._io import load, save
from ._neural import AttentionLSTMClassifier, TransformerClassifier
from ._panel import to_panel, wide_to_panel
from ._pipeline import make_ensemble_pipeline
from ._reliability import expected_calibration_error, plot_reliability
from ._serving import predict_proba_last, quantize_networks
from ._splits import PurgedWalkForwardSplit
from ._stacking import PurgedStackingClassifier
from ._windowing import SequenceWindower

__version__ = "0.1.0"

__all__ = [
    "AttentionLSTMClassifier",
    "LightGBMClassifier",
    "MarketFeatures",
    "PurgedStackingClassifier",
    "PurgedWalkForwardSplit",
    "SequenceWindower",
    "SoftVotingEnsemble",
    "TimeOrderedCalibratedClassifier",
    "TransformerClassifier",
    "XGBoostClassifier",
    "calibrate_walk_forward",
    "expected_calibration_error",
    "make_ensemble_pipeline",
    "plot_reliability",
    "predict_proba_last",
    "quantize_networks",
    "to_panel",
    "wide_to_panel",
    "load",
    "save",
    "__version__",
    "backtest",
    "datasets",
    "evaluate",
    "explain",
    "labels",
    "tracking",
]

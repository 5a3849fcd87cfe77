"""The private names of scikit-learn the package uses, in one place.

scikit-learn offers third-party estimators no public route for these; its
own estimators, and those of imbalanced-learn and skorch, use the same
names. Each is imported here only, with why it is needed, and
``tests/test_sklearn_private.py`` pins the behaviour the package relies on,
so that a scikit-learn release that changes one fails there first.
"""

# The base of scikit-learn's own ensembles: named members as parameters
# (get_params/set_params of "xgboost__max_depth"), the contract its
# VotingClassifier and StackingClassifier share.
from sklearn.ensemble._base import _BaseHeterogeneousEnsemble

# Rows of arrays and DataFrames alike, as scikit-learn's searches take them.
from sklearn.utils import _safe_indexing

# Parameter constraints checked by BaseEstimator._validate_params, the
# mechanism of scikit-learn's estimators (no public spelling).
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

# The diagram of an ensemble's members in the HTML repr (members side by side).
from sklearn.utils._repr_html.estimator import _VisualBlock

# Whether metadata routing is on (set_config(enable_metadata_routing=True)).
from sklearn.utils.metadata_routing import _routing_enabled

# Parts of validate_data that the ensemble's predict runs on their own
# (validate_data re-walks every member's tags on each call), the sample-weight
# check of every scikit-learn estimator, and the row count of any input.
from sklearn.utils.validation import (
    _check_feature_names,
    _check_feature_names_in,
    _check_n_features,
    _check_sample_weight,
    _num_samples,
)

__all__ = [
    "HasMethods",
    "Interval",
    "StrOptions",
    "_BaseHeterogeneousEnsemble",
    "_VisualBlock",
    "_check_feature_names",
    "_check_feature_names_in",
    "_check_n_features",
    "_check_sample_weight",
    "_num_samples",
    "_routing_enabled",
    "_safe_indexing",
]

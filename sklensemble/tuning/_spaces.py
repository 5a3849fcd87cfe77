"""Search spaces: Optuna distributions for a pipeline, and their encoding.

:func:`default_search_space` builds distributions from the members of a
pipeline; ``_Space`` checks a space against the pipeline and encodes the
categorical choices that Optuna storages cannot persist (the ensemble's
weight tuples) as text, which :func:`decode_params` turns back.
"""

import ast
import difflib
import math
import warnings
from functools import reduce

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.pipeline import Pipeline

from .._boosting import LightGBMClassifier, XGBoostClassifier
from .._ensemble import SoftVotingEnsemble
from .._neural import AttentionLSTMClassifier, TransformerClassifier
from .._stacking import PurgedStackingClassifier
from .._utils import _is_dropped, _is_passthrough
from .._windowing import SequenceWindower

# Attention heads are drawn from these, restricted to the divisors of every
# width choice, so that any combination OptunaSearchCV samples is valid.
_HEAD_CHOICES = (1, 2, 4, 8)


def default_search_space(pipe):
    """Optuna distributions for every tunable member of a pipeline.

    Walks ``pipe`` (a :class:`~sklearn.pipeline.Pipeline`, a
    :class:`~sklensemble.SoftVotingEnsemble`, a
    :class:`~sklensemble.PurgedStackingClassifier` or a single member) and returns
    distributions keyed by the nested parameter names, for each member that
    is present and not ``"drop"``:

    - XGBoost: ``max_depth``, ``learning_rate``, ``n_estimators``,
      ``early_stopping_rounds``, ``subsample``, ``colsample_bytree``,
      ``min_child_weight``;
    - LightGBM: ``num_leaves``, ``learning_rate``, ``n_estimators``,
      ``early_stopping_rounds``, ``subsample``, ``colsample_bytree``,
      ``min_child_samples``;
    - attention-LSTM: ``hidden_size``, ``num_layers``, ``num_heads``,
      ``dropout``, ``lr``, ``weight_decay``, ``batch_size``;
    - Transformer: ``d_model``, ``num_layers``, ``num_heads``, ``dropout``,
      ``lr``, ``weight_decay``, ``batch_size``;
    - ``SequenceWindower``: ``sequence_length``;
    - the ensemble: ``weights``, when two or more members are active.

    Sizes (tree count, widths, layers, batch size, sequence length) are
    centred on the pipeline's current values (half, same, double; one layer
    fewer or more), so a ``preset="fast"`` pipeline is searched at CPU sizes
    and a ``preset="default"`` one around the design's sizes. Rates and
    regularisation use fixed ranges.

    Every distribution is sampled independently (as ``OptunaSearchCV``
    does), so constraints live in the choice sets: ``num_heads`` is drawn
    from the divisors of every ``d_model`` (and ``2 * hidden_size``) choice.
    ``weights`` is a categorical over whole weight settings: ``None``
    (equal), ``"auto"`` (learned on the time-ordered tail; fitting costs
    about twice as much) and one tuple per active member that doubles its
    weight (tuples are aligned with ``estimators``; a dropped member gets 0).

    Parameters
    ----------
    pipe : estimator
        Typically :func:`~sklensemble.make_ensemble_pipeline`'s pipeline.

    Returns
    -------
    search_space : dict of str to optuna.distributions.BaseDistribution
        Keys are valid for ``pipe.set_params``.

    Raises
    ------
    ValueError
        If ``pipe`` holds no sklensemble member to tune.

    Notes
    -----
    Optuna recommends categorical choices of ``None``, bool, int, float and
    str for persistent storages; the weight tuples are not. :func:`tune`
    stores them as their text, e.g. ``"(1, 2, 1, 1)"`` (so any storage works
    and no warning is raised); :func:`decode_params` turns the parameters
    of a stored trial back into ``set_params`` form. With ``OptunaSearchCV``
    keep the default in-memory study.

    Examples
    --------
    >>> from sklensemble import make_ensemble_pipeline
    >>> from sklensemble.tuning import default_search_space
    >>> pipe = make_ensemble_pipeline(preset="fast", sequence_length=20)
    >>> space = default_search_space(pipe)
    >>> space["ensemble__transformer__net__d_model"].choices
    (8, 16, 32)
    >>> space["ensemble__transformer__net__num_heads"].choices
    (1, 2, 4, 8)
    >>> space["ensemble__lstm__window__sequence_length"].choices
    (10, 20, 40)
    >>> pipe.set_params(ensemble__transformer="drop")  # doctest: +ELLIPSIS
    Pipeline(...)
    >>> any("transformer" in key for key in default_search_space(pipe))
    False
    """
    space = {}
    for prefix, est in _walk(pipe):
        for name, dist in _member_space(est).items():
            space[prefix + name] = dist
    if not space:
        raise ValueError(
            f"{type(pipe).__name__} holds no sklensemble member to tune "
            "(XGBoostClassifier, LightGBMClassifier, AttentionLSTMClassifier, "
            "TransformerClassifier, SequenceWindower, SoftVotingEnsemble); "
            "pass search_space explicitly."
        )
    return space


def _walk(est, prefix=""):
    """Yield ``(param_prefix, estimator)`` for est and its active parts."""
    if isinstance(est, Pipeline):
        for name, step in est.steps:
            if not _is_passthrough(step):
                yield from _walk(step, f"{prefix}{name}__")
        return
    yield prefix, est
    if isinstance(est, SoftVotingEnsemble | PurgedStackingClassifier):
        for name, member in est.estimators:
            if not _is_dropped(member):
                yield from _walk(member, f"{prefix}{name}__")


def _member_space(est):
    for cls, builder in _SPACE_BUILDERS:
        if isinstance(est, cls):
            return builder(est)
    return {}


def _around(value, minimum=1):
    """Half, same and double of an integer size, deduplicated and sorted."""
    return tuple(sorted({max(minimum, value // 2), value, max(minimum, 2 * value)}))


def _layers(value):
    return IntDistribution(max(1, value - 1), value + 1)


def _heads_dividing(widths):
    """Head counts that divide every width in ``widths``."""
    common = reduce(math.gcd, widths)
    return tuple(h for h in _HEAD_CHOICES if common % h == 0)


def _tree_space(est):
    low = max(10, est.n_estimators // 2)
    return {
        "learning_rate": FloatDistribution(0.01, 0.3, log=True),
        "n_estimators": IntDistribution(low, max(low + 1, 2 * est.n_estimators)),
        "early_stopping_rounds": CategoricalDistribution((10, 20, 50)),
        "subsample": FloatDistribution(0.5, 1.0),
        "colsample_bytree": FloatDistribution(0.5, 1.0),
    }


def _xgboost_space(est):
    return {
        "max_depth": IntDistribution(2, 8),
        **_tree_space(est),
        "min_child_weight": FloatDistribution(0.5, 10.0, log=True),
    }


def _lightgbm_space(est):
    return {
        "num_leaves": IntDistribution(7, 63, log=True),
        **_tree_space(est),
        "min_child_samples": IntDistribution(5, 100, log=True),
    }


def _training_space(est):
    return {
        "dropout": FloatDistribution(0.0, 0.5),
        "lr": FloatDistribution(1e-4, 1e-2, log=True),
        "weight_decay": FloatDistribution(1e-5, 1e-1, log=True),
        "batch_size": CategoricalDistribution(_around(est.batch_size, minimum=8)),
    }


def _lstm_space(est):
    hidden = _around(est.hidden_size, minimum=2)
    return {
        "hidden_size": CategoricalDistribution(hidden),
        "num_layers": _layers(est.num_layers),
        # Attention runs on 2 * hidden_size (two directions).
        "num_heads": CategoricalDistribution(_heads_dividing([2 * h for h in hidden])),
        **_training_space(est),
    }


def _transformer_space(est):
    widths = _around(est.d_model, minimum=2)
    return {
        "d_model": CategoricalDistribution(widths),
        "num_layers": _layers(est.num_layers),
        "num_heads": CategoricalDistribution(_heads_dividing(widths)),
        **_training_space(est),
    }


def _windower_space(est):
    lengths = _around(est.sequence_length, minimum=2)
    return {"sequence_length": CategoricalDistribution(lengths)}


def _ensemble_space(est):
    active = [i for i, (_, m) in enumerate(est.estimators) if not _is_dropped(m)]
    if len(active) < 2:
        return {}
    emphasis = []
    for i in active:
        vector = [0] * len(est.estimators)
        for j in active:
            vector[j] = 2 if j == i else 1
        emphasis.append(tuple(vector))
    with warnings.catch_warnings():
        # Optuna warns that tuples do not persist in RDB storages; tune()
        # encodes them as strings, and OptunaSearchCV keeps them in memory.
        warnings.simplefilter("ignore", UserWarning)
        return {"weights": CategoricalDistribution([None, "auto", *emphasis])}


_SPACE_BUILDERS = (
    (XGBoostClassifier, _xgboost_space),
    (LightGBMClassifier, _lightgbm_space),
    (AttentionLSTMClassifier, _lstm_space),
    (TransformerClassifier, _transformer_space),
    (SequenceWindower, _windower_space),
    (SoftVotingEnsemble, _ensemble_space),
)


class _Space:
    """A search space checked against the pipeline, with Optuna-safe choices.

    Categorical choices that are not None/bool/int/float/str (weight tuples)
    are suggested as their ``repr`` and decoded back, so that every Optuna
    storage can persist them; :func:`decode_params` decodes the literal ones
    without this object.
    """

    def __init__(self, space, pipe):
        if not isinstance(space, dict) or not space:
            raise ValueError(
                "search_space must be a non-empty dict of parameter name to "
                f"optuna distribution, got {space!r}; see default_search_space."
            )
        valid = pipe.get_params(deep=True)
        self.distributions, self.decoders = {}, {}
        for name, dist in space.items():
            _check_param_name(name, valid)
            if not isinstance(dist, BaseDistribution):
                raise ValueError(
                    f"search_space[{name!r}] must be an optuna distribution "
                    "(FloatDistribution, IntDistribution, "
                    f"CategoricalDistribution), got {dist!r}."
                )
            self.distributions[name], self.decoders[name] = _encode(name, dist)

    def sample(self, trial):
        return self.decode(
            {n: _suggest(trial, n, d) for n, d in self.distributions.items()}
        )

    def decode(self, params):
        return {
            name: self.decoders.get(name, {}).get(value, value)
            if isinstance(value, str)
            else value
            for name, value in params.items()
        }


def decode_params(params):
    """Parameters of a stored trial, as ``set_params`` takes them.

    :func:`tune` stores categorical choices that Optuna cannot persist
    (tuples such as the ensemble's weight settings, lists, dicts) as their
    ``repr``. A study read back without :class:`TuningResult` (another
    worker, ``optuna.load_study``, the Optuna dashboard) holds that text;
    this function turns it back into the value. A string is decoded when
    it is exactly the ``repr`` of a tuple, list or dict literal; every other
    value is returned unchanged. Choices that are not literals (estimators,
    arrays) stay text: use :meth:`TuningResult.params_of` for those.

    Parameters
    ----------
    params : dict of str to object
        For example ``optuna.load_study(...).best_params`` or a trial's
        ``params``.

    Returns
    -------
    params : dict of str to object
        A new dict, ready for ``pipe.set_params(**params)``.

    Examples
    --------
    >>> from sklensemble.tuning import decode_params
    >>> decode_params({"ensemble__weights": "(1, 2, 1, 1)", "clf__C": 0.5})
    {'ensemble__weights': (1, 2, 1, 1), 'clf__C': 0.5}
    >>> decode_params({"ensemble__weights": "auto"})
    {'ensemble__weights': 'auto'}
    """
    return {name: _decode_value(value) for name, value in params.items()}


def _decode_value(value):
    if not isinstance(value, str) or not value.startswith(("(", "[", "{")):
        return value
    try:
        decoded = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return value
    # Only an exact round trip: a string that merely looks like a literal
    # (other spacing, a set, an expression) was a string choice.
    if isinstance(decoded, (tuple, list, dict)) and repr(decoded) == value:
        return decoded
    return value


def _check_param_name(name, valid):
    if name not in valid:
        close = difflib.get_close_matches(name, list(valid), n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"search_space has {name!r}, which is not a parameter of the "
            f"pipeline.{hint} Parameter names are listed by pipe.get_params()."
        )


def _is_plain(choice):
    return choice is None or isinstance(choice, (bool, int, float, str))


def _encode(name, dist):
    """Distribution with plain choices, and {label: original choice}."""
    if not isinstance(dist, CategoricalDistribution) or all(
        map(_is_plain, dist.choices)
    ):
        return dist, {}
    labels = [c if _is_plain(c) else repr(c) for c in dist.choices]
    if len(set(labels)) != len(labels):
        raise ValueError(
            f"search_space[{name!r}] has choices whose text forms collide: "
            f"{labels}; make them distinct."
        )
    decoder = {
        lab: c for lab, c in zip(labels, dist.choices, strict=True) if lab is not c
    }
    return CategoricalDistribution(labels), decoder


def _suggest(trial, name, dist):
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(
            name, dist.low, dist.high, step=dist.step, log=dist.log
        )
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(
            name, dist.low, dist.high, step=dist.step, log=dist.log
        )
    raise ValueError(f"search_space[{name!r}]: unsupported distribution {dist!r}.")

"""Overhead of SoftVotingEnsemble over scikit-learn's soft VotingClassifier.

Both ensembles hold the same plain tree members (``xgboost.XGBClassifier``
and ``lightgbm.LGBMClassifier``, fixed ``n_estimators``, no early stopping),
so the difference is the ensemble's own work: input validation, label
encoding, lane planning, probability alignment and (``importance="auto"``)
collecting the members' native importances. Runs alternate between the two
ensembles and the median of the repeats is reported, because shared
machines are noisy. Target: overhead <= 5%.

Usage::

    python benchmarks/bench_ensemble_overhead.py --n-samples 20000 --repeats 7
"""

import argparse
import platform
import statistics
import time

import lightgbm
import numpy as np
import sklearn
import xgboost
from sklearn.datasets import make_classification
from sklearn.ensemble import VotingClassifier

from sklensemble import SoftVotingEnsemble


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--n-features", type=int, default=40)
    parser.add_argument("--n-classes", type=int, default=3)
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--member-threads",
        type=int,
        default=1,
        help="n_jobs of each tree member (1 keeps timings stable on shared CPUs)",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="n_jobs of both ensembles (members fitted concurrently)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def members(args):
    return [
        (
            "xgboost",
            xgboost.XGBClassifier(
                n_estimators=args.n_estimators,
                max_depth=4,
                n_jobs=args.member_threads,
                random_state=args.seed,
            ),
        ),
        (
            "lightgbm",
            lightgbm.LGBMClassifier(
                n_estimators=args.n_estimators,
                num_leaves=15,
                n_jobs=args.member_threads,
                random_state=args.seed,
                verbosity=-1,
            ),
        ),
    ]


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main():
    args = parse_args()
    X, y = make_classification(
        n_samples=args.n_samples,
        n_features=args.n_features,
        n_informative=args.n_features // 2,
        n_classes=args.n_classes,
        random_state=args.seed,
    )
    builders = {
        "VotingClassifier(soft)": lambda: VotingClassifier(
            members(args), voting="soft"
        ),
        "SoftVotingEnsemble(importance=None)": lambda: SoftVotingEnsemble(
            members(args), importance=None, n_jobs=args.n_jobs
        ),
        "SoftVotingEnsemble(importance='auto')": lambda: SoftVotingEnsemble(
            members(args), importance="auto", n_jobs=args.n_jobs
        ),
    }
    fit_times = {name: [] for name in builders}
    predict_times = {name: [] for name in builders}
    probas = {}
    # Warm-up (imports, thread pools), then alternate the contenders.
    for build in builders.values():
        build().fit(X[:2000], y[:2000])
    for _ in range(args.repeats):
        for name, build in builders.items():
            fit_time, model = timed(lambda build=build: build().fit(X, y))
            predict_time, proba = timed(lambda model=model: model.predict_proba(X))
            fit_times[name].append(fit_time)
            predict_times[name].append(predict_time)
            probas[name] = proba

    reference = "VotingClassifier(soft)"
    print(
        f"python {platform.python_version()}, scikit-learn {sklearn.__version__}, "
        f"xgboost {xgboost.__version__}, lightgbm {lightgbm.__version__}"
    )
    print(
        f"data: {args.n_samples} x {args.n_features}, {args.n_classes} classes; "
        f"members: XGBClassifier + LGBMClassifier, {args.n_estimators} trees, "
        f"n_jobs={args.member_threads}; ensemble n_jobs={args.n_jobs}; "
        f"median of {args.repeats} repeats"
    )
    header = (
        f"{'ensemble':<40}{'fit s':>9}{'overhead':>10}{'predict s':>11}{'overhead':>10}"
    )
    print(header)
    print("-" * len(header))
    ref_fit = statistics.median(fit_times[reference])
    ref_predict = statistics.median(predict_times[reference])
    for name in builders:
        fit = statistics.median(fit_times[name])
        predict = statistics.median(predict_times[name])
        print(
            f"{name:<40}{fit:>9.3f}{100 * (fit / ref_fit - 1):>+9.1f}%"
            f"{predict:>11.4f}{100 * (predict / ref_predict - 1):>+9.1f}%"
        )
    diff = max(np.abs(probas[name] - probas[reference]).max() for name in builders)
    print(f"max |predict_proba difference| vs VotingClassifier: {diff:.2e}")


if __name__ == "__main__":
    main()

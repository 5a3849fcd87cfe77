"""Peak resident memory of windowing, fitting and predicting a sequence network.

Every measurement runs in a fresh Python process and reports the rise of its
peak resident set size (all allocations, torch's and the C libraries'
included: VmHWM, reset to the resident set at the baseline where Linux
allows it, else ``ru_maxrss``) above a baseline taken once the inputs are
built, the libraries are warmed up (a prediction on two windows, or a
one-epoch fit on a few windows) and, for prediction, the fitted model is
loaded:

- ``windows``: SequenceWindower's strided view against naive stacking of a
  copy of every window, both reading one batch of 256 windows;
- ``fit``: one epoch of a small AttentionLSTMClassifier (hidden_size=16, 2
  heads, the fast preset's) on ``--fit-rows`` windows;
- ``predict``: ``predict_proba`` on all ``--rows`` windows, and on one batch
  of 1,024 windows;
- ``legacy``: the same network run as before this benchmark's change
  (float64 on the CPU, 1,024 windows per pass) on ``--legacy-rows`` windows
  and on one batch of 1,024.

    python benchmarks/bench_windowing_memory.py   # 200,000 rows x 32 x 60 steps
"""

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

MIB = 2**20


def _status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(field)


def baseline_mib():
    """Resident memory now, with the peak reset to it where Linux allows it.

    Writing 5 to /proc/self/clear_refs resets the peak (VmHWM) to the current
    resident set, so an earlier, freed peak (building the input) is not
    taken for the baseline. Elsewhere the peak so far is the baseline.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_mib("VmRSS")
    except OSError:
        return peak_mib()


def peak_mib():
    try:
        return _status_mib("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB


def rows(n_rows, n_features, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_rows, n_features), dtype=np.float32)


def naive(X, length):
    padded = np.vstack([np.repeat(X[:1], length - 1, axis=0), X])
    return np.stack([padded[i : i + length] for i in range(len(X))])


def child_windows(args):
    from sklensemble import SequenceWindower

    X = rows(args.rows, args.features)
    build = {
        "windower": lambda: SequenceWindower(args.sequence_length).fit_transform(X),
        "naive": lambda: naive(X, args.sequence_length),
    }[args.how]
    base = baseline_mib()
    windows = build()
    batch = np.asarray(windows[np.linspace(0, len(X) - 1, 256).astype(int)])
    assert batch.shape == (256, args.sequence_length, args.features)
    return {"rise": peak_mib() - base}


def child_fit(args):
    from sklensemble import AttentionLSTMClassifier, SequenceWindower

    X = rows(args.fit_rows, args.features)
    y = np.random.RandomState(1).randint(0, 3, len(X))
    windows = SequenceWindower(args.sequence_length).fit_transform(X)
    params = dict(hidden_size=16, num_layers=1, num_heads=2, device="cpu")
    AttentionLSTMClassifier(**params, max_epochs=1).fit(windows[:256], y[:256])
    base = baseline_mib()
    start = time.perf_counter()
    clf = AttentionLSTMClassifier(**params, max_epochs=1, random_state=0)
    clf.fit(windows, y)
    seconds = time.perf_counter() - start
    with open(args.model, "wb") as f:
        pickle.dump(clf, f)
    return {"rise": peak_mib() - base, "seconds": seconds}


def legacy_predict_proba(clf, windows):
    """The network's prediction as it was: float64 on the CPU, 1,024 per pass."""
    import torch

    module = clf.module_.double()
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(windows), 1024):
            batch = torch.from_numpy(np.asarray(windows[start : start + 1024], "f8"))
            chunks.append(torch.softmax(module(batch), dim=1).numpy())
    return np.concatenate(chunks)


def child_predict(args):
    from sklensemble import SequenceWindower

    with open(args.model, "rb") as f:
        clf = pickle.load(f)
    n_rows = args.legacy_rows if args.how == "legacy" else args.rows
    X = rows(args.rows, args.features, seed=2)
    windows = SequenceWindower(args.sequence_length).fit_transform(X)[:n_rows]
    if args.batch_only:
        windows = windows[:1024]
    predict = (
        (lambda W: legacy_predict_proba(clf, W))
        if args.how == "legacy"
        else clf.predict_proba
    )
    predict(windows[:2])  # warm-up: one-time allocations of torch's kernels
    base = baseline_mib()
    start = time.perf_counter()
    proba = predict(windows)
    seconds = time.perf_counter() - start
    assert proba.shape == (len(windows), len(clf.classes_))
    return {"rise": peak_mib() - base, "seconds": seconds, "windows": len(windows)}


def run_child(argv):
    out = subprocess.run(
        [sys.executable, __file__, "--child", *argv],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=60)
    parser.add_argument("--fit-rows", type=int, default=20_000)
    parser.add_argument("--legacy-rows", type=int, default=20_000)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--what", help=argparse.SUPPRESS)
    parser.add_argument("--how", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--batch-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child = {"windows": child_windows, "fit": child_fit, "predict": child_predict}
        print(json.dumps(child[args.what](args)))
        return

    common = [
        f"--rows={args.rows}",
        f"--features={args.features}",
        f"--sequence-length={args.sequence_length}",
        f"--fit-rows={args.fit_rows}",
        f"--legacy-rows={args.legacy_rows}",
    ]
    input_mib = args.rows * args.features * 4 / MIB
    full_mib = input_mib * args.sequence_length
    print(
        f"{args.rows} rows x {args.features} features x {args.sequence_length} "
        f"steps, float32 (input {input_mib:.1f} MiB; all windows as an array "
        f"{full_mib:.0f} MiB); {os.cpu_count()} CPUs; load average "
        + ", ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    print(f"{'measurement':58s} {'peak RSS rise':>14s} {'x input':>8s} {'time':>8s}")
    print("(x input: against the rows the step reads, the fit's or the prediction's)")

    def report(label, result, base_mib=input_mib):
        seconds = result.get("seconds")
        timing = f"{seconds:7.1f}s" if seconds is not None else ""
        rise = result["rise"]
        print(f"{label:58s} {rise:10.1f} MiB {rise / base_mib:7.2f}x {timing:>8s}")

    for how in ("windower", "naive")[: 1 if args.skip_naive else 2]:
        result = run_child(["--what=windows", f"--how={how}", *common])
        report(f"windows: {how}, one batch of 256 read", result)
    with tempfile.TemporaryDirectory() as tmp:
        model = f"--model={os.path.join(tmp, 'lstm.pkl')}"
        result = run_child(["--what=fit", model, *common])
        fit_mib = args.fit_rows * args.features * 4 / MIB
        report(
            f"fit: AttentionLSTM, 1 epoch on {args.fit_rows} windows", result, fit_mib
        )
        for how in ("current", "legacy"):
            name = "float32, fixed batches" if how == "current" else "legacy float64"
            for batch_only in (True, False):
                flags = ["--batch-only"] if batch_only else []
                result = run_child(
                    ["--what=predict", f"--how={how}", model, *common, *flags]
                )
                what = "one batch of 1024" if batch_only else f"all {result['windows']}"
                report(f"predict_proba ({name}): {what} windows", result)


if __name__ == "__main__":
    main()

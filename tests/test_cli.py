"""The command line: the demo, fit and predict jobs, and one-line errors."""

import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sklensemble
from sklensemble import _jobs, make_ensemble_pipeline
from sklensemble.cli import main
from sklensemble.datasets import make_synthetic_market

TINY = {
    "ensemble__xgboost__n_estimators": 10,
    "ensemble__lightgbm__n_estimators": 10,
    "ensemble__lstm__net__max_epochs": 1,
    "ensemble__transformer__net__max_epochs": 1,
}


@pytest.fixture(autouse=True)
def tiny_pipeline(monkeypatch):
    """The jobs' real code path with networks and forests small enough for tests."""

    def build(args, say):
        length = args.sequence_length or 5
        pipe = make_ensemble_pipeline(
            preset="fast", sequence_length=length, device="cpu", random_state=0
        ).set_params(**TINY)
        return pipe, "fast", length

    monkeypatch.setattr(_jobs, "build_pipeline", build)


@pytest.fixture(scope="module")
def bars_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "bars.csv"
    make_synthetic_market(700, seed=0).rename_axis("date").to_csv(path)
    return path


@pytest.mark.slow
def test_fit_then_predict_on_ohlcv(bars_csv, tmp_path, capsys):
    model = tmp_path / "model.skens"
    code = main(
        [
            "fit",
            str(bars_csv),
            "--target-from",
            "close",
            "--cv",
            "2",
            "--sequence-length",
            "5",
            "--out",
            str(model),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "ensemble" in out and "prior" in out  # the walk-forward table
    assert model.exists()

    preds = tmp_path / "preds.csv"
    assert main(["predict", str(model), str(bars_csv), "--out", str(preds)]) == 0
    frame = pd.read_csv(preds, index_col=0)
    assert len(frame) == 700  # every input row, none dropped silently
    proba = frame.filter(like="proba_")
    assert list(proba.columns) == ["proba_buy", "proba_hold", "proba_sell"]
    complete = proba.notna().all(axis=1)
    assert complete.sum() > 600 and not complete.iloc[0]  # warm-up rows are empty
    np.testing.assert_allclose(proba[complete].sum(axis=1), 1.0)
    assert set(frame.loc[complete, "label"]) <= {"buy", "hold", "sell"}
    assert "lack feature history" in capsys.readouterr().err


@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory):
    """Two instruments' bars in one file, rows interleaved by date."""
    path = tmp_path_factory.mktemp("data") / "panel.csv"
    frames = [
        make_synthetic_market(400, seed=i).rename_axis("date").reset_index()
        for i in range(2)
    ]
    table = pd.concat(
        [
            frame.assign(ticker=name)
            for frame, name in zip(frames, ["AAA", "BBB"], strict=True)
        ]
    )
    table.sort_values(["date", "ticker"]).to_csv(path, index=False)
    return path


def test_fit_then_predict_on_a_panel(panel_csv, tmp_path, capsys):
    model = tmp_path / "panel.skens"
    args = ["--instrument", "ticker", "--cv", "2", "--sequence-length", "5"]
    code = main(
        ["fit", str(panel_csv), "--target-from", "close", *args, "--out", str(model)]
    )
    assert code == 0
    assert "ensemble" in capsys.readouterr().out  # walk-forward by date
    preds = tmp_path / "panel_preds.csv"
    code = main(
        [
            "predict",
            str(model),
            str(panel_csv),
            "--instrument",
            "ticker",
            "--out",
            str(preds),
        ]
    )
    assert code == 0
    frame = pd.read_csv(preds, index_col=[0, 1], parse_dates=[1])
    assert frame.index.names == ["instrument", "date"] and len(frame) == 800
    complete = frame.filter(like="proba_").notna().all(axis=1)
    for name in ("AAA", "BBB"):  # each instrument has its own warm-up rows
        own = complete.loc[name]
        assert not own.iloc[0] and own.iloc[-1] and own.sum() > 300


def test_panel_input_errors(panel_csv, tmp_path, capsys):
    out = str(tmp_path / "m.skens")
    command = ["fit", str(panel_csv), "--target-from", "close", "--out", out]
    assert main([*command, "--instrument", "symbol"]) == 2
    assert "instrument column 'symbol' not found" in capsys.readouterr().err
    undated = tmp_path / "undated.csv"
    pd.read_csv(panel_csv).drop(columns="date").to_csv(undated, index=False)
    command[1] = str(undated)
    assert main([*command, "--instrument", "ticker"]) == 2
    assert "a panel needs a date column" in capsys.readouterr().err


@pytest.fixture(scope="module")
def closes_csv(tmp_path_factory):
    """A ``date,close`` file: closes alone, as most free data come."""
    path = tmp_path_factory.mktemp("data") / "closes.csv"
    bars = make_synthetic_market(700, seed=0).rename_axis("date")
    bars[["close"]].to_csv(path)
    return path


@pytest.mark.slow
def test_fit_then_predict_on_closes_alone(closes_csv, tmp_path, capsys):
    model = tmp_path / "closes.skens"
    args = ["--cv", "2", "--sequence-length", "5", "--out", str(model)]
    assert main(["fit", str(closes_csv), "--target-from", "close", *args]) == 0
    assert "ensemble" in capsys.readouterr().out  # the walk-forward table
    features = sklensemble.load(model).feature_names_in_
    assert len(features) == 11 and "log_return_1" in features
    assert not {"atr_14", "hl_range", "volume_zscore_20"} & set(features)

    preds = tmp_path / "closes_preds.csv"
    assert main(["predict", str(model), str(closes_csv), "--out", str(preds)]) == 0
    frame = pd.read_csv(preds, index_col=0)
    assert len(frame) == 700
    proba = frame.filter(like="proba_")
    complete = proba.notna().all(axis=1)
    assert complete.sum() > 600 and not complete.iloc[0]
    np.testing.assert_allclose(proba[complete].sum(axis=1), 1.0)


def test_fit_then_predict_on_a_close_only_panel(tmp_path, capsys):
    """A long ``date,ticker,close`` file, rows interleaved by date."""
    data = tmp_path / "closes_panel.csv"
    frames = [
        make_synthetic_market(400, seed=i)[["close"]].rename_axis("date").reset_index()
        for i in range(2)
    ]
    table = pd.concat([f.assign(ticker=n) for f, n in zip(frames, "AB", strict=True)])
    table.sort_values(["date", "ticker"])[["date", "ticker", "close"]].to_csv(
        data, index=False
    )
    model = tmp_path / "closes_panel.skens"
    args = ["--instrument", "ticker", "--cv", "2", "--sequence-length", "5"]
    assert (
        main(["fit", str(data), "--target-from", "close", *args, "--out", str(model)])
        == 0
    )
    assert "ensemble" in capsys.readouterr().out
    assert len(sklensemble.load(model).feature_names_in_) == 11
    preds = tmp_path / "closes_panel_preds.csv"
    command = ["predict", str(model), str(data), "--instrument", "ticker"]
    assert main([*command, "--out", str(preds)]) == 0
    frame = pd.read_csv(preds, index_col=[0, 1], parse_dates=[1])
    assert frame.index.names == ["instrument", "date"] and len(frame) == 800
    complete = frame.filter(like="proba_").notna().all(axis=1)
    for name in "AB":  # each instrument has its own warm-up rows
        own = complete.loc[name]
        assert not own.iloc[0] and own.iloc[-1] and own.sum() > 300


def test_closes_alone_for_a_model_fitted_on_bars_is_one_line(
    bars_csv, closes_csv, tmp_path, capsys
):
    model = tmp_path / "bars.skens"
    command = ["fit", str(bars_csv), "--target-from", "close", "--cv", "0"]
    assert main([*command, "--out", str(model), "--quiet"]) == 0
    assert main(["predict", str(model), str(closes_csv)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "need price columns this file lacks" in err
    assert "'atr_14', 'hl_range', 'volume_zscore_20'" in err


def test_a_file_without_a_close_column_is_one_line(closes_csv, tmp_path, capsys):
    data = tmp_path / "adjusted.csv"
    pd.read_csv(closes_csv).rename(columns={"close": "adj_close"}).to_csv(
        data, index=False
    )
    command = ["fit", str(data), "--target-from", "adj_close", "--cv", "0"]
    assert main([*command, "--out", str(tmp_path / "m.skens")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing the column(s) ['close']" in err


def test_fit_on_a_feature_table_with_labels(tmp_path):
    rng = np.random.RandomState(0)
    table = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"])
    table["target"] = np.where(table["a"].shift(1) > 0, "buy", "sell")
    table.to_csv(tmp_path / "features.csv", index=False)
    model = tmp_path / "m.skens"
    assert (
        main(
            [
                "fit",
                str(tmp_path / "features.csv"),
                "--label-column",
                "target",
                "--cv",
                "0",
                "--out",
                str(model),
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "predict",
                str(model),
                str(tmp_path / "features.csv"),
                "--out",
                str(tmp_path / "p.csv"),
                "--quiet",
            ]
        )
        == 0
    )
    assert len(pd.read_csv(tmp_path / "p.csv")) == 400


@pytest.mark.slow
def test_demo_writes_plots_model_and_mlflow_run(monkeypatch, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("mlflow")
    bars = make_synthetic_market(700, seed=1)
    monkeypatch.setattr("sklensemble.datasets.load_sp500", lambda: bars)
    out = tmp_path / "demo"
    assert main(["demo", "--cv", "2", "--sequence-length", "5", "--out", str(out)]) == 0
    for name in (
        "model.skens",
        "walk_forward.csv",
        "equity_curve.png",
        "confusion_matrix.png",
        "reliability.png",
        "feature_importance.png",
        "explanation.png",
        "mlflow.db",
    ):
        assert (out / name).exists(), name
    text = capsys.readouterr().out
    assert "MLflow run" in text and str(out) in text
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    (run,) = client.search_runs(
        [client.get_experiment_by_name("sklensemble-demo").experiment_id]
    )
    logged = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert "reliability.png" in logged


@pytest.mark.parametrize(
    "argv_tail, message",
    [
        (["missing.csv", "--label-column", "y"], "no such file"),
        (["{csv}", "--label-column", "nope"], "label column 'nope' not found"),
        (["{csv}", "--target-from", "price"], "price column 'price' not found"),
        (["{short}", "--target-from", "close"], "too few"),
        (["{text}", "--label-column", "y"], "not numeric"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    argv_tail, message, bars_csv, tmp_path, capsys
):
    short = tmp_path / "short.csv"
    pd.read_csv(bars_csv).head(120).to_csv(short, index=False)
    text = tmp_path / "text.csv"
    pd.DataFrame({"a": ["x", "y"] * 50, "y": [0, 1] * 50}).to_csv(text, index=False)
    paths = {"csv": bars_csv, "short": short, "text": text}
    argv = (
        ["fit"]
        + [a.format(**paths) for a in argv_tail]
        + ["--out", str(tmp_path / "m")]
    )
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("sklensemble: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.slow
def test_tune_on_a_shared_storage(bars_csv, tmp_path, capsys):
    pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    argv = [
        "tune",
        str(bars_csv),
        "--target-from",
        "close",
        "--trials",
        "2",
        "--cv",
        "2",
        "--sequence-length",
        "5",
        "--storage",
        storage,
        "--study",
        "cli",
        "--objectives",
        "balanced_accuracy,fit_time",
    ]
    assert main(argv) == 0
    assert main(argv) == 0  # a second worker joins the same study
    out = capsys.readouterr().out
    assert "4 trials in the study" in out
    assert "ensemble__" in out  # the chosen parameters, by nested name


def test_demo_with_an_unwritable_tracking_store_warns_once(
    monkeypatch, tmp_path, capsys
):
    pytest.importorskip("mlflow")
    monkeypatch.setattr(
        "sklensemble.datasets.load_sp500", lambda: make_synthetic_market(400, seed=1)
    )
    # A store under a regular file cannot be created, even by root.
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    uri = f"sqlite:///{blocker}/mlflow.db"
    out = tmp_path / "demo"
    argv = ["demo", "--cv", "0", "--sequence-length", "5", "--out", str(out)]
    assert main(argv + ["--tracking-uri", uri]) == 0
    assert (out / "model.skens").exists()
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    (line,) = [line for line in captured.err.splitlines() if "MLflow" in line]
    assert line.startswith(f"warning: MLflow run not logged to {uri}: ")
    assert "MLflow run " not in captured.out  # no run to browse


@pytest.mark.parametrize("store", ["dead server", "unwritable"])
def test_log_to_mlflow_failure_is_one_line_and_bounded(
    store, monkeypatch, tmp_path, capsys
):
    pytest.importorskip("mlflow")
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_MAX_RETRIES

    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    import mlflow.tracking

    retries = []  # as MLflow reads them when the demo's client starts
    client = mlflow.tracking.MlflowClient
    monkeypatch.setattr(
        mlflow.tracking,
        "MlflowClient",
        lambda **kwargs: (
            retries.append(MLFLOW_HTTP_REQUEST_MAX_RETRIES.get()) or client(**kwargs)
        ),
    )
    (tmp_path / "file").write_text("")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = {
        "dead server": f"http://127.0.0.1:{port}",
        "unwritable": f"sqlite:///{tmp_path / 'file'}/mlflow.db",
    }[store]
    assert _jobs.log_to_mlflow(uri, {"seed": 0}, None, [], print) is None
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"warning: MLflow run not logged to {uri}: ")
    if store == "dead server":
        # Refused by the quick probe: MLflow's retries never start.
        assert "unreachable" in err and retries == []
    else:
        assert retries == [1]
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 7  # MLflow's default again


# -- Ctrl-C ------------------------------------------------------------------
# The command line in a child process, with a pipeline of one network that
# trains for up to 10,000 epochs and prints "epoch N" as each epoch begins.
CHILD = """
import signal
import sys

# Ctrl-C raises KeyboardInterrupt, as in a terminal, even when the test runner
# was started with SIGINT ignored (a background job inherits that).
signal.signal(signal.SIGINT, signal.default_int_handler)
from skorch.callbacks import Callback
from sklensemble import _jobs, make_ensemble_pipeline
from sklensemble.cli import main

class Announce(Callback):
    def on_epoch_begin(self, net, **kwargs):
        print("epoch", len(net.history), flush=True)

def build(args, say):
    pipe = make_ensemble_pipeline(
        preset="fast", sequence_length=5, device="cpu", random_state=0
    ).set_params(
        ensemble__xgboost="drop",
        ensemble__lightgbm="drop",
        ensemble__transformer="drop",
        ensemble__lstm__net__max_epochs=10_000,
        ensemble__lstm__net__validation_fraction=None,
        ensemble__lstm__net__callbacks=[Announce()],
    )
    return pipe, "fast", 5

_jobs.build_pipeline = build
sys.exit(main(sys.argv[1:]))
"""


def _wait_for_line(process, prefix, timeout=300):
    """Read the child's stdout until a line starts with ``prefix``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if not ready:
            continue
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"the child exited: {process.communicate()[1]}")
        if line.startswith(prefix):
            return
    raise AssertionError(f"no line {prefix!r} from the child in {timeout}s")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_during_an_epoch_exits_130_and_keeps_the_old_model(bars_csv, tmp_path):
    model = tmp_path / "model.skens"
    model.write_bytes(b"the previous good model")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    command = [sys.executable, str(script), "fit", str(bars_csv)]
    command += ["--target-from", "close", "--cv", "0", "--out", str(model)]
    env = {**os.environ, "PYTHONPATH": str(Path(sklensemble.__file__).parents[1])}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        _wait_for_line(process, "epoch 2")  # epoch 1 done: training is under way
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert err == "sklensemble: interrupted; no model written\n"
    assert model.read_bytes() == b"the previous good model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child.py", "model.skens"]


# -- output paths --------------------------------------------------------------
@pytest.fixture
def no_work(monkeypatch):
    """Fails the test if a job gets as far as reading data or building a model."""

    def refuse(*args, **kwargs):
        raise AssertionError("the job started working before checking its paths")

    for name in ("build_pipeline", "read_table", "load_model"):
        monkeypatch.setattr(_jobs, name, refuse)
    monkeypatch.setattr("sklensemble.datasets.load_sp500", refuse)


@pytest.fixture
def unwritable_dir(tmp_path):
    """A folder where no file can be created (read-only sysfs for root)."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
    elif Path("/sys/kernel").is_dir():
        yield Path("/sys")
    else:  # pragma: no cover
        pytest.skip("no unwritable folder for root here")


def _one_error_line(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.startswith("sklensemble: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.mark.parametrize("via_symlink", [False, True], ids=["path", "symlink"])
def test_fit_refuses_to_overwrite_its_data(via_symlink, tmp_path, capsys, no_work):
    data = tmp_path / "data.csv"
    data.write_text("date,close\n2020-01-01,1\n")
    out = data
    if via_symlink:
        out = tmp_path / "link.skens"
        out.symlink_to(data)
    command = ["fit", str(data), "--target-from", "close", "--out", str(out)]
    assert main(command) == 2
    _one_error_line(capsys, f"--out {out} is the data file", "choose another")
    assert data.read_text() == "date,close\n2020-01-01,1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["data.csv"] + (["link.skens"] if via_symlink else [])
    )


@pytest.mark.parametrize("target", ["model", "data"])
def test_predict_refuses_to_overwrite_its_inputs(target, tmp_path, capsys, no_work):
    paths = {"model": tmp_path / "m.skens", "data": tmp_path / "bars.csv"}
    for path in paths.values():
        path.write_bytes(b"precious")
    command = ["predict", str(paths["model"]), str(paths["data"])]
    assert main([*command, "--out", str(paths[target])]) == 2
    _one_error_line(capsys, f"is the {target} file")
    assert all(path.read_bytes() == b"precious" for path in paths.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.csv", "m.skens"]


@pytest.mark.parametrize(
    "out, message",
    [
        ("{tmp}", "is a directory; give a file name inside it"),
        ("{tmp}/missing/m.skens", "missing does not exist; create it first"),
        ("{unwritable}/m.skens", "cannot write in"),
    ],
    ids=["directory", "missing-parent", "unwritable"],
)
def test_fit_refuses_bad_out_before_the_work(
    out, message, bars_csv, tmp_path, unwritable_dir, capsys, no_work
):
    out = out.format(tmp=tmp_path, unwritable=unwritable_dir)
    command = ["fit", str(bars_csv), "--target-from", "close", "--out", out]
    assert main(command) == 2
    _one_error_line(capsys, f"--out {out}", message)
    assert not [p for p in tmp_path.iterdir() if p.name != unwritable_dir.name]


@pytest.mark.parametrize(
    "out, message",
    [
        ("{tmp}/file", "is a file, not a folder"),
        ("{tmp}/missing/demo", "missing does not exist"),
    ],
)
def test_demo_refuses_bad_out_folders_before_the_work(
    out, message, tmp_path, capsys, no_work
):
    (tmp_path / "file").write_text("kept")
    out = out.format(tmp=tmp_path)
    assert main(["demo", "--out", out]) == 2
    _one_error_line(capsys, f"--out {out}", message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    assert (tmp_path / "file").read_text() == "kept"


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError])
def test_predict_writes_its_csv_atomically(
    failure, bars_csv, tmp_path, monkeypatch, capsys
):
    """A write that fails half-way leaves the old file and no temporary one."""
    from sklearn.linear_model import LogisticRegression

    bars = pd.read_csv(bars_csv, index_col=0)
    model = LogisticRegression().fit(bars, np.arange(len(bars)) % 2)
    monkeypatch.setattr(_jobs, "load_model", lambda *args, **kwargs: model)
    written = pd.DataFrame.to_csv

    def fail_half_way(frame, path, *args, **kwargs):
        written(frame.head(3), path, *args, **kwargs)
        assert Path(path).exists() and Path(path).parent == tmp_path
        raise failure("disk full" if failure is OSError else None)

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail_half_way)
    out = tmp_path / "predictions.csv"
    out.write_text("previous predictions")
    command = ["predict", str(tmp_path / "m.skens"), str(bars_csv), "--out", str(out)]
    (tmp_path / "m.skens").write_bytes(b"a model")
    if failure is KeyboardInterrupt:
        assert main(command) == 130
        assert capsys.readouterr().err.endswith(
            "sklensemble: interrupted; no predictions written\n"
        )
    else:
        assert main(command) == 2
        _one_error_line(capsys, "disk full")
    assert out.read_text() == "previous predictions"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.skens", "predictions.csv"]


# -- option values ---------------------------------------------------------------
@pytest.mark.parametrize(
    "command, option, value, message",
    [
        ("fit", "--cv", "-1", "must be >= 0, got -1"),
        ("fit", "--cv", "two", "expected a whole number, got 'two'"),
        ("fit", "--sequence-length", "0", "must be >= 1, got 0"),
        ("fit", "--horizon", "0", "must be >= 1, got 0"),
        ("fit", "--seed", "-1", "must be in [0, 4294967295], got -1"),
        ("fit", "--threshold", "-0.01", "must be a finite number >= 0"),
        ("fit", "--threshold", "nan", "must be a finite number >= 0, got nan"),
        ("fit", "--device", "tpu", "device must be 'auto', 'cpu', 'cuda'"),
        ("fit", "--out", "", "expected a path, got an empty string"),
        ("demo", "--horizon", "-2", "must be >= 1, got -2"),
        ("tune", "--cv", "1", "must be >= 2, got 1"),
        ("tune", "--trials", "0", "must be >= 1, got 0"),
        ("tune", "--timeout", "0", "must be a finite number > 0, got 0"),
        ("tune", "--objectives", "log_loss,", "expected comma-separated names"),
        ("predict", "--out", " ", "expected a path"),
    ],
)
def test_bad_option_values_name_the_option(
    command, option, value, message, tmp_path, capsys, no_work
):
    argv = {
        "fit": ["fit", "d.csv", "--label-column", "y", "--out", "m.skens"],
        "tune": ["tune", "d.csv", "--label-column", "y"],
        "demo": ["demo", "--out", str(tmp_path / "demo")],
        "predict": ["predict", "m.skens", "d.csv"],
    }[command]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, f"{option}={value}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"error: argument {option}: {message}" in err
    assert "Traceback" not in err and not list(tmp_path.iterdir())

"""The command line: the demo, fit and predict jobs, and one-line errors."""

import socket

import numpy as np
import pandas as pd
import pytest

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
        "feature_importance.png",
        "mlflow.db",
    ):
        assert (out / name).exists(), name
    text = capsys.readouterr().out
    assert "MLflow run" in text and str(out) in text


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

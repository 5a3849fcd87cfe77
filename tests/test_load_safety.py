"""Loading model files: no code runs, every damaged file is a one-line ValueError.

And a model file holds the model, never the rows it was trained on.
"""

import io
import json
import pickle
import struct
import tracemalloc
import zipfile
import zlib

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import RobustScaler

pytest.importorskip("skops")
pytest.importorskip("safetensors")

import sklensemble  # noqa: E402
from sklensemble import (  # noqa: E402
    AttentionLSTMClassifier,
    SequenceWindower,
    SoftVotingEnsemble,
    XGBoostClassifier,
)
from sklensemble._io import _MAX_BYTES  # noqa: E402
from sklensemble.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A fitted two-tree booster, saved: a file of a few kB to sweep."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    clf = XGBoostClassifier(n_estimators=2, max_depth=1, n_jobs=1, random_state=0)
    clf.fit(X, y)
    path = tmp_path_factory.mktemp("tiny") / "tiny.skl"
    sklensemble.save(clf, path)
    return clf, path.read_bytes()


def same_model(loaded, clf):
    booster = loaded.model_.get_booster().save_raw("ubj")
    return (
        type(loaded) is type(clf)
        and loaded.get_params() == clf.get_params()
        and np.array_equal(loaded.classes_, clf.classes_)
        and bytes(booster) == bytes(clf.model_.get_booster().save_raw("ubj"))
    )


def outcome(path, clf):
    """'same' for an identical load, 'refused' for a one-line ValueError naming
    the file; anything else (another exception, a different model) fails."""
    try:
        loaded = sklensemble.load(path)
    except ValueError as exc:
        message = str(exc)
        assert str(path) in message and "\n" not in message, message
        return "refused"
    assert same_model(loaded, clf), "a damaged file loaded as a different model"
    return "same"


class TestDamagedFiles:
    def test_every_single_byte_flip(self, tiny, tmp_path):
        clf, data = tiny
        path = tmp_path / "flipped.skl"
        counts = {"same": 0, "refused": 0}
        for position in range(len(data)):
            flipped = bytearray(data)
            flipped[position] ^= 0xFF
            path.write_bytes(flipped)
            counts[outcome(path, clf)] += 1
        assert sum(counts.values()) == len(data) > 1000
        # Most flips break a checksum, a CRC or the zip structure; the few that
        # load touch bytes nothing reads (e.g. the recorded package versions).
        assert counts["refused"] > 0.9 * len(data)

    def test_every_truncation(self, tiny, tmp_path):
        clf, data = tiny
        path = tmp_path / "short.skl"
        # Every 5th length, and every length within the last 64 bytes (the
        # end-of-central-directory record).
        lengths = sorted({*range(0, len(data), 5), *range(len(data) - 64, len(data))})
        for length in lengths:
            path.write_bytes(data[:length])
            assert outcome(path, clf) == "refused", length

    @pytest.mark.parametrize(
        "manifest, message",
        [
            ({"format_version": 2}, "format version 2, newer than"),
            ({"format_version": 0}, "invalid format version 0"),
            ({"format_version": "1"}, "invalid format version '1'"),
            ({"format": "other"}, "manifest format is not"),
        ],
    )
    def test_wrong_format_or_version(self, tiny, tmp_path, manifest, message):
        _, data = tiny
        path = tmp_path / "version.skl"
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            entries = {name: zf.read(name) for name in zf.namelist()}
        meta = json.loads(entries["manifest.json"])
        meta.update(manifest)
        entries["manifest.json"] = json.dumps(meta)
        with zipfile.ZipFile(path, "w") as zf:
            for name, content in entries.items():
                zf.writestr(name, content)
        with pytest.raises(ValueError, match=message) as info:
            sklensemble.load(path)
        assert str(path) in str(info.value)

    @pytest.mark.parametrize(
        "content, message",
        [
            (b"", "not a zip file"),
            (b"not a model", "not a zip file"),
            ({"other.txt": b"x"}, "has no manifest.json"),
            ({"manifest.json": b"{not json"}, "manifest.json is not valid JSON"),
            ({"manifest.json": b"\xff\xfe"}, "manifest.json is not valid JSON"),
            (pickle.dumps({"a": 1}), "is a pickle, not a model file"),
        ],
    )
    def test_not_a_model(self, tmp_path, content, message):
        path = tmp_path / "other.skl"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            with zipfile.ZipFile(path, "w") as zf:
                for name, entry in content.items():
                    zf.writestr(name, entry)
        with pytest.raises(ValueError, match=message) as info:
            sklensemble.load(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def write_bomb(path, inflated_bytes):
    """A zip whose one entry inflates to ``inflated_bytes`` zeros, streamed."""
    chunk = bytes(2**20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("model.skops", "w", force_zip64=True) as entry:
            for _ in range(inflated_bytes // len(chunk)):
                entry.write(chunk)
        zf.writestr("manifest.json", "{}")


class TestSizeLimits:
    def test_zip_bomb_refused_from_its_declared_size(self, tmp_path, monkeypatch):
        path = tmp_path / "bomb.skl"
        write_bomb(path, _MAX_BYTES + 2**20)
        assert path.stat().st_size < _MAX_BYTES // 500
        opened = []
        original = zipfile.ZipFile.open
        monkeypatch.setattr(
            zipfile.ZipFile,
            "open",
            lambda self, name, *a, **k: (
                opened.append(name) or original(self, name, *a, **k)
            ),
        )
        tracemalloc.start()
        try:
            with pytest.raises(ValueError, match="more than max_bytes") as info:
                sklensemble.load(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert opened == []  # refused before any entry was inflated
        assert peak < 2**20
        message = str(info.value)
        assert str(path) in message and "'model.skops'" in message

    def test_max_bytes_keyword(self, tiny, tmp_path):
        clf, data = tiny
        path = tmp_path / "tiny.skl"
        path.write_bytes(data)
        with pytest.raises(ValueError, match="more than max_bytes=1,000"):
            sklensemble.load(path, max_bytes=1000)
        assert same_model(sklensemble.load(path, max_bytes=len(data) * 10), clf)

    def test_entry_larger_than_declared_is_never_inflated(self, tmp_path):
        """An entry whose header understates its size is read only up to it."""
        path = tmp_path / "liar.skl"
        real = 64 * 2**20
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            with zf.open("manifest.json", "w") as entry:
                for _ in range(real // 2**20):
                    entry.write(bytes(2**20))
        data = bytearray(path.read_bytes())
        declared = 100
        for signature, crc_at, size_at in (
            (b"PK\x03\x04", 14, 22),
            (b"PK\x01\x02", 16, 24),
        ):
            at = data.index(signature)
            struct.pack_into("<I", data, at + crc_at, zlib.crc32(bytes(declared)))
            struct.pack_into("<I", data, at + size_at, declared)
        path.write_bytes(bytes(data))
        tracemalloc.start()
        try:
            with pytest.raises(ValueError, match="manifest.json is not valid JSON"):
                sklensemble.load(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < real // 16  # a chunk or two, never the 64 MiB inside


# -- the command line -------------------------------------------------------
class WritesMarker:
    """A pickle that creates a file when it is loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def feature_csv(tmp_path_factory):
    rng = np.random.RandomState(0)
    table = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    table["y"] = np.where(table["a"] > 0, "buy", "sell")
    path = tmp_path_factory.mktemp("cli") / "rows.csv"
    table.to_csv(path, index=False)
    return path, table


class TestCommandLine:
    def test_hostile_pickle_never_runs(self, feature_csv, tmp_path, capsys):
        data, _ = feature_csv
        marker = tmp_path / "pwned"
        evil = tmp_path / "evil.skens"
        joblib.dump(WritesMarker(marker), evil)
        assert main(["predict", str(evil), str(data)]) == 2
        assert not marker.exists()
        err = capsys.readouterr().err
        assert err.startswith("sklensemble: error: ") and err.count("\n") == 1
        assert f"{evil} is a pickle" in err
        assert "can run arbitrary code" in err and "--allow-pickle" in err

    def test_allow_pickle_loads_a_trusted_pickle(self, feature_csv, tmp_path):
        data, table = feature_csv
        X, y = table[["a", "b"]], table["y"]
        pipe = make_pipeline(
            RobustScaler(),
            XGBoostClassifier(n_estimators=3, n_jobs=1, random_state=0),
        ).fit(X, y)
        model = tmp_path / "trusted.joblib"
        joblib.dump(pipe, model)
        out = tmp_path / "preds.csv"
        argv = ["predict", str(model), str(data), "--out", str(out), "--quiet"]
        assert main([*argv, "--allow-pickle"]) == 0
        preds = pd.read_csv(out)
        np.testing.assert_allclose(
            preds[["proba_buy", "proba_sell"]], pipe.predict_proba(X)
        )

    def test_allow_pickle_help_names_the_risk(self, capsys):
        with pytest.raises(SystemExit):
            main(["predict", "--help"])
        help_text = " ".join(capsys.readouterr().out.split())
        assert "--allow-pickle" in help_text and "arbitrary code" in help_text

    @pytest.mark.parametrize("damage", ["truncate", "flip"])
    def test_damaged_model_is_one_line(
        self, tiny, feature_csv, tmp_path, capsys, damage
    ):
        _, data = tiny
        broken = bytearray(data[: len(data) // 2] if damage == "truncate" else data)
        if damage == "flip":
            broken[len(data) // 2] ^= 0xFF
        model = tmp_path / "broken.skens"
        model.write_bytes(bytes(broken))
        # A damaged safe-format file is never handed to the unpickler.
        assert main(["predict", str(model), str(feature_csv[0]), "--allow-pickle"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("sklensemble: error: ") and err.count("\n") == 1
        assert str(model) in err and "Traceback" not in err


# -- a model file holds the model, not the data -----------------------------
MARKER = 123456.789


def planted_rows(n_rows=200):
    """Rows with marker values, and labels ending in a distinctive pattern."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n_rows, 3))
    X[::7, 1] = MARKER  # every 7th row, also in the validation tail
    y = (X[:, 0] > 0).astype(int) + (X[:, 2] > 1)
    y[-40:] = np.random.RandomState(1).randint(0, 3, 40)
    return X, y


def label_patterns(y):
    """Byte encodings a stored copy of the last labels would have."""
    tail = y[-40:]
    return [tail.astype(dtype).tobytes() for dtype in ("<i8", "<i4", "<i2", "i1")]


def inflated(data):
    """The bytes, and recursively every entry of a zip (skops files are zips)."""
    yield data
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            yield from inflated(zf.read(name))


def holds_training_data(data, y):
    markers = [np.float64(MARKER).tobytes(), np.float32(MARKER).tobytes()]
    needles = markers + label_patterns(y)
    return any(needle in blob for blob in inflated(data) for needle in needles)


@pytest.fixture(scope="module")
def planted_fits():
    """Ensembles fitted on rows with planted markers, by ``importance``."""
    X, y = planted_rows()
    members = [
        ("xgb", XGBoostClassifier(n_estimators=5, n_jobs=1, random_state=0)),
        (
            "lstm",
            make_pipeline(
                SequenceWindower(3),
                AttentionLSTMClassifier(
                    hidden_size=4, max_epochs=2, device="cpu", random_state=0
                ),
            ),
        ),
    ]
    fits = {
        importance: SoftVotingEnsemble(
            members, importance=importance, random_state=0
        ).fit(X, y)
        for importance in ("auto", "fit")
    }
    return fits, X, y


class TestNoTrainingDataInModelFiles:
    def test_the_search_finds_planted_data(self, planted_fits):
        _, X, y = planted_fits
        assert holds_training_data(pickle.dumps((X, y)), y)
        assert holds_training_data(pickle.dumps(X[-50:].astype(np.float32)), y)
        assert holds_training_data(pickle.dumps(y[-60:]), y)

    @pytest.mark.parametrize("importance", ["auto", "fit"])
    def test_pickle_and_safe_format_hold_no_rows(
        self, planted_fits, tmp_path, importance
    ):
        fits, X, y = planted_fits
        ens = fits[importance]
        # Measuring importances on rows stores nothing either.
        measured = ens.get_feature_importance(X[-60:], y[-60:], by_member=True)
        assert measured["lstm"].notna().all()
        assert not holds_training_data(pickle.dumps(ens), y)
        path = sklensemble.save(ens, tmp_path / "ens.skl")
        with open(path, "rb") as file:
            assert not holds_training_data(file.read(), y)
        loaded = sklensemble.load(path)
        pd.testing.assert_frame_equal(
            loaded.get_feature_importance(by_member=True),
            ens.get_feature_importance(by_member=True),
        )
        if importance == "fit":  # measured during fit: only the numbers kept
            assert ens.get_feature_importance(by_member=True)["lstm"].notna().all()

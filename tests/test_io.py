"""sklensemble.save / sklensemble.load: the safe (pickle-free) model format."""

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, RobustScaler

pytest.importorskip("skops")
pytest.importorskip("safetensors")

from _tiny import TINY  # noqa: E402

import sklensemble  # noqa: E402
from sklensemble import XGBoostClassifier, make_ensemble_pipeline  # noqa: E402


def market_rows(n_rows):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(
        rng.normal(size=(n_rows, 4)), columns=["ret", "vol", "rsi", "macd"]
    )
    signal = X["ret"].shift(1).fillna(0) + X["ret"].shift(2).fillna(0)
    y = np.where(signal > 0.5, "buy", np.where(signal < -0.5, "sell", "hold"))
    return X, y


@pytest.fixture(scope="module")
def rows():
    return market_rows(200)


@pytest.fixture(scope="module")
def fast(rows, tmp_path_factory):
    """A fitted fast pipeline, its probabilities, and its saved file."""
    X, y = rows
    pipe = make_ensemble_pipeline(
        preset="fast", sequence_length=5, device="cpu", random_state=0
    ).set_params(**TINY)
    pipe.fit(X, y)
    path = tmp_path_factory.mktemp("io") / "fast.sklensemble"
    sklensemble.save(pipe, path)
    return pipe, pipe.predict_proba(X), path


def networks(model):
    ensemble = model.named_steps["ensemble"]
    return [est[-1] for est in ensemble.estimators_ if isinstance(est, Pipeline)]


def rewrite(path, out, replace=None, add=None, manifest=None, fix_checksums=True):
    """Copy a saved model, changing entries as an attacker would."""
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    meta = json.loads(entries.pop("manifest.json"))
    entries.update(replace or {})
    entries.update(add or {})
    if manifest is not None:
        manifest(meta)
    if fix_checksums:
        import hashlib

        for name in list(meta["files"]):
            meta["files"][name] = hashlib.sha256(entries[name]).hexdigest()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("manifest.json", json.dumps(meta))
        for name, data in entries.items():
            zf.writestr(name, data)
    return out


def torch_part(path):
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("manifest.json"))
    part = next(p for p in meta["parts"] if p["kind"] == "torch")
    return f"parts/{part['id']}.safetensors"


def edit_skops(path, edit):
    """model.skops of a saved file with its schema or arrays edited."""
    with zipfile.ZipFile(path) as zf:
        inner = zf.read("model.skops")
    with zipfile.ZipFile(io.BytesIO(inner)) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    edit(entries)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


class Exploit:
    """Unpickling this creates a directory: the proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.makedirs, (self.marker,)


def double(X):
    return 2 * X


class Identity(TransformerMixin, BaseEstimator):
    """A user-defined transformer: not a type the safe format trusts."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


class TestRoundTrip:
    def test_default_pipeline_identical_probabilities(self, tmp_path):
        # The design's default preset (LSTM 3 x 128, Transformer d_model 256
        # x 4 layers, ...) with fewer trees/epochs and rows so it fits fast.
        X, y = market_rows(100)
        pipe = make_ensemble_pipeline(
            preset="default", sequence_length=5, device="cpu", random_state=0
        ).set_params(**{**TINY, "ensemble__lstm__net__max_epochs": 1})
        pipe.set_params(ensemble__transformer__net__max_epochs=1).fit(X, y)
        path = sklensemble.save(pipe, tmp_path / "default.sklensemble")
        loaded = sklensemble.load(path)

        assert loaded is not pipe
        np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
        ens, ref = loaded.named_steps["ensemble"], pipe.named_steps["ensemble"]
        assert ens.weights_ == ref.weights_
        assert ens.fit_times_ == ref.fit_times_
        np.testing.assert_array_equal(ens.classes_, ["buy", "hold", "sell"])
        np.testing.assert_array_equal(
            loaded.feature_names_in_, ["ret", "vol", "rsi", "macd"]
        )
        assert ens.named_estimators_["lstm"] is ens.estimators_[2]  # shared stays
        assert {k: repr(v) for k, v in loaded.get_params().items()} == {
            k: repr(v) for k, v in pipe.get_params().items()
        }

    def test_members_and_histories_restored(self, fast, rows):
        pipe, proba, path = fast
        X, _ = rows
        loaded = sklensemble.load(path)
        np.testing.assert_array_equal(loaded.predict_proba(X), proba)
        for net, ref in zip(networks(loaded), networks(pipe), strict=True):
            assert net.device_ == "cpu"
            # After the default refit on all rows: training losses only.
            assert (
                net.net_.history[:, "train_loss"] == ref.net_.history[:, "train_loss"]
            )
            assert net.net_.history[:, "epoch"] == ref.net_.history[:, "epoch"]
            assert next(net.module_.parameters()).dtype == torch.float32
        ens = loaded.named_steps["ensemble"]
        xgb = ens.named_estimators_["xgboost"]
        lgbm = ens.named_estimators_["lightgbm"]
        ref = pipe.named_steps["ensemble"].named_estimators_
        Xs = loaded[:-1].transform(X).to_numpy()
        for name, member in (("xgboost", xgb), ("lightgbm", lgbm)):
            np.testing.assert_array_equal(
                member.predict_proba(Xs), ref[name].predict_proba(Xs)
            )
        assert lgbm.model_.booster_.best_iteration == (
            ref["lightgbm"].model_.booster_.best_iteration
        )

    def test_manifest_describes_the_model(self, fast):
        _, _, path = fast
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("manifest.json"))
            names = set(zf.namelist())
        assert meta["format"] == "sklensemble-safe" and meta["format_version"] == 1
        assert meta["model"]["class"] == "sklearn.pipeline.Pipeline"
        assert meta["model"]["feature_names_in"] == ["ret", "vol", "rsi", "macd"]
        assert meta["model"]["classes"] == ["buy", "hold", "sell"]
        assert meta["model"]["params"]["ensemble__lstm__window__sequence_length"] == 5
        assert meta["versions"]["sklensemble"] == sklensemble.__version__
        assert {"torch", "xgboost", "lightgbm", "skops"} <= set(meta["versions"])
        assert sorted(p["kind"] for p in meta["parts"]) == [
            "lightgbm",
            "torch",
            "torch",
            "xgboost",
        ]
        assert "sklensemble._ensemble.SoftVotingEnsemble" in meta["types"]
        assert names == set(meta["files"]) | {"manifest.json"}
        assert not any(name.endswith((".pkl", ".pt", ".joblib")) for name in names)

    def test_load_never_unpickles(self, fast, rows, monkeypatch):
        pipe, proba, path = fast

        def forbidden(*args, **kwargs):
            raise AssertionError("load() must not unpickle anything")

        for name in ("load", "loads", "Unpickler"):
            monkeypatch.setattr(pickle, name, forbidden)
        monkeypatch.setattr(torch, "load", forbidden)
        loaded = sklensemble.load(path)
        monkeypatch.undo()
        np.testing.assert_array_equal(loaded.predict_proba(rows[0]), proba)

    def test_unfitted_model_round_trip(self, tmp_path):
        pipe = make_ensemble_pipeline(preset="fast", sequence_length=7)
        loaded = sklensemble.load(sklensemble.save(pipe, tmp_path / "u.skl"))
        assert repr(loaded.get_params()) == repr(pipe.get_params())

    def test_saving_leaves_the_model_untouched(self, fast, rows, tmp_path):
        pipe, proba, _ = fast
        sklensemble.save(pipe, tmp_path / "again.skl")
        assert all(hasattr(net, "net_") for net in networks(pipe))
        np.testing.assert_array_equal(pipe.predict_proba(rows[0]), proba)


class TestDevices:
    def test_model_saved_on_cuda_loads_on_cpu(self, fast, rows, tmp_path, monkeypatch):
        pipe, proba, path = fast
        model = sklensemble.load(path)
        for net in networks(model):  # as fitted on a GPU: float32 on "cuda"
            net.device_ = "cuda"
            net.module_.float()
        cuda_path = sklensemble.save(model, tmp_path / "cuda.skl")
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        with pytest.warns(UserWarning, match="fitted on 'cuda' but CUDA is not"):
            loaded = sklensemble.load(cuda_path)
        assert [net.device_ for net in networks(loaded)] == ["cpu", "cpu"]
        np.testing.assert_array_equal(loaded.predict_proba(rows[0]), proba)

    def test_device_cpu_forces_the_cpu(self, fast):
        loaded = sklensemble.load(fast[2], device="cpu")
        assert {
            str(p.device) for n in networks(loaded) for p in n.module_.parameters()
        } == {"cpu"}

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    def test_real_cuda_model_loads_on_cpu(self, rows, tmp_path):
        X, y = rows
        pipe = make_ensemble_pipeline(
            preset="fast", sequence_length=5, device="cuda", random_state=0
        ).set_params(**TINY)
        pipe.fit(X, y)
        loaded = sklensemble.load(
            sklensemble.save(pipe, tmp_path / "g.skl"), device="cpu"
        )
        assert [net.device_ for net in networks(loaded)] == ["cpu", "cpu"]
        np.testing.assert_allclose(
            loaded.predict_proba(X), pipe.predict_proba(X), atol=1e-5
        )


class TestRefusals:
    def test_checksum_mismatch(self, fast, tmp_path):
        path = fast[2]
        part = torch_part(path)
        with zipfile.ZipFile(path) as zf:
            data = bytearray(zf.read(part))
        data[-1] ^= 0xFF
        bad = rewrite(
            path, tmp_path / "bad.skl", {part: bytes(data)}, fix_checksums=False
        )
        with pytest.raises(ValueError, match=f"checksum mismatch for '{part}'"):
            sklensemble.load(bad)

    def test_unknown_type_in_manifest(self, fast, tmp_path):
        bad = rewrite(
            fast[2],
            tmp_path / "bad.skl",
            manifest=lambda m: m["types"].append("os.system"),
        )
        with pytest.raises(ValueError, match=r"its manifest names types .*'os.system'"):
            sklensemble.load(bad)

    @pytest.mark.parametrize("declared", [True, False])
    def test_unknown_type_in_the_graph(self, fast, tmp_path, declared):
        def to_popen(entries):
            schema = entries["schema.json"].decode()
            target = '"__module__": "sklensemble._windowing"'
            assert target in schema
            schema = schema.replace(target, '"__module__": "subprocess"', 1)
            schema = schema.replace('"SequenceWindower"', '"Popen"', 1)
            entries["schema.json"] = schema.encode()

        def declare(meta):
            if declared:
                meta["types"].append("subprocess.Popen")

        graph = edit_skops(fast[2], to_popen)
        bad = rewrite(
            fast[2], tmp_path / "b.skl", {"model.skops": graph}, manifest=declare
        )
        message = "names types" if declared else "does not declare"
        with pytest.raises(ValueError, match=message) as error:
            sklensemble.load(bad)
        assert "subprocess.Popen" in str(error.value)

    @pytest.mark.parametrize("where", ["weights", "torch.save", "array", "extra"])
    def test_pickle_exploit_never_runs(self, fast, tmp_path, where):
        path = fast[2]
        marker = tmp_path / "pwned"
        payload = pickle.dumps(Exploit(marker))
        pickle.loads(payload)  # the payload is live: unpickling runs it
        assert marker.exists()
        marker.rmdir()

        if where == "weights":
            bad = rewrite(path, tmp_path / "b.skl", {torch_part(path): payload})
        elif where == "torch.save":
            buffer = io.BytesIO()
            torch.save({"weight": Exploit(marker)}, buffer)
            bad = rewrite(
                path, tmp_path / "b.skl", {torch_part(path): buffer.getvalue()}
            )
        elif where == "array":

            def poison(entries):  # an object array whose element is the exploit
                name = next(n for n in entries if n.endswith(".npy"))
                buffer = io.BytesIO()
                np.save(buffer, np.array([Exploit(marker)], dtype=object))
                entries[name] = buffer.getvalue()

            graph = edit_skops(path, poison)
            bad = rewrite(path, tmp_path / "b.skl", {"model.skops": graph})
        else:
            bad = rewrite(path, tmp_path / "b.skl", add={"model.pkl": payload})
        with pytest.raises(ValueError, match="Refusing to load|could not be loaded"):
            sklensemble.load(bad)
        assert not marker.exists()

    @pytest.mark.parametrize(
        "content, message",
        [
            (b"not a zip", "not a zip file"),
            (None, "has no manifest.json"),
            ({"format": "sklensemble-safe", "format_version": 99}, "newer than"),
            ({"format": "other"}, "manifest format is not"),
        ],
    )
    def test_not_a_model_file(self, tmp_path, content, message):
        path = tmp_path / "x.skl"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            with zipfile.ZipFile(path, "w") as zf:
                if content is None:
                    zf.writestr("model.skops", b"")
                else:
                    zf.writestr("manifest.json", json.dumps(content))
        with pytest.raises(ValueError, match=message):
            sklensemble.load(path)


class TestSaveRefusals:
    @pytest.mark.parametrize(
        "step, listed",
        [(Identity(), "Identity"), (FunctionTransformer(double), "double")],
    )
    def test_types_load_would_refuse(self, tmp_path, step, listed):
        X, y = market_rows(60)
        model = Pipeline([("custom", step), ("scaler", RobustScaler())]).fit(X, y)
        with pytest.raises(
            ValueError, match=f"types that load\\(\\) refuses: .*{listed}"
        ):
            sklensemble.save(model, tmp_path / "m.skl")
        assert not (tmp_path / "m.skl").exists()

    def test_not_an_estimator(self, tmp_path):
        with pytest.raises(TypeError, match="expects a scikit-learn compatible"):
            sklensemble.save({"weights": [1, 2]}, tmp_path / "m.skl")

    def test_bare_member(self, tmp_path):
        X, y = market_rows(80)
        clf = XGBoostClassifier(n_estimators=5, n_jobs=1, random_state=0).fit(X, y)
        loaded = sklensemble.load(sklensemble.save(clf, tmp_path / "x.skl"))
        np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
        assert loaded.n_estimators_ == clf.n_estimators_

"""The SageMaker artifact (artifacts/sagemaker/xgb-v2/model.tar.gz) is the bundled xgb-v2 model, loaded as
the built-in XGBoost container loads it, fed CSV rows as the SageMaker scorer builds them.

xgboost is a dev dependency: skipped where it is not installed (the runtime venv).
"""

from __future__ import annotations

import json
import pickle
import tarfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from risk.score.scorers.logistic import MODELS_DIR
from risk.score.scorers.sagemaker import csv_rows
from risk.score.scorers.trees import TreeModel, TreeScorer
from risk.score.state import replay
from risk.score.vector import FEATURE_NAMES, vectorize
from stacks.config import SAGEMAKER_ARTIFACTS
from tools.generator import DAY_S, generate

VERSION = "xgb-v2"
ARTIFACT = SAGEMAKER_ARTIFACTS / VERSION / "model.tar.gz"
CHECKED_IN = MODELS_DIR / f"{VERSION}.json"

xgb = pytest.importorskip("xgboost")
train_xgb = pytest.importorskip("tools.train_xgb")


@pytest.fixture(scope="module")
def booster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tarball's model, loaded the container's way (serve_utils.get_loaded_booster in
    aws/sagemaker-xgboost-container): the one file in the model directory, pickle first, else
    ``Booster.load_model`` of that file as it is named (no extension to say its format)."""
    model_dir = tmp_path_factory.mktemp("opt-ml-model")
    with tarfile.open(ARTIFACT, "r:gz") as tar:
        tar.extractall(model_dir, filter="data")
    [path] = [p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(path.read_bytes())  # not a pickle: the container falls through to load_model
    loaded = xgb.Booster()
    with warnings.catch_warnings():  # "Unknown file format: ``. Using JSON": no extension, as in the container
        warnings.simplefilter("ignore", UserWarning)
        loaded.load_model(str(path))
    return loaded


def _container_predict(booster: Any, body: bytes) -> np.ndarray:
    """What the container does with a text/csv body (encoder.csv_to_dmatrix: an empty field is NaN)."""
    rows = [["nan" if f == "" else f for f in line.split(",")] for line in body.decode().split("\n")]
    return np.asarray(booster.predict(xgb.DMatrix(np.array(rows).astype(float)), validate_features=False))


def _vectors() -> tuple[list[Any], list[Any], list[list[float]]]:
    generated = generate(3_000, 11, duration_s=2 * DAY_S, high_volume_share=0.04)
    events = [g.as_risk_event() for g in generated]
    features, _ = replay(events)
    return events, features, [vectorize(e, f) for e, f in zip(events, features, strict=True)]


def test_the_artifact_holds_one_model_file_with_fixed_owner_and_mtime() -> None:
    with tarfile.open(ARTIFACT, "r:gz") as tar:
        [member] = tar.getmembers()
    assert (member.name, member.mtime, member.uid, member.gid, member.mode) == (
        train_xgb.SAGEMAKER_MODEL_MEMBER,
        0,
        0,
        0,
        0o644,
    )


def test_the_artifact_is_rewritten_byte_for_byte_from_its_own_model(booster: Any) -> None:
    assert train_xgb.sagemaker_artifact(booster) == ARTIFACT.read_bytes()


def test_the_artifacts_trees_are_the_checked_in_model_files_trees(booster: Any) -> None:
    bundled = json.loads(CHECKED_IN.read_text())
    exported = train_xgb.export(booster, VERSION, bundled["training"])
    assert exported["trees"] == bundled["trees"]
    assert exported["base_margin"] == bundled["base_margin"]


def test_the_models_feature_order_is_the_order_the_scorer_sends() -> None:
    with tarfile.open(ARTIFACT, "r:gz") as tar:
        member = tar.extractfile(train_xgb.SAGEMAKER_MODEL_MEMBER)
        assert member is not None
        doc = json.loads(member.read())
    assert tuple(doc["learner"]["feature_names"]) == FEATURE_NAMES
    assert tuple(TreeModel.load(CHECKED_IN).features) == FEATURE_NAMES


def test_container_predictions_on_scorer_csv_equal_the_functions_trees_within_1e6(booster: Any) -> None:
    events, features, vectors = _vectors()
    body = csv_rows(vectors)
    assert body.count(b"\n") == len(vectors) - 1
    theirs = _container_predict(booster, body)
    ours = np.array(TreeScorer(TreeModel.load(CHECKED_IN)).probabilities(events, features))
    assert len(theirs) == len(vectors)
    assert np.max(np.abs(ours - theirs)) <= 1e-6
    assert ours.std() > 0.05  # scores that vary: the comparison means something
    named = np.asarray(booster.predict(xgb.DMatrix(np.array(vectors), feature_names=list(FEATURE_NAMES))))
    assert np.max(np.abs(named - theirs)) == 0.0  # by position (CSV) = by name: the columns are in model order


def test_a_retrain_writes_the_artifact_beside_the_model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train_xgb, "SAGEMAKER_ARTIFACTS", tmp_path)
    tiny = xgb.train(
        {"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(np.array([[0.0], [1.0]]), label=[0, 1]), 1
    )
    out = train_xgb.write_sagemaker_artifact(tiny, "xgb-test")
    assert out == tmp_path / "xgb-test" / "model.tar.gz"
    assert out.read_bytes() == train_xgb.sagemaker_artifact(tiny)


def test_training_with_out_writes_the_tarball_beside_it_and_leaves_the_repos_artifact(tmp_path: Path) -> None:
    before = ARTIFACT.read_bytes()
    out = tmp_path / "xgb-small.json"
    from tools import train_model  # noqa: PLC0415

    assert train_model.main(["--model", "xgb", "--count", "3000", "--version", "xgb-v1", "--out", str(out)]) == 0
    with tarfile.open(out.with_suffix(".tar.gz"), "r:gz") as tar:
        assert tar.getnames() == [train_xgb.SAGEMAKER_MODEL_MEMBER]
    assert ARTIFACT.read_bytes() == before

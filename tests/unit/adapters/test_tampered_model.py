"""Scenario 19, tampered model artifact: the loader checks the files against the checksums recorded
at training and deserializes with skops and an allow-list only; no code from a tampered file runs.

The model directories here are real MLflow sklearn-flavor saves; the monitor-DAG side (refused at
scoring, the fallback serves) is in tests/integration/test_fallback_dag.py.
"""

from __future__ import annotations

import os
import pickle  # nosec B403  # builds the attacker's payload the loader must never unpickle
import shutil
from pathlib import Path

import pytest
import yaml

from mlcycle.adapters.model_files import checksum_tags, load_skops_model, verify_files
from mlcycle.core.names import Tag
from mlcycle.errors import ModelIntegrityError


class Payload:
    """Unpickling this creates ``marker``: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real skops-format MLflow model of a small scikit-learn pipeline, as training logs it."""
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), np.arange(60) % 2
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    out = tmp_path_factory.mktemp("model") / "model"
    mlflow.sklearn.save_model(
        model, str(out), serialization_format="skops", pip_requirements=["scikit-learn"]
    )
    return out


def _copy(saved: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved, tmp_path / "model"))


def test_payload_is_live(tmp_path: Path) -> None:
    """The payload does run when unpickled: the refusals below are not vacuous."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(Payload(marker)))  # nosec B301  # our own payload, on purpose
    assert marker.exists()


def test_untampered_model_verifies_and_loads(saved_model: Path, tmp_path: Path) -> None:
    model_dir = _copy(saved_model, tmp_path)
    tags = checksum_tags(model_dir)
    verify_files(model_dir, tags, "model 'm' version 1")
    model = load_skops_model(model_dir, "model 'm' version 1")
    assert model.predict([[0.0, 0.0, 0.0]]).shape == (1,)


def test_pickle_payload_in_place_of_the_model_file_is_refused_by_checksum(
    saved_model: Path, tmp_path: Path
) -> None:
    model_dir = _copy(saved_model, tmp_path)
    tags = checksum_tags(model_dir)
    marker = tmp_path / "pwned"
    (model_dir / "model.skops").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ModelIntegrityError) as info:
        verify_files(model_dir, tags, "model 'm' version 3")
    assert "model 'm' version 3" in str(info.value) and "changed: ['model.skops']" in str(info.value)
    with pytest.raises(ModelIntegrityError, match=r"model\.skops is not a skops file"):
        load_skops_model(model_dir, "model 'm' version 3")  # even without the checksum: never unpickled
    assert not marker.exists()


def test_pickle_format_is_refused_even_with_matching_checksums(saved_model: Path, tmp_path: Path) -> None:
    """An attacker who can also re-tag the version (checksums match) still gets no pickle path."""
    model_dir = _copy(saved_model, tmp_path)
    marker = tmp_path / "pwned"
    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"].update(serialization_format="cloudpickle", pickled_model="model.pkl")
    (model_dir / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    (model_dir / "model.pkl").write_bytes(pickle.dumps(Payload(marker)))
    verify_files(model_dir, checksum_tags(model_dir), "model 'm' version 4")  # re-tagged: passes
    with pytest.raises(ModelIntegrityError, match="serialization_format 'cloudpickle'; only 'skops'"):
        load_skops_model(model_dir, "model 'm' version 4")
    assert not marker.exists()


def test_skops_file_with_an_untrusted_type_is_refused(saved_model: Path, tmp_path: Path) -> None:
    import skops.io as sio

    model_dir = _copy(saved_model, tmp_path)
    sio.dump({"model": "x", "hook": os.system}, model_dir / "model.skops")
    with pytest.raises(ModelIntegrityError) as info:
        load_skops_model(model_dir, "model 'm' version 5")
    assert "model.skops holds types outside the allow-list" in str(info.value)
    assert "system" in str(info.value)


def test_partial_is_trusted_only_around_allow_listed_functions(saved_model: Path, tmp_path: Path) -> None:
    """HistGradientBoosting with categorical features holds ``partial(check_array)``: that loads; a
    partial around anything else (here ``os.system``) is refused by the wrapped function's own type."""
    import functools

    import skops.io as sio
    from sklearn.utils.validation import check_array

    model_dir = _copy(saved_model, tmp_path)
    sio.dump({"check": functools.partial(check_array, ensure_all_finite=False)}, model_dir / "model.skops")
    loaded = load_skops_model(model_dir, "model 'm' version 8")
    assert loaded["check"].func is check_array
    sio.dump({"hook": functools.partial(os.system, "true")}, model_dir / "model.skops")
    with pytest.raises(ModelIntegrityError) as info:
        load_skops_model(model_dir, "model 'm' version 9")
    assert str(info.value).endswith(": ['posix.system']; refusing to load it")  # the partial itself is fine


def test_altered_manifest_tag_is_refused(saved_model: Path, tmp_path: Path) -> None:
    model_dir = _copy(saved_model, tmp_path)
    tags = checksum_tags(model_dir)
    tags[Tag.MODEL_FILES] = tags[Tag.MODEL_FILES].replace('"MLmodel":"', '"MLmodel":"0')
    with pytest.raises(ModelIntegrityError, match="recorded checksums were altered"):
        verify_files(model_dir, tags, "model 'm' version 6")


def test_missing_and_extra_files_are_named(saved_model: Path, tmp_path: Path) -> None:
    model_dir = _copy(saved_model, tmp_path)
    tags = checksum_tags(model_dir)
    (model_dir / "conda.yaml").unlink()
    (model_dir / "sitecustomize.py").write_text("print('hi')\n")
    with pytest.raises(ModelIntegrityError) as info:
        verify_files(model_dir, tags, "model 'm' version 7")
    assert "missing: ['conda.yaml']" in str(info.value) and "unexpected: ['sitecustomize.py']" in str(
        info.value
    )

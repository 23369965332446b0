"""Model files: checksums recorded at training, verified and loaded through skops' type allow-list."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

from mlcycle.adapters.store import file_sha256
from mlcycle.core.names import Artifact, Tag
from mlcycle.errors import ModelIntegrityError, TrainingError

# Types a skops-serialised model may contain: scikit-learn's own classes and numpy/scipy data.
TRUSTED_TYPE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.")

# and these exactly: HistGradientBoosting with categorical features keeps
# ``partial(sklearn.utils.validation.check_array, ...)`` in its preprocessor. skops lists the wrapped
# function as a type of its own, so a partial of anything outside the prefixes is still refused.
TRUSTED_TYPES = frozenset({"functools.partial"})


def foreign_types(types: list[str]) -> list[str]:
    return [t for t in types if not t.startswith(TRUSTED_TYPE_PREFIXES) and t not in TRUSTED_TYPES]


# MLflow's client writes this into a models:/<name>/<version> download (the name and version it was
# fetched as); it is not part of the logged artifact.
CLIENT_WRITTEN = frozenset({"registered_model_meta"})


def files_manifest(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory``, by path relative to it."""
    return {
        p.relative_to(directory).as_posix(): file_sha256(p)
        for p in sorted(directory.rglob("*"))
        if (p.is_file() or p.is_symlink()) and p.relative_to(directory).as_posix() not in CLIENT_WRITTEN
    }


def manifest_sha256(manifest: dict[str, str]) -> str:
    """One checksum for the whole artifact: sha256 of the manifest's canonical JSON."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def checksum_tags(directory: Path) -> dict[str, str]:
    """The version tags that let a later load verify these files."""
    manifest = files_manifest(directory)
    return {
        Tag.MODEL_SHA256: manifest_sha256(manifest),
        Tag.MODEL_FILES: json.dumps(manifest, sort_keys=True, separators=(",", ":")),
    }


def verify_files(directory: Path, tags: dict[str, str], label: str) -> None:
    """Refuse ``directory`` unless its files match the manifest recorded in ``tags``."""
    manifest = json.loads(tags[Tag.MODEL_FILES])
    if manifest_sha256(manifest) != tags.get(Tag.MODEL_SHA256):
        raise ModelIntegrityError(
            f"{label}: tag {Tag.MODEL_FILES} does not match tag {Tag.MODEL_SHA256}; the recorded checksums "
            "were altered. Refusing to load the model; roll back (mlcycle rollback) or retrain"
        )
    actual = files_manifest(directory)
    changed = sorted(k for k in manifest if k in actual and actual[k] != manifest[k])
    missing = sorted(set(manifest) - set(actual))
    extra = sorted(set(actual) - set(manifest))
    if changed or missing or extra:
        parts = [
            f"{what} {names}"
            for what, names in (("changed:", changed), ("missing:", missing), ("unexpected:", extra))
            if names
        ]
        raise ModelIntegrityError(
            f"{label}: model files differ from the sha256 recorded at registration ({'; '.join(parts)}); "
            "refusing to load it. Roll back (mlcycle rollback) or retrain; do not re-tag a file you did not build"
        )


def load_skops_model(directory: Path, label: str) -> Any:
    """The scikit-learn model of an MLflow sklearn-flavor directory, through skops and the allow-list."""
    import skops.io as sio
    import yaml

    try:
        mlmodel = yaml.safe_load((directory / "MLmodel").read_text())
        flavor = mlmodel["flavors"]["sklearn"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ModelIntegrityError(f"{label}: MLmodel has no readable sklearn flavor ({exc})") from exc
    fmt = flavor.get("serialization_format")
    if fmt != "skops":
        raise ModelIntegrityError(
            f"{label}: MLmodel declares serialization_format {fmt!r}; only 'skops' models are loaded "
            "(pickle and cloudpickle run code from the file). Retrain it with this version of mlcycle"
        )
    name = str(flavor.get("pickled_model") or "")
    path = (directory / name).resolve()
    if not name or directory.resolve() not in path.parents or not path.is_file():
        raise ModelIntegrityError(
            f"{label}: MLmodel names model file {name!r}, which is not a file of the artifact"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            types = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a non-skops file fails in zipfile/json in many ways; all mean "refuse"
        raise ModelIntegrityError(
            f"{label}: {name} is not a skops file ({type(exc).__name__}: {exc})"
        ) from exc
    foreign = foreign_types(types)
    if foreign:
        raise ModelIntegrityError(
            f"{label}: {name} holds types outside the allow-list {[*TRUSTED_TYPE_PREFIXES, *sorted(TRUSTED_TYPES)]}: "
            f"{foreign}; "
            "refusing to load it"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sio.load(path, trusted=types)


def load_verified_model(model_uri: str, tags: dict[str, str] | None, label: str) -> Any:
    """Download ``model_uri``, check its files against ``tags`` (when recorded), load it with skops.

    Versions registered before checksums were recorded carry no tags; they load through skops'
    allow-list only, with a warning.
    """

    import mlflow

    with tempfile.TemporaryDirectory(prefix="mlcycle-model-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        if tags and Tag.MODEL_FILES in tags:
            verify_files(local, tags, label)
        else:
            logging.getLogger(__name__).warning(
                "%s: no checksum recorded (registered before mlcycle recorded them); loading through "
                "skops' type allow-list only",
                label,
            )
        return load_skops_model(local, label)


def load_verified_json(run_id: str, artifact_path: str, sha256: str, label: str) -> Any:
    """A JSON artifact of ``run_id``, refused unless its bytes hash to ``sha256``."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="mlcycle-json-") as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path, dst_path=tmp)
        )
        data = local.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ModelIntegrityError(
            f"{label}: {artifact_path} of run {run_id} has sha256 {actual[:12]}…, not the {sha256[:12]}… "
            "recorded at registration; refusing it"
        )
    return json.loads(data)


def dump_json(payload: Any) -> tuple[str, str]:
    """Canonical JSON text of ``payload`` and its sha256 (what is logged and what is tagged)."""
    text = json.dumps(payload, sort_keys=True, indent=1)
    return text, hashlib.sha256(text.encode()).hexdigest()


def load_sklearn_model(model_uri: str, tags: dict[str, str] | None = None, label: str | None = None) -> Any:
    """The model at ``model_uri``, its files checked against the checksum ``tags`` recorded at
    training, deserialized by skops with the type allow-list only (see ``mlcycle.adapters.model_files``)."""

    return load_verified_model(model_uri, tags, label or model_uri)


def trusted_types(model: Any) -> list[str]:
    """The skops types of ``model``; refuse any outside scikit-learn, numpy and scipy."""
    import skops.io as sio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skops probes module attributes; Airflow warns on each probe
        types = sio.get_untrusted_types(data=sio.dumps(model))
    foreign = foreign_types(types)
    if foreign:
        raise TrainingError(f"the fitted model contains types skops should not trust: {foreign}")
    return types


def log_sklearn_model(estimator: Any, example: Any) -> str:
    """Log the fitted ``estimator`` into the active run as skops (its types allow-listed), with its
    signature and input example taken from ``example`` rows; return the model's URI."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    signature = infer_signature(example, estimator.predict(example))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = mlflow.sklearn.log_model(
            sk_model=estimator,
            name=Artifact.MODEL,
            signature=signature,
            input_example=example,
            serialization_format="skops",
            skops_trusted_types=trusted_types(estimator),
            pip_requirements=_pip_requirements(),
        )
    return str(info.model_uri)


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{n}=={version(n)}" for n in ("scikit-learn", "pandas", "numpy", "scipy", "skops", "mlflow")]

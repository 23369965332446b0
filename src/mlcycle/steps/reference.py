"""The drift reference: feature statistics of the training snapshot and the model's outputs, stored with the model."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcycle.adapters.sources import load_snapshot
from mlcycle.config.loader import Pipeline
from mlcycle.core.names import Artifact, Tag, snapshot_key
from mlcycle.core.scoring import PREDICTION, drift_output, predict, prediction_kind
from mlcycle.errors import MlcycleError, StorageError
from mlcycle.steps.context import Env

if TYPE_CHECKING:
    import pandas as pd

    from mlcycle.adapters.tracking import TrackedRun

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReferenceInputs:
    """What the reference needs from the training snapshot, taken before the model is fitted (so the
    snapshot can be freed first): feature statistics of every row and the rows the model will score."""

    profile: dict[str, Any]
    scored: pd.DataFrame


def reference_inputs(pipe: Pipeline, X: pd.DataFrame) -> ReferenceInputs:
    """Feature statistics of every row of ``X`` (the feature frame) and a seeded sample of at most
    ``drift.prediction_reference_rows`` rows for the model's output profile (the profile records how many)."""
    from mlcycle.core.drift import build_profile, sample

    feats = pipe.config.data.features
    drift_cfg = pipe.config.monitoring.drift
    scored = sample(X, max(drift_cfg.prediction_reference_rows, _ref_sample_rows(pipe)), drift_cfg.seed)
    return ReferenceInputs(build_profile(X, feats.numeric, feats.categorical), scored.copy())


def complete_reference(
    pipe: Pipeline, model: Any, inputs: ReferenceInputs
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The reference profile and fixed-size sample, with the fitted model's output on the sampled rows."""
    import pandas as pd

    from mlcycle.core.drift import domain_baseline, prediction_profile, sample

    scored = inputs.scored
    out = pd.Series(drift_output(pipe, predict(pipe, model, scored)), index=scored.index)
    profile = {**inputs.profile, "prediction": prediction_profile(out, prediction_kind(pipe))}
    profile["prediction_kind"] = prediction_kind(pipe)
    drift_cfg = pipe.config.monitoring.drift
    ref_sample = sample(
        scored.assign(**{PREDICTION: out}), _ref_sample_rows(pipe), drift_cfg.seed
    ).reset_index(drop=True)
    if drift_cfg.domain_classifier:
        feats = pipe.config.data.features
        columns = drift_cfg.columns or feats.all
        profile["domain_baseline"] = domain_baseline(
            sample(ref_sample, 2 * drift_cfg.domain_sample_rows, drift_cfg.seed),
            [c for c in feats.numeric if c in columns],
            [c for c in feats.categorical if c in columns],
            drift_cfg.seed,
        )
    return profile, ref_sample


def _ref_sample_rows(pipe: Pipeline) -> int:
    drift_cfg = pipe.config.monitoring.drift
    return max(drift_cfg.report_sample_rows, drift_cfg.domain_sample_rows)


def build_reference(pipe: Pipeline, model: Any, frame: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """Reference statistics of the training snapshot and a fixed-size sample, both with predictions.

    Feature statistics use every row; the model's output is profiled on a seeded sample of at most
    ``drift.prediction_reference_rows`` rows (the profile records how many).
    """
    from mlcycle.core.features import feature_frame

    return complete_reference(pipe, model, reference_inputs(pipe, feature_frame(pipe, frame)))


def log_reference(run: TrackedRun, profile: dict[str, Any], ref_sample: pd.DataFrame) -> None:
    """Store the reference with the model: artifacts ``reference/`` of its MLflow run."""
    with tempfile.TemporaryDirectory(prefix="mlcycle-ref-") as tmp:
        (Path(tmp) / "profile.json").write_text(json.dumps(profile))
        ref_sample.to_parquet(Path(tmp) / "sample.parquet", index=False)
        run.log_artifacts(tmp, Artifact.REFERENCE_DIR)


PERFORMANCE_FILE = "performance.json"


def log_performance_reference(
    pipe: Pipeline, run: TrackedRun, scored: Any, y: pd.Series, metrics: dict[str, Any]
) -> None:
    """Calibrate the candidate on its holdout and store what the label-free estimate needs beside its
    reference (binary classifiers with monitoring and ``quality.estimate`` on)."""
    import numpy as np

    from mlcycle.core.performance import performance_reference

    mon = pipe.config.monitoring
    if not (pipe.config.monitoring_enabled and mon.quality.estimate):
        return
    if pipe.config.model.task != "binary_classification" or scored.proba is None or y.nunique() < 2:
        return
    pos = scored.positive
    proba = scored.proba[:, list(scored.classes).index(pos)]
    truth = (y.to_numpy() == pos).astype("int64")
    perf = performance_reference(
        proba, truth, np.asarray(scored.values == pos, dtype="int64"), seed=mon.drift.seed
    )
    positive = pos.item() if hasattr(pos, "item") else pos  # JSON keeps an int label an int
    perf.update(positive=positive, validation={k: v for k, v in metrics.items() if v is not None})
    with tempfile.TemporaryDirectory(prefix="mlcycle-perf-") as tmp:
        (Path(tmp) / PERFORMANCE_FILE).write_text(json.dumps(perf))
        run.log_artifacts(tmp, Artifact.REFERENCE_DIR)


def load_reference(
    env: Env, champion: Any, load_model: Callable[[], Any]
) -> tuple[dict[str, Any], pd.DataFrame, str]:
    """The champion's reference (profile, sample, where from). Models trained before references were
    stored get one computed from their training snapshot and logged to their run, once."""

    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="mlcycle-ref-") as tmp:
        try:
            local = env.tracking.download(tmp, run_id=champion.run_id, artifact_path=Artifact.REFERENCE_DIR)
            profile = json.loads((Path(local) / "profile.json").read_text())
            perf = Path(local) / PERFORMANCE_FILE
            if perf.is_file():  # the calibration evaluate stored beside it (binary classifiers)
                profile["performance"] = json.loads(perf.read_text())
            return profile, pd.read_parquet(Path(local) / "sample.parquet"), "stored with the model"
        except (OSError, StorageError) as exc:
            log.warning("champion v%s has no stored reference (%s); computing it", champion.version, exc)
    tags = env.registry.version_tags(champion.version)
    sha = tags.get(Tag.SNAPSHOT_SHA256)
    if not sha:
        raise MlcycleError(
            f"champion v{champion.version} of {env.pipe.model_name!r} has no mlcycle.snapshot_sha256 tag, "
            "so its training data is unknown; retrain it with the training DAG"
        )
    frame = load_snapshot(env.store, snapshot_key(env.pipe.name, sha))
    profile, ref_sample = build_reference(env.pipe, load_model(), frame)
    with env.tracking.run(champion.run_id) as run:
        log_reference(run, profile, ref_sample)
    return profile, ref_sample, "computed from the training snapshot"

"""The monitoring DAG's steps: load the window, score it with the champion, measure drift, decide, act.

Each step publishes a JSON record under ``runs/<dag_id>/<run>/`` like the training steps. State
the retrain guard needs lives in the artifact store under ``monitor/<pipeline>/``:
``windows/<window>.json`` (the latest verdict per window) and ``events/<time>-<kind>.json``
(append-only alerts and retrain requests), so it survives restarts and needs no database.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlcycle.config import Pipeline
from mlcycle.errors import DataSourceError, MlcycleError
from mlcycle.ingest import SourceSpec, load_snapshot, publish_table, read_source, resolve_local
from mlcycle.stages import Env

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

REFERENCE_DIR = "reference"
PREDICTION = "prediction"  # what is served: the model's output after the postprocess rules
MODEL_PREDICTION = "model_prediction"  # the model's (or fallback's) own output; drift is measured on it
PROBABILITY = "probability"
CHAMPION_SERVED = "champion"
FALLBACK = "fallback"


class NoChampionError(MlcycleError):
    """The model has no champion to monitor yet."""


class EmptyWindowError(MlcycleError):
    """No (or too few) rows in the window; the YAML says whether that skips or fails the run."""


class UnseenLabelError(MlcycleError):
    """The window's labels hold classes the champion never saw: its quality cannot be measured."""


def check_known_labels(pipe: Pipeline, model: Any, labels: pd.Series, version: str) -> None:
    """Refuse labels outside the champion's classes, naming the column, each label and its count."""
    import numpy as np

    known = set(np.asarray(model.classes_).tolist())
    counts = labels.value_counts()
    unseen = {v: int(n) for v, n in counts.items() if v not in known}
    if unseen:
        column = labels.name
        raise UnseenLabelError(
            f"label column {column!r} has {sum(unseen.values())} row(s) with labels champion v{version} "
            f"of {pipe.model_name!r} never saw in training: {unseen} (known: {sorted(known, key=str)}). "
            "Fix the labels upstream, or retrain on data that has the new class; set "
            "monitoring.quality.label_column: null to monitor without labels."
        )


# --- reference statistics, computed when a model is trained ---------------------------------------


def prediction_kind(pipe: Pipeline) -> str:
    """Binary classifiers and regressors drift on a number; multiclass on the predicted label."""
    return "categorical" if pipe.config.model.task == "multiclass_classification" else "numeric"


def predict(pipe: Pipeline, model: Any, X: pd.DataFrame) -> dict[str, Any]:
    """The model's output per row: ``prediction`` (label or value) and, for classifiers, ``probability``.

    For binary classification ``probability`` is the positive class's; for multiclass the top class's.
    One pass of the model over X (``evaluation.predict_rows``): labels come from the probabilities.
    """
    import numpy as np

    from mlcycle.evaluation import predict_rows

    scored = predict_rows(pipe, model, X)
    if not pipe.config.model.is_classification:
        return {PREDICTION: np.asarray(scored.values, dtype="float64")}
    if scored.proba is None:  # every classifier in the allow-list has predict_proba
        raise MlcycleError(f"{type(model).__name__} has no predict_proba; it cannot be monitored")
    if pipe.config.model.task == "binary_classification":
        positive = scored.proba[:, list(scored.classes).index(scored.positive)]
        return {PREDICTION: scored.values, PROBABILITY: positive}
    return {PREDICTION: scored.values, PROBABILITY: scored.proba.max(axis=1)}


def drift_column(pipe: Pipeline) -> str:
    """The model output prediction drift is measured on: the positive-class probability for binary
    classifiers (labels hide most movement), the label for multiclass, the value for regression."""
    return PROBABILITY if pipe.config.model.task == "binary_classification" else PREDICTION


def drift_output(pipe: Pipeline, outputs: dict[str, Any]) -> Any:
    return outputs[drift_column(pipe)]


@dataclass(frozen=True)
class ReferenceInputs:
    """What the reference needs from the training snapshot, taken before the model is fitted (so the
    snapshot can be freed first): feature statistics of every row and the rows the model will score."""

    profile: dict[str, Any]
    scored: pd.DataFrame


def reference_inputs(pipe: Pipeline, X: pd.DataFrame) -> ReferenceInputs:
    """Feature statistics of every row of ``X`` (the feature frame) and a seeded sample of at most
    ``drift.prediction_reference_rows`` rows for the model's output profile (the profile records how many)."""
    from mlcycle.drift import build_profile, sample

    feats = pipe.config.data.features
    drift_cfg = pipe.config.monitoring.drift
    scored = sample(X, max(drift_cfg.prediction_reference_rows, _ref_sample_rows(pipe)), drift_cfg.seed)
    return ReferenceInputs(build_profile(X, feats.numeric, feats.categorical), scored.copy())


def complete_reference(pipe: Pipeline, model: Any, inputs: ReferenceInputs) -> tuple[dict[str, Any], pd.DataFrame]:
    """The reference profile and fixed-size sample, with the fitted model's output on the sampled rows."""
    import pandas as pd

    from mlcycle.drift import prediction_profile, sample

    scored = inputs.scored
    out = pd.Series(drift_output(pipe, predict(pipe, model, scored)), index=scored.index)
    profile = {**inputs.profile, "prediction": prediction_profile(out, prediction_kind(pipe))}
    profile["prediction_kind"] = prediction_kind(pipe)
    seed = pipe.config.monitoring.drift.seed
    ref_sample = sample(scored.assign(**{PREDICTION: out}), _ref_sample_rows(pipe), seed).reset_index(drop=True)
    return profile, ref_sample


def _ref_sample_rows(pipe: Pipeline) -> int:
    drift_cfg = pipe.config.monitoring.drift
    return max(drift_cfg.report_sample_rows, drift_cfg.domain_sample_rows)


def build_reference(pipe: Pipeline, model: Any, frame: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """Reference statistics of the training snapshot and a fixed-size sample, both with predictions.

    Feature statistics use every row; the model's output is profiled on a seeded sample of at most
    ``drift.prediction_reference_rows`` rows (the profile records how many).
    """
    from mlcycle.training import feature_frame

    return complete_reference(pipe, model, reference_inputs(pipe, feature_frame(pipe, frame)))


def log_reference(profile: dict[str, Any], ref_sample: pd.DataFrame) -> None:
    """Store the reference with the model: artifacts ``reference/`` of the active MLflow run."""
    import tempfile
    from pathlib import Path

    import mlflow

    with tempfile.TemporaryDirectory(prefix="mlcycle-ref-") as tmp:
        (Path(tmp) / "profile.json").write_text(json.dumps(profile))
        ref_sample.to_parquet(Path(tmp) / "sample.parquet", index=False)
        mlflow.log_artifacts(tmp, REFERENCE_DIR)


def load_reference(
    env: Env, champion: Any, load_model: Callable[[], Any]
) -> tuple[dict[str, Any], pd.DataFrame, str]:
    """The champion's reference (profile, sample, where from). Models trained before references were
    stored get one computed from their training snapshot and logged to their run, once."""
    import tempfile
    from pathlib import Path

    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(env.settings.tracking_uri)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bars in task logs
    with tempfile.TemporaryDirectory(prefix="mlcycle-ref-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=champion.run_id, artifact_path=REFERENCE_DIR, dst_path=tmp
            )
            profile = json.loads((Path(local) / "profile.json").read_text())
            return profile, pd.read_parquet(Path(local) / "sample.parquet"), "stored with the model"
        except (OSError, mlflow.exceptions.MlflowException) as exc:
            log.warning("champion v%s has no stored reference (%s); computing it", champion.version, exc)
    tags = env_version_tags(env, champion.version)
    sha = tags.get("mlcycle.snapshot_sha256")
    if not sha:
        raise MlcycleError(
            f"champion v{champion.version} of {env.pipe.model_name!r} has no mlcycle.snapshot_sha256 tag, "
            "so its training data is unknown; retrain it with the training DAG"
        )
    frame = load_snapshot(env.store, f"snapshots/{env.pipe.name}/{sha}.parquet")
    profile, ref_sample = build_reference(env.pipe, load_model(), frame)
    with mlflow.start_run(run_id=champion.run_id):
        log_reference(profile, ref_sample)
    return profile, ref_sample, "computed from the training snapshot"


def env_version_tags(env: Env, version: str) -> dict[str, str]:
    from mlcycle.registry import MlflowRegistry

    return MlflowRegistry(env.pipe.model_name, env.settings.tracking_uri).version_tags(version)


# --- the window ----------------------------------------------------------------------------------


def window_key(start: datetime, end: datetime) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    return f"{start.astimezone(UTC).strftime(fmt)}-{end.astimezone(UTC).strftime(fmt)}"


def expand_source(source: str, start: datetime, end: datetime) -> list[str]:
    """A time-partitioned source (``…/dt={date:%Y-%m-%d}/``) as the partitions the window touches."""
    if "{" not in source:
        return [source]
    day = datetime(start.year, start.month, start.day, tzinfo=UTC)
    last = end - timedelta(microseconds=1) if end > start else start
    out: list[str] = []
    while day <= last:
        try:
            name = source.format(date=day)
        except (KeyError, IndexError, ValueError) as exc:
            raise DataSourceError(
                f"monitoring.source {source!r}: only the field {{date:<strftime format>}} is allowed ({exc})"
            ) from exc
        if name not in out:
            out.append(name)
        day += timedelta(days=1)
    return out


@dataclass(frozen=True)
class WindowSpec:
    source: str
    format: str
    timestamp_column: str | None
    label_column: str | None
    key: str  # the YAML key the source came from


def window_spec(pipe: Pipeline) -> WindowSpec:
    cfg = pipe.config
    mon = cfg.monitoring
    label = mon.quality.label_column or cfg.data.target
    return WindowSpec(
        source=mon.source or cfg.data.source,
        format=mon.format or (cfg.data.format if mon.source is None else "auto"),
        timestamp_column=mon.timestamp_column or cfg.data.timestamp_column,
        label_column=label,
        key="monitoring.source" if mon.source else "data.source",
    )


def window_columns(pipe: Pipeline, spec: WindowSpec) -> list[str]:
    data = pipe.config.data
    out: list[str] = []
    for col in [data.id_column, spec.timestamp_column, *data.features.all]:
        if col and col not in out:
            out.append(col)
    return out


def load_window(env: Env, start: datetime, end: datetime) -> dict[str, Any]:
    """Read the production rows of ``[start, end)``; publish them content-addressed; record the window."""
    import pyarrow as pa

    pipe = env.pipe
    mon = pipe.config.monitoring
    spec = window_spec(pipe)
    columns = window_columns(pipe, spec)
    optional = (spec.label_column,) if spec.label_column and spec.label_column not in columns else ()
    tables, files = [], 0
    sources = expand_source(spec.source, start, end)
    for source in sources:
        table, n = read_source(
            SourceSpec(
                source,
                spec.format,
                columns,
                optional,
                spec.timestamp_column,
                spec.key,
                tuple(pipe.config.data.features.numeric),
            ),
            start,
            end,
            allow_missing="{" in spec.source,  # a time partition that never landed is an empty part
        )
        files += n
        if table is not None:
            tables.append(table)
    rows = sum(t.num_rows for t in tables)
    record: dict[str, Any] = {
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "window_key": window_key(start, end),
        "source": spec.source,
        "source_files": files,
        "rows": rows,
    }
    if rows < mon.min_rows:
        label = spec.source if spec.source.startswith("s3://") else str(resolve_local(spec.source))
        record.update(status="empty", policy=mon.on_empty)
        env.publish_json("window.json", record)
        raise EmptyWindowError(
            f"{label}: {rows} row(s) in the window [{start.isoformat()}, {end.isoformat()}) across {files} "
            f"file(s), fewer than monitoring.min_rows ({mon.min_rows}); monitoring.on_empty is "
            f"{mon.on_empty!r}. Check that production data lands there, or lower monitoring.min_rows."
        )
    table = pa.concat_tables(tables, promote_options="permissive")
    key, uri, sha = publish_table(env.store, table, f"windows/{pipe.name}")
    record.update(
        status="loaded",
        key=key,
        uri=uri,
        sha256=sha,
        columns={f.name: str(f.type) for f in table.schema},
        has_labels=bool(spec.label_column and spec.label_column in table.column_names),
    )
    env.publish_json("window.json", record)
    log.info("window %s: %d rows from %d file(s) -> %s", record["window_key"], rows, files, uri)
    return record


# --- scoring -------------------------------------------------------------------------------------


def score(
    env: Env, window: dict[str, Any], notify: Callable[[str], dict[str, str]] | None = None
) -> dict[str, Any]:
    """Batch-score the window with the champion (or, when it cannot serve, its fallback), apply the
    postprocess rules stored with it; publish a predictions table; measure quality on labels.

    ``notify(text)`` sends on the configured channels and returns ``{channel: error}`` for failures.
    """
    import mlflow
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from mlcycle.registry import CHAMPION, MlflowRegistry
    from mlcycle.rules import apply_rules
    from mlcycle.training import feature_frame

    pipe = env.pipe
    registry = MlflowRegistry(pipe.model_name, env.settings.tracking_uri)
    champion = registry.get_alias(CHAMPION)
    if champion is None:
        raise NoChampionError(
            f"model {pipe.model_name!r} has no '{CHAMPION}' alias yet: run {pipe.train_dag_id} first "
            "(the monitor scores windows with the champion)"
        )
    mlflow.set_tracking_uri(env.settings.tracking_uri)
    tags = registry.version_tags(champion.version)
    frame = load_snapshot(env.store, window["key"])
    spec = window_spec(pipe)
    label = spec.label_column
    X = feature_frame(pipe, frame)
    served = serve(env, champion, tags, X)
    model, outputs = served.model, served.outputs
    rules, rules_sha = stored_rules(champion, tags)
    final, fired = apply_rules(X, outputs[PREDICTION], rules)
    if pipe.config.model.is_classification and window.get("has_labels") and label in frame:
        check_known_labels(pipe, model, frame[label].dropna(), champion.version)  # before publishing
    data = pipe.config.data
    scored_at = datetime.now(UTC)
    n = len(frame)
    ids = pd.Series(np.arange(n)).astype(str)
    preds = pd.DataFrame({"prediction_id": f"{window['sha256'][:16]}-" + ids})
    for col in [data.id_column, spec.timestamp_column]:
        if col and col in frame:
            preds[col] = frame[col].to_numpy()
    for col in data.features.all:
        preds[col] = X[col].to_numpy()
    preds[PREDICTION] = final.to_numpy()
    preds[MODEL_PREDICTION] = outputs[PREDICTION]
    if PROBABILITY in outputs:
        preds[PROBABILITY] = outputs[PROBABILITY]
    preds = preds.assign(
        rule=fired.to_numpy(),
        served_by=served.served_by,
        model_name=pipe.model_name,
        model_version=champion.version,
        dag_id=env.ctx.dag_id,
        run_id=env.ctx.run_id,
        window_start=window["window_start"],
        window_end=window["window_end"],
        scored_at=scored_at.isoformat(),
    )
    table = pa.Table.from_pandas(preds, preserve_index=False)
    key = f"predictions/{pipe.name}/{window['window_key']}/v{champion.version}.parquet"
    uri = publish_parquet(env, table, key)

    quality = window_quality(env, window, frame, model, X)
    if quality is not None and "metrics" in quality:
        if served.served_by == FALLBACK:
            # the fallback's quality says nothing about the champion's: no degradation verdict on it
            quality["fallback_metrics"] = quality.pop("metrics")
            quality["skipped"] = "scored by the fallback: the champion's quality is unknown"
        else:
            primary = pipe.config.evaluation.primary_metric
            ref_value = tags.get(f"mlcycle.metric.{primary}")
            quality["reference"] = {primary: float(ref_value)} if ref_value is not None else {}
    counts = fired.value_counts()
    record: dict[str, Any] = {
        "model_name": pipe.model_name,
        "model_version": champion.version,
        "model_run_id": champion.run_id,
        "rows": n,
        "predictions_key": key,
        "predictions_uri": uri,
        "quality": quality,
        "served_by": served.served_by,
        "fallback": served.record(),
        "postprocess": {
            "rules": [r.get("name") for r in rules],
            "rules_sha256": rules_sha,
            "fired": {str(k): int(v) for k, v in counts.items()},
        },
    }
    if served.served_by == FALLBACK:
        record["fallback"]["notified"] = _announce_fallback(env, window, champion.version, served, notify)
    env.publish_json("score.json", record)
    log.info(
        "scored %d rows with %s v%s (%s) -> %s", n, pipe.model_name, champion.version, served.served_by, uri
    )
    return record


@dataclass(frozen=True)
class Served:
    """What scored the window: the champion, or its fallback and why."""

    served_by: str
    model: Any
    outputs: dict[str, Any]
    problem: str | None = None  # why the champion did not serve
    fallback_kind: str | None = None
    fallback_problem: str | None = None  # why no fallback was usable (recorded even when not needed)

    def record(self) -> dict[str, Any]:
        return {
            "used": self.served_by == FALLBACK,
            "kind": self.fallback_kind,
            "reason": self.problem,
            "unusable": self.fallback_problem,
        }


def serve(env: Env, champion: Any, tags: dict[str, str], X: pd.DataFrame) -> Served:
    """Run the champion on ``X`` if it loads verified and passes the health check, else its fallback."""
    from mlcycle.errors import FallbackError
    from mlcycle.evaluation import load_sklearn_model
    from mlcycle.fallback import FALLBACK_ARTIFACT, FALLBACK_SHA256_TAG, FallbackModel, champion_problem
    from mlcycle.integrity import load_verified_json

    pipe = env.pipe
    label = f"model {pipe.model_name!r} version {champion.version} ({champion.uri})"
    fallback: FallbackModel | None = None
    fallback_problem = None
    try:
        sha = tags.get(FALLBACK_SHA256_TAG)
        if not sha:
            raise MlcycleError(f"no fallback registered (no {FALLBACK_SHA256_TAG} tag)")
        fallback = FallbackModel(load_verified_json(champion.run_id, FALLBACK_ARTIFACT, sha, label))
    except Exception as exc:  # a missing or altered fallback matters only if the champion fails too
        fallback_problem = f"{type(exc).__name__}: {exc}"[:1000]
        log.warning("%s: no usable fallback: %s", label, fallback_problem)
    classes = fallback.spec.get("classes") if fallback else None
    try:
        model = load_sklearn_model(champion.uri, tags, label)
        outputs = predict(pipe, model, X)
        problem = champion_problem(pipe.config.model.task, outputs, len(X), classes)
    except Exception as exc:  # whatever stops the champion (missing, tampered, broken) is served around
        problem = f"{type(exc).__name__}: {exc}"
    if problem is None:
        return Served(CHAMPION_SERVED, model, outputs, fallback_problem=fallback_problem)
    problem = problem[:1000]
    if fallback is None:
        raise FallbackError(
            f"{label} cannot serve ({problem}) and no usable fallback is registered with it "
            f"({fallback_problem}); the window is not scored. Roll back (mlcycle rollback {pipe.name}) "
            f"or retrain ({pipe.train_dag_id})"
        )
    log.warning("SERVING THE FALLBACK (%s) instead of %s: %s", fallback.kind, label, problem)
    return Served(FALLBACK, fallback, predict(pipe, fallback, X), problem, fallback.kind)


def stored_rules(champion: Any, tags: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    """The postprocess rules registered with the champion (not today's YAML), verified."""
    from mlcycle.fallback import RULES_ARTIFACT, RULES_SHA256_TAG
    from mlcycle.integrity import load_verified_json

    sha = tags.get(RULES_SHA256_TAG)
    if not sha:
        return [], None  # registered before rules were stored with versions
    label = f"model {champion.name!r} version {champion.version}"
    return list(load_verified_json(champion.run_id, RULES_ARTIFACT, sha, label)), sha


def _announce_fallback(
    env: Env,
    window: dict[str, Any],
    version: str,
    served: Served,
    notify: Callable[[str], dict[str, str]] | None,
) -> dict[str, Any]:
    """Tell the failure channels the window was served by the fallback; what was sent, what failed."""
    pipe = env.pipe
    notes = pipe.config.notifications
    if not (notify and "failure" in notes.events and (notes.slack_conn_id or notes.email)):
        return {"sent": False, "why": "no failure channel configured (notifications.events, slack_conn_id, email)"}
    text = "\n".join(
        [
            f":rotating_light: mlcycle pipeline *{pipe.name}*: window {window['window_start']} .. "
            f"{window['window_end']} was scored by the FALLBACK ({served.fallback_kind}), not champion "
            f"v{version}",
            f"Why: {(served.problem or '')[:600]}",
            "Every prediction row says served_by=fallback. Fix or roll back the champion "
            f"(mlcycle rollback {pipe.name}), or retrain ({pipe.train_dag_id}).",
        ]
    )
    return {"sent": True, "failures": notify(text)}


def window_quality(
    env: Env, window: dict[str, Any], frame: pd.DataFrame, model: Any, X: pd.DataFrame
) -> dict[str, Any] | None:
    """``model``'s metrics on the window's labeled rows; None when the window has no label column."""
    from mlcycle.evaluation import compute_metrics

    pipe = env.pipe
    label = window_spec(pipe).label_column
    if not (window.get("has_labels") and label in frame):
        return None
    labelled = frame[label].notna().to_numpy()
    count = int(labelled.sum())
    if count < pipe.config.monitoring.quality.min_labelled_rows:
        return {"rows": count, "label_column": label, "skipped": "too few labelled rows"}
    y = frame.loc[labelled, label]
    y = y if pipe.config.model.is_classification else y.astype("float64")
    return {"rows": count, "label_column": label, "metrics": compute_metrics(pipe, model, X.loc[labelled], y)}


def publish_parquet(env: Env, table: Any, key: str) -> str:
    import tempfile
    from pathlib import Path

    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="mlcycle-pred-") as tmp:
        out = Path(tmp) / "predictions.parquet"
        pq.write_table(table, out, compression="zstd")
        return env.store.publish_file(out, key)


# --- drift ---------------------------------------------------------------------------------------


def detect_drift(env: Env, window: dict[str, Any], scored: dict[str, Any]) -> dict[str, Any]:
    """Full-data drift verdicts, the domain classifier, and Evidently's report on a sample."""
    import tempfile
    from pathlib import Path

    import mlflow

    from mlcycle.drift import dataset_drift, domain_classifier, evidently_report, sample
    from mlcycle.evaluation import load_sklearn_model
    from mlcycle.registry import VersionRef

    pipe = env.pipe
    feats = pipe.config.data.features
    cfg = pipe.config.monitoring.drift
    columns = cfg.columns or feats.all
    numeric = [c for c in feats.numeric if c in columns]
    categorical = [c for c in feats.categorical if c in columns]
    champion = VersionRef(pipe.model_name, scored["model_version"], scored["model_run_id"])
    output = MODEL_PREDICTION if drift_column(pipe) == PREDICTION else PROBABILITY
    current = load_snapshot(env.store, scored["predictions_key"], columns=[*columns, output])
    current = current.rename(columns={output: PREDICTION})  # the reference names it so too
    by_fallback = scored.get("served_by") == FALLBACK  # a heuristic's outputs are not the champion's drift
    mlflow.set_tracking_uri(env.settings.tracking_uri)
    profile, ref_sample, ref_origin = load_reference(
        env, champion, lambda: load_sklearn_model(champion.uri, env_version_tags(env, champion.version))
    )

    measured = dataset_drift(
        profile,
        current,
        columns,
        cfg.column_threshold,
        cfg.share_threshold,
        predictions=current[PREDICTION] if cfg.prediction_drift and not by_fallback else None,
    )
    domain = None
    if cfg.domain_classifier:
        domain = domain_classifier(
            ref_sample,
            current,
            numeric,
            categorical,
            cfg.domain_sample_rows,
            cfg.domain_auc_threshold,
            cfg.seed,
        ).to_dict()
    kind = profile.get("prediction_kind", "numeric")
    rep_num = numeric + ([PREDICTION] if kind == "numeric" else [])
    rep_cat = categorical + ([PREDICTION] if kind == "categorical" else [])
    cur_sample = sample(current, cfg.report_sample_rows, cfg.seed)
    ref_rep = sample(ref_sample, cfg.report_sample_rows, cfg.seed)
    with tempfile.TemporaryDirectory(prefix="mlcycle-drift-") as tmp:
        html = Path(tmp) / "drift_report.html"
        report = evidently_report(
            ref_rep, cur_sample, rep_num, rep_cat, str(html), cfg.column_threshold, cfg.share_threshold
        )
        html_uri = env.store.publish_file(html, env.record_key("drift_report.html"))
        json_uri = env.publish_json("drift_report.json", report)
        record = {
            "window_key": window["window_key"],
            "window_start": window["window_start"],
            "window_end": window["window_end"],
            "rows": len(current),
            "model_version": champion.version,
            "reference": {"rows": profile["rows"], "origin": ref_origin},
            "dataset": measured.to_dict(),
            "domain_classifier": domain,
            "report": {
                "html_uri": html_uri,
                "json_uri": json_uri,
                "current_sample_rows": len(cur_sample),
                "reference_sample_rows": len(ref_rep),
                "note": "Evidently's report is computed on these samples; the verdicts above on every row",
            },
        }
        record["mlflow_run_id"] = _log_monitoring_run(env, record, html, report, scored)
    record["drift_uri"] = env.publish_json("drift.json", record)
    log.info(
        "drift: share %.2f (%s), domain AUC %s, report %s",
        measured.share,
        ", ".join(measured.drifted_columns) or "no column drifted",
        domain["auc"] if domain else "n/a",
        html_uri,
    )
    return record


def _log_monitoring_run(
    env: Env, record: dict[str, Any], html: Any, report: dict[str, Any], scored: dict[str, Any]
) -> str:
    import mlflow

    from mlcycle.training import experiment_id

    pipe = env.pipe
    exp = experiment_id(pipe, env.settings.tracking_uri, env.settings.mlflow_artifact_root, "monitoring")
    metrics: dict[str, float] = {"drift_share": record["dataset"]["share"], "rows": float(record["rows"])}
    for col in record["dataset"]["columns"]:
        if col["score"] is not None:
            metrics[f"drift_{col['column']}"] = col["score"]
    pred = record["dataset"].get("prediction")
    if pred and pred["score"] is not None:
        metrics["drift_prediction"] = pred["score"]
    if record["domain_classifier"]:
        metrics["domain_auc"] = record["domain_classifier"]["auc"]
    quality = scored.get("quality") or {}
    for k, v in (quality.get("metrics") or {}).items():
        if v is not None:
            metrics[f"window_{k}"] = v
    tags = {
        "mlcycle.pipeline": pipe.name,
        "mlcycle.window": record["window_key"],
        "mlcycle.model_version": str(record["model_version"]),
        "mlcycle.predictions_uri": scored["predictions_uri"],
        "mlcycle.served_by": str(scored.get("served_by", CHAMPION_SERVED)),
        **env.ctx.tags(),
    }
    fallback = scored.get("fallback") or {}
    if fallback.get("used"):
        tags["mlcycle.fallback_reason"] = str(fallback.get("reason"))[:4000]
    with mlflow.start_run(experiment_id=exp, run_name=f"{record['window_key']}", tags=tags) as run:
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(html), "drift")
        mlflow.log_dict(report, "drift/drift_report.json")
        mlflow.log_dict({k: v for k, v in record.items() if k != "report"}, "drift/drift.json")
        return str(run.info.run_id)


# --- decide and act ------------------------------------------------------------------------------


def window_status_key(pipe: Pipeline, window_key_: str) -> str:
    return f"monitor/{pipe.name}/windows/{window_key_}.json"


def decide(env: Env, drift: dict[str, Any], scored: dict[str, Any]) -> dict[str, Any]:
    from mlcycle.decisions import decide_drift

    pipe = env.pipe
    quality = scored.get("quality")
    usable_quality = quality if quality and "metrics" in quality else None
    verdict = decide_drift(
        drift["dataset"],
        drift["domain_classifier"],
        usable_quality,
        pipe.config.monitoring,
        pipe.config.evaluation.primary_metric,
    )
    record = {
        **verdict.to_dict(),
        "window_key": drift["window_key"],
        "window_start": drift["window_start"],
        "window_end": drift["window_end"],
        "model_version": drift["model_version"],
        "report_uri": drift["report"]["html_uri"],
        "dag_id": env.ctx.dag_id,
        "run_id": env.ctx.run_id,
        "decided_at": datetime.now(UTC).isoformat(),
    }
    data = json.dumps(record, indent=2, sort_keys=True).encode()
    env.store.publish_bytes(data, window_status_key(pipe, drift["window_key"]))
    record["decision_uri"] = env.publish_json("decision.json", record)
    log.info("verdict %s:\n  %s", verdict.status, "\n  ".join(verdict.reasons))
    return record


def recent_statuses(env: Env, window_end: str, count: int) -> tuple[str, ...]:
    """Statuses of the ``count`` latest windows ending at or before ``window_end``, oldest first."""
    keys = env.store.list_keys(f"monitor/{env.pipe.name}/windows")
    records = [json.loads(env.store.read_bytes(k)) for k in keys if k.endswith(".json")]
    upto = sorted(
        (r for r in records if r["window_end"] <= window_end),
        key=lambda r: (r["window_end"], r["window_start"]),
    )
    return tuple(r["status"] for r in upto[-count:])


def last_event(env: Env, kind: str) -> datetime | None:
    keys = [k for k in env.store.list_keys(f"monitor/{env.pipe.name}/events") if k.endswith(f"-{kind}.json")]
    if not keys:
        return None
    return datetime.fromisoformat(json.loads(env.store.read_bytes(keys[-1]))["at"])


def record_event(env: Env, kind: str, payload: dict[str, Any], now: datetime) -> str:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    body = {
        "kind": kind,
        "at": now.isoformat(),
        "dag_id": env.ctx.dag_id,
        "run_id": env.ctx.run_id,
        **payload,
    }
    data = json.dumps(body, indent=2, sort_keys=True, default=str).encode()
    return env.store.publish_bytes(data, f"monitor/{env.pipe.name}/events/{stamp}-{kind}.json")


def alert_text(pipe: Pipeline, decision: dict[str, Any], link: str | None) -> str:
    head = {"drift": "drift detected", "degraded": "model quality degraded"}.get(decision["status"], "notice")
    lines = [
        f":warning: mlcycle pipeline *{pipe.name}*: {head} in window "
        f"{decision['window_start']} .. {decision['window_end']} (champion v{decision['model_version']})",
        *(f"- {r}" for r in decision["reasons"][:8]),
        f"Report: {link or decision['report_uri']}",
    ]
    return "\n".join(lines)


def act(
    env: Env,
    decision: dict[str, Any],
    *,
    active_training_runs: int,
    is_backfill: bool,
    retrain_param: bool | None,
    send_alert: Callable[[str], dict[str, str]],
    report_link: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Apply the guard to this window's verdict: alert (once per cooldown), request a retrain or not.

    ``send_alert(text)`` delivers on every configured channel and returns ``{channel: error}`` for
    the channels that failed (a failing channel never stops the others).
    """
    from mlcycle.decisions import GuardState, decide_action

    pipe = env.pipe
    mon = pipe.config.monitoring
    notes = pipe.config.notifications
    now = now or datetime.now(UTC)
    state = GuardState(
        recent=recent_statuses(env, decision["window_end"], mon.retrain.of_last_windows),
        last_retrain_at=last_event(env, "retrain"),
        last_alert_at=last_event(env, "alert"),
        active_training_runs=active_training_runs,
    )
    action = decide_action(
        decision["status"],
        state,
        mon,
        now,
        alerts_enabled="drift" in notes.events and bool(notes.slack_conn_id or notes.email),
        is_backfill=is_backfill,
        retrain_param=retrain_param,
    )
    record: dict[str, Any] = {
        **action.to_dict(),
        "status": decision["status"],
        "window_key": decision["window_key"],
        "recent_statuses": list(state.recent),
        "is_backfill": is_backfill,
        "allow_retrain_param": retrain_param,
    }
    if action.alert:
        failures = send_alert(alert_text(pipe, decision, report_link))
        record["alert_failures"] = failures
        record_event(env, "alert", {"window_key": decision["window_key"], "status": decision["status"]}, now)
    if action.retrain:
        record["retrain_dag_id"] = pipe.train_dag_id
        record["retrain_logical_date"] = decision["window_end"]
        record_event(
            env,
            "retrain",
            {
                "window_key": decision["window_key"],
                "train_dag_id": pipe.train_dag_id,
                "reasons": decision["reasons"],
                "allow_retrain_param": retrain_param,
            },
            now,
        )
    record["action_uri"] = env.publish_json("action.json", record)
    log.info("action:\n  %s", "\n  ".join(action.reasons))
    return record

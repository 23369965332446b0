"""Ingest: read the run's training window from the source and publish a content-addressed snapshot."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from mlcycle.adapters.sources import SourceSpec, publish_table, read_source
from mlcycle.adapters.store import ArtifactStore
from mlcycle.config.loader import Pipeline
from mlcycle.core.features import snapshot_columns
from mlcycle.core.names import snapshots_prefix
from mlcycle.core.records import Snapshot
from mlcycle.errors import ConfigError, DataSourceError
from mlcycle.steps.context import Env
from mlcycle.steps.labels import fill_from_labels, keep_labelled, read_labels

log = logging.getLogger(__name__)


def window_bounds(pipe: Pipeline, interval_end: datetime) -> tuple[datetime | None, datetime]:
    end = datetime.fromtimestamp(interval_end.timestamp(), tz=UTC)
    days = pipe.config.data.window.lookback_days
    return (end - timedelta(days=days) if days else None), end


def ingest_snapshot(pipe: Pipeline, interval_end: datetime, store: ArtifactStore) -> Snapshot:
    """Read the window ending at ``interval_end``; publish it as Parquet under a content hash key."""
    data = pipe.config.data
    start, end = window_bounds(pipe, interval_end)
    # the target is optional per file: features land before labels, and unlabelled rows are counted
    spec = SourceSpec(
        data.source,
        data.format,
        [c for c in snapshot_columns(pipe) if c != data.target],
        (data.target,),
        data.timestamp_column,
        numeric=tuple(data.features.numeric),
        path_date=data.window.path_date,
    )
    digests: dict[str, str] = {}
    pruned: list[str] = []
    table, n_files = read_source(spec, start, end, digests=digests, pruned=pruned)
    if table is None:
        window = f"[{start.isoformat() if start else '-inf'}, {end.isoformat()})"
        skipped = f" ({len(pruned)} skipped as outside the window)" if pruned else ""
        raise DataSourceError(
            f"{spec.label()}: no rows in the training window {window} across {n_files} file(s){skipped}; "
            "check the files, data.window.lookback_days, data.window.path_date and the run's logical date"
        )
    filled = 0
    labels = read_labels(pipe, as_of=end, allow_missing=True)
    if labels is not None and labels.num_rows and data.id_column in table.column_names:
        table, filled = fill_from_labels(table, labels, str(data.id_column), data.target)
    kept = keep_labelled(pipe, table, spec.label(), filled)
    table = kept.table.select([c for c in snapshot_columns(pipe) if c in kept.table.column_names])
    if kept.dropped:
        log.warning(
            "%d row(s) of the training window have no %r yet (labels not landed): dropped "
            "(checks.max_unlabelled_share %g)",
            kept.dropped,
            data.target,
            pipe.config.checks.max_unlabelled_share,
        )
    key, uri, digest = publish_table(store, table, snapshots_prefix(pipe.name))
    return Snapshot(
        uri=uri,
        key=key,
        sha256=digest,
        rows=table.num_rows,
        columns={f.name: str(f.type) for f in table.schema},
        window_start=start.isoformat() if start else None,
        window_end=end.isoformat(),
        source=data.source,
        source_files=n_files,
        source_digests=digests,
        source_files_skipped=len(pruned),
        unlabelled_dropped=kept.dropped,
        labels_filled=filled,
    )


def ingest(env: Env, interval_end: datetime, lookback_days: int | None = None) -> Snapshot:
    """Snapshot the training window ending at ``interval_end`` (``lookback_days`` overrides the YAML's)."""
    pipe = env.pipe
    if lookback_days is not None and not pipe.config.data.timestamp_column:
        raise ConfigError(
            pipe.path,
            [
                "lookback_days param: this pipeline has no data.timestamp_column, so rows cannot be "
                "selected by time; clear the param or set data.timestamp_column"
            ],
        )
    if lookback_days is not None:
        data = pipe.config.data.model_copy(
            update={"window": pipe.config.data.window.model_copy(update={"lookback_days": lookback_days})}
        )
        pipe = pipe.model_copy(update={"config": pipe.config.model_copy(update={"data": data})})
    snap = ingest_snapshot(pipe, interval_end, env.store)
    env.publish_record(snap)
    log.info("snapshot %s: %d rows, sha256 %s", snap.uri, snap.rows, snap.sha256)
    return snap

"""The monitored window: production rows of one data interval, published content-addressed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mlcycle.adapters.sources import SourceSpec, publish_table, read_source, resolve_local
from mlcycle.config.loader import Pipeline
from mlcycle.core.features import window_columns
from mlcycle.core.names import Record, windows_prefix
from mlcycle.core.records import Window
from mlcycle.errors import DataSourceError, MlcycleError
from mlcycle.steps.context import Env

log = logging.getLogger(__name__)


class EmptyWindowError(MlcycleError):
    """No (or too few) rows in the window; the YAML says whether that skips or fails the run."""


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


def load_window(env: Env, start: datetime, end: datetime) -> Window:
    """Read the production rows of ``[start, end)``; publish them content-addressed; record the window."""
    import pyarrow as pa

    pipe = env.pipe
    mon = pipe.config.monitoring
    spec = window_spec(pipe)
    columns = window_columns(pipe, spec.timestamp_column)
    optional = (spec.label_column,) if spec.label_column and spec.label_column not in columns else ()
    tables, files = [], 0
    digests: dict[str, str] = {}
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
                None if mon.source else pipe.config.data.window.path_date,  # dates data.source's files only
            ),
            start,
            end,
            allow_missing="{" in spec.source,  # a time partition that never landed is an empty part
            digests=digests,
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
        env.publish_json(Record.WINDOW, record)
        raise EmptyWindowError(
            f"{label}: {rows} row(s) in the window [{start.isoformat()}, {end.isoformat()}) across {files} "
            f"file(s), fewer than monitoring.min_rows ({mon.min_rows}); monitoring.on_empty is "
            f"{mon.on_empty!r}. Check that production data lands there, or lower monitoring.min_rows."
        )
    table = pa.concat_tables(tables, promote_options="permissive")
    key, uri, sha = publish_table(env.store, table, windows_prefix(pipe.name))
    window = Window(
        **record,
        status="loaded",
        key=key,
        uri=uri,
        sha256=sha,
        columns={f.name: str(f.type) for f in table.schema},
        has_labels=bool(spec.label_column and spec.label_column in table.column_names),
        source_digests=digests,
    )
    env.publish_record(window)
    log.info("window %s: %d rows from %d file(s) -> %s", window.window_key, rows, files, uri)
    return window

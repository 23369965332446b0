"""Reading the configured data sources (local files or S3) into Arrow, and publishing snapshots."""

from __future__ import annotations

import difflib
import glob
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from mlcycle.adapters.pruning import overlaps, parquet_time_range, path_period
from mlcycle.adapters.read_errors import converts_with, first_failing_row, shown_header, unreadable
from mlcycle.adapters.store import ArtifactStore, file_sha256, s3_client, split_s3_uri
from mlcycle.config.guards import allowed_sources, resolved_source_problem
from mlcycle.config.loader import project_root
from mlcycle.errors import DataSourceError

if TYPE_CHECKING:
    import pyarrow as pa


log = logging.getLogger(__name__)

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def data_root() -> Path:
    return Path(os.environ.get("MLCYCLE_DATA_ROOT") or project_root())


def _file_format(path: str, configured: str) -> str:
    if configured != "auto":
        return configured
    name = path.lower().removesuffix(".gz")
    for suffix, fmt in SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    raise DataSourceError(
        f"{path}: cannot tell the format from the suffix; set data.format to csv or parquet"
    )


def _is_data_file(name: str) -> bool:
    low = name.lower().removesuffix(".gz")
    return any(low.endswith(s) for s in SUFFIXES) and not Path(name).name.startswith(".")


def resolve_local(source: str) -> Path:
    """A local source as an absolute path (relative paths are under the data root)."""
    path = Path(source)
    return path if path.is_absolute() else data_root() / path


def check_confined(path: str, key: str = "data.source") -> None:
    """Refuse a local file whose resolved path (symlinks followed) leaves the data root and allowed roots.

    Called as each file is opened: the config loader judges the YAML's text, this the file system.
    """
    real = os.path.realpath(path)
    problem = resolved_source_problem(real, data_root(), allowed_sources())
    if problem:
        shown = path if real == os.path.normpath(path) else f"{path} (resolves to {real})"
        raise DataSourceError(f"{shown} ({key}) {problem}")


def escaping_files(source: str, key: str) -> list[str]:
    """The confinement errors of a local source's current files (for lint; a missing source is none)."""
    try:
        files = list_local(source, key)
    except DataSourceError:
        return []
    out = []
    for name in files:
        try:
            check_confined(name, key)
        except DataSourceError as exc:
            out.append(str(exc))
    return out


def list_local(source: str, key: str = "data.source") -> list[str]:
    """Files named by a local path, directory or glob."""
    path = resolve_local(source)
    text = str(path)
    if glob.has_magic(text):
        files = sorted(p for p in glob.glob(text, recursive=True) if Path(p).is_file())
    elif path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and _is_data_file(p.name))
    elif path.exists():
        files = [text]
    else:
        raise DataSourceError(f"{text}: no such file or directory ({key}); check the path")
    if not files:
        raise DataSourceError(f"{text}: matches no data files ({key}); check the path or glob")
    return files


def list_s3(source: str, client: Any, key: str = "data.source") -> list[str]:
    bucket, prefix = split_s3_uri(source)
    pattern = prefix if glob.has_magic(prefix) else None
    list_prefix = prefix.split("*")[0].split("?")[0].split("[")[0] if pattern else prefix
    keys: list[str] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=list_prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if pattern:
                    if _glob_match(key, pattern):
                        keys.append(key)
                elif key == prefix or (key.startswith(prefix + "/") and _is_data_file(key)):
                    keys.append(key)
    except Exception as exc:
        raise DataSourceError(f"{source}: cannot list s3://{bucket}/{list_prefix} ({key}): {exc}") from exc
    if not keys:
        raise DataSourceError(f"{source}: matches no objects ({key}); check bucket and prefix")
    return [f"s3://{bucket}/{k}" for k in sorted(keys)]


def _glob_match(key: str, pattern: str) -> bool:
    """Glob match on '/'-separated keys where '*' stays within one segment, as on a file system."""
    k, p = PurePosixPath(key), PurePosixPath(pattern)
    return len(k.parts) == len(p.parts) and k.match(pattern)


def read_file(
    path: str, fmt: str, columns: list[str], label: str | None = None, optional: tuple[str, ...] = ()
) -> pa.Table:
    """Read only ``columns`` of one CSV or Parquet file; errors name the file and the columns.

    ``optional`` columns are read when the file has them (e.g. labels that arrive later).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    label = label or path
    try:
        if fmt == "parquet":
            present = pq.read_schema(path).names
        else:
            present = pacsv.open_csv(path).schema.names
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataSourceError(unreadable(path, label, fmt, exc)) from exc
    columns = [*columns, *(c for c in optional if c in present and c not in columns)]
    missing = [c for c in columns if c not in present]
    if missing:
        unused = [c for c in present if c not in columns]
        hints = [
            f"{c!r} -> did you mean {match[0]!r}?"
            for c in missing
            if (match := difflib.get_close_matches(c, unused, n=1, cutoff=0.6))
        ]
        raise DataSourceError(
            f"{label}: column(s) {missing} named in the pipeline YAML (data.*) are missing; "
            f"{shown_header(present)}. {' '.join(hints) + ' ' if hints else ''}"
            "Rename the column in the data or in the YAML."
        )
    try:
        if fmt == "parquet":
            return pq.read_table(path, columns=columns)
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(include_columns=columns))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataSourceError(unreadable(path, label, fmt, exc, present)) from exc


def cast_numeric(table: pa.Table, columns: tuple[str, ...], label: str) -> pa.Table:
    """Numeric features as float64; text that is not a number fails naming the file, column and value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in columns:
        if name not in table.column_names:
            continue
        col = table[name]
        if pa.types.is_floating(col.type):
            continue
        if not (
            pa.types.is_integer(col.type)
            or pa.types.is_boolean(col.type)
            or pa.types.is_decimal(col.type)
            or pa.types.is_null(col.type)
            or pa.types.is_string(col.type)
            or pa.types.is_large_string(col.type)
        ):
            raise DataSourceError(
                f"{label}: column {name!r} (data.features.numeric) is {col.type}, not a number; "
                "fix the data, or list the column under data.features.categorical"
            )
        try:
            cast = pc.cast(col, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            row = first_failing_row(col, converts_with(lambda v: pc.cast(v, pa.float64())))
            raise DataSourceError(
                f"{label}: column {name!r} (data.features.numeric) is {col.type} with a value that is not "
                f"a number in data row {row}; fix the data, or list the column under data.features.categorical"
            ) from exc
        table = table.set_column(table.schema.get_field_index(name), name, cast)
    return table


def _filter_window(
    table: pa.Table, column: str, start: datetime | None, end: datetime, label: str
) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    def to_timestamp(values: Any) -> Any:
        try:
            return pc.cast(values, pa.timestamp("us", tz="UTC"))
        except pa.ArrowInvalid:  # text without a zone offset: read as UTC, as the README promises
            return pc.cast(values, pa.timestamp("us"))

    col = table[column]
    if not pa.types.is_timestamp(col.type):
        try:
            col = to_timestamp(col)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            row = first_failing_row(col, converts_with(to_timestamp))
            raise DataSourceError(
                f"{label}: column {column!r} (data.timestamp_column) is {col.type}, not a timestamp "
                f"(data row {row} does not parse as one); fix the data or data.timestamp_column"
            ) from exc
    if col.type.tz is None:
        col = pc.assume_timezone(col, "UTC")
    if col.type.unit in ("s", "ms"):
        col = pc.cast(col, pa.timestamp("us", tz=col.type.tz))  # widening: bounds keep their microseconds
    ts_type = col.type
    mask = pc.less(col, pa.scalar(end, type=ts_type))
    if start is not None:
        mask = pc.and_(mask, pc.greater_equal(col, pa.scalar(start, type=ts_type)))
    table = table.set_column(table.schema.get_field_index(column), column, col)
    mask = pc.fill_null(mask, False)
    if pc.all(mask).as_py():  # every row in the window (a full-history run): no filtered copy of the table
        return table
    return table.filter(mask)


@dataclass(frozen=True)
class SourceSpec:
    """What to read: a local path/dir/glob or s3:// URI, its format, and the columns wanted."""

    source: str
    format: str
    columns: list[str]
    optional_columns: tuple[str, ...] = ()
    timestamp_column: str | None = None
    key: str = "data.source"  # the YAML key errors name
    numeric: tuple[str, ...] = ()  # read as float64 (text that parses as numbers is accepted)
    path_date: str | None = None  # data.window.path_date: files dated outside the window are not opened

    @property
    def is_s3(self) -> bool:
        return self.source.startswith("s3://")

    def label(self) -> str:
        return self.source if self.is_s3 else str(resolve_local(self.source))


def read_source(
    spec: SourceSpec,
    start: datetime | None,
    end: datetime,
    allow_missing: bool = False,
    digests: dict[str, str] | None = None,
    pruned: list[str] | None = None,
) -> tuple[pa.Table | None, int]:
    """Rows of ``spec`` in ``[start, end)`` (all rows without a timestamp column) and the file count.

    Returns ``(None, files)`` when no row falls in the window. A source that does not exist raises
    DataSourceError unless ``allow_missing`` (an absent time partition is an empty window).
    ``digests``, when given, receives the sha256 of every file read, by its path or ``s3://`` URI;
    ``pruned`` every file skipped unopened because its path date (``spec.path_date``) or its Parquet
    statistics of the timestamp column put all its rows outside the window (it gets no digest).
    """
    import pyarrow as pa

    with tempfile.TemporaryDirectory(prefix="mlcycle-read-") as tmp:
        client = s3_client() if spec.is_s3 else None
        try:
            files = (
                list_s3(spec.source, client, spec.key) if spec.is_s3 else list_local(spec.source, spec.key)
            )
        except DataSourceError:
            if allow_missing:
                return None, 0
            raise
        tables = []
        skipped: list[str] = []
        by_path = 0
        for i, name in enumerate(files):
            fmt = _file_format(name, spec.format)
            if spec.timestamp_column and spec.path_date:
                period = path_period(name, spec.path_date)
                if period is not None and not overlaps(period, start, end):
                    skipped.append(name)
                    by_path += 1
                    continue
            local = name
            if name.startswith("s3://"):
                bucket, key = split_s3_uri(name)
                local = str(Path(tmp) / f"part-{i}{Path(key).suffix}")
                try:
                    client.download_file(bucket, key, local)  # type: ignore[union-attr]
                except Exception as exc:
                    raise DataSourceError(f"{name}: cannot download ({spec.key}): {exc}") from exc
            else:
                check_confined(local, spec.key)
            if spec.timestamp_column and fmt == "parquet":
                span = parquet_time_range(local, spec.timestamp_column)
                if span is not None and not overlaps(span, start, end, max_inclusive=True):
                    skipped.append(name)
                    continue
            if digests is not None:
                digests[name] = file_sha256(Path(local))
            table = read_file(local, fmt, spec.columns, label=name, optional=spec.optional_columns)
            table = cast_numeric(table, spec.numeric, name)
            if spec.timestamp_column:
                table = _filter_window(table, spec.timestamp_column, start, end, name)
            if table.num_rows:
                tables.append(table)
        n, k = len(files), len(skipped)
        log.info(
            "%s: read %d of %d file(s); %d skipped (outside the window: %d by path date, "
            "%d by Parquet statistics)",
            spec.label(),
            n - k,
            n,
            k,
            by_path,
            k - by_path,
        )
        if pruned is not None:
            pruned.extend(skipped)
        if not tables:
            return None, len(files)
        try:
            return pa.concat_tables(tables, promote_options="permissive"), len(files)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataSourceError(f"{spec.source}: files disagree on column types: {exc}") from exc


def publish_table(store: ArtifactStore, table: pa.Table, prefix: str) -> tuple[str, str, str]:
    """Publish ``table`` as zstd Parquet at ``<prefix>/<sha256>.parquet``; return (key, uri, sha256).

    Content-addressed: an identical table already published is reused, never rewritten.
    """
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="mlcycle-publish-") as tmp:
        out = Path(tmp) / "table.parquet"
        pq.write_table(table, out, compression="zstd")
        digest = file_sha256(out)
        key = f"{prefix}/{digest}.parquet"
        uri = store.uri(key) if store.exists(key) else store.publish_file(out, key)
    return key, uri, digest


def load_snapshot(store: ArtifactStore, key: str, columns: list[str] | None = None):  # -> pd.DataFrame
    """Read a published snapshot into pandas (only ``columns`` if given).

    The Arrow buffers are freed column by column as pandas takes them over, and returned to the OS
    afterwards, so a task holds the frame once, not the frame plus the Arrow table it came from.
    """
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="mlcycle-snap-") as tmp:
        local = store.fetch(key, Path(tmp) / "snapshot.parquet")
        table = pq.read_table(local, columns=columns)
    frame = table.to_pandas(self_destruct=True, split_blocks=True)
    del table  # self_destruct: the table must not be used again
    release_freed_memory()
    return frame


def release_freed_memory() -> None:
    """Hand Arrow's freed buffers back to the OS (its allocator keeps them for reuse otherwise).

    Call after dropping a snapshot frame: numeric columns without nulls are Arrow buffers pandas
    took over, and a task that freed a large frame would still hold its pages through the fit.
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()

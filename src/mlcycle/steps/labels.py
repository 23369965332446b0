"""Labels that land after the features: read from ``data.labels``, joined to rows by id, and the
training window's rule for rows still unlabelled (dropped, counted, bounded by a share)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mlcycle.adapters.sources import SourceSpec, read_source
from mlcycle.config.loader import Pipeline
from mlcycle.errors import DataSourceError

if TYPE_CHECKING:
    import pyarrow as pa

LABELS_KEY = "data.labels.source"

log = logging.getLogger(__name__)


def read_labels(
    pipe: Pipeline, as_of: datetime | None = None, allow_missing: bool = False
) -> pa.Table | None:
    """The latest label per id from ``data.labels`` (columns named ``data.id_column`` and ``data.target``,
    whatever the labels source calls them), or None when
    the pipeline has no labels source (or, with ``allow_missing``, none has landed: a warning). With
    ``arrived_at_column``, only labels landed before ``as_of`` count (a run for a past window sees what
    had landed by then); the latest per id wins."""
    import pyarrow as pa
    import pyarrow.compute as pc

    data = pipe.config.data
    cfg = data.labels
    if cfg is None:
        return None
    ident, target = str(data.labels_id), data.labels_target  # the schema requires an id with data.labels
    arrived = cfg.arrived_at_column
    columns = [ident, target, *([arrived] if arrived else [])]
    spec = SourceSpec(cfg.source, cfg.format, columns, (), None, LABELS_KEY)
    table, files = read_source(spec, None, datetime.max, allow_missing=allow_missing)
    if table is None:
        log.warning("%s (data.labels.source): no labels have landed yet (%d file(s))", spec.label(), files)
        return None
    table = table.filter(pc.is_valid(table[target]))
    frame = table.to_pandas()
    if arrived:
        import pandas as pd

        when = pd.to_datetime(frame[arrived], utc=True, errors="coerce")
        if when.isna().any():
            raise DataSourceError(
                f"{spec.label()}: column {arrived!r} (data.labels.arrived_at_column) has "
                f"{int(when.isna().sum())} value(s) that are not timestamps; fix the labels file"
            )
        frame = frame.assign(**{arrived: when})
        if as_of is not None:
            frame = frame[frame[arrived] < pd.Timestamp(as_of)]
        frame = frame.sort_values(arrived, kind="stable")
    frame = frame.drop_duplicates(ident, keep="last")
    out = pa.Table.from_pandas(frame[[ident, target]], preserve_index=False)
    return out.rename_columns([str(data.id_column), data.target])  # named as the rows it joins


def fill_from_labels(table: pa.Table, labels: pa.Table, ident: str, target: str) -> tuple[pa.Table, int]:
    """``table`` with its null (or absent) ``target`` taken from ``labels`` by ``ident``; rows keep their
    order. Returns the table and how many targets were filled."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = table[ident].cast(labels[ident].type) if table[ident].type != labels[ident].type else table[ident]
    found = labels[target].take(pc.index_in(ids, value_set=labels[ident]))
    if target in table.column_names:
        current = table[target]
        if found.type != current.type:
            found = found.cast(current.type)
        filled = pc.coalesce(current, found)
        n = int(pc.sum(pc.and_(pc.is_null(current), pc.is_valid(found))).as_py() or 0)
        return table.set_column(table.schema.get_field_index(target), target, filled), n
    n = int(pc.sum(pc.is_valid(found)).as_py() or 0)
    return table.append_column(pa.field(target, found.type), found), n


@dataclass(frozen=True)
class Labelled:
    """The training window's rows with a target, and how many were dropped without one."""

    table: pa.Table
    dropped: int
    filled: int


def keep_labelled(pipe: Pipeline, table: pa.Table, label: str, filled: int = 0) -> Labelled:
    """Drop rows whose target is null (their labels have not landed), refusing more than
    ``checks.max_unlabelled_share`` of the window or a window without one labelled row."""
    import pyarrow.compute as pc

    target = pipe.config.data.target
    limit = pipe.config.checks.max_unlabelled_share
    rows = table.num_rows
    if target not in table.column_names:
        raise DataSourceError(
            f"{label}: no file of the training window has the target column {target!r} (data.target)"
            + (" and data.labels holds none of its ids" if pipe.config.data.labels else "")
            + "; train on a window whose labels have landed (an earlier logical date), fix data.target, "
            "or set data.labels to where labels land"
        )
    missing = int(pc.sum(pc.is_null(table[target])).as_py() or 0)
    if missing == 0:
        return Labelled(table, 0, filled)
    share = missing / rows
    if missing == rows or share > limit:
        raise DataSourceError(
            f"{label}: {missing} of {rows} row(s) ({share:.1%}) in the training window have no "
            f"{target!r} (data.target), more than checks.max_unlabelled_share ({limit:g}). Labels that "
            "land later: train on an earlier window or set data.labels; a broken target column: fix the "
            "data; raise checks.max_unlabelled_share only if that many unlabelled rows are expected"
        )
    return Labelled(table.filter(pc.is_valid(table[target])), missing, filled)

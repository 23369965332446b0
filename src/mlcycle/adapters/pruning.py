"""Which files of a source can hold rows of a run's window: dated by their path, or by Parquet statistics.

Every answer errs towards reading: a file is skipped only when its path date or its footer proves it
holds no row of ``[start, end)``; anything unknown (no match, no statistics) means "read it".
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from mlcycle.config.data_window import PATH_DATE_FIELDS, path_date_problem
from mlcycle.errors import DataSourceError

Period = tuple[datetime, datetime]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Parquet's timeUnit -> (multiplier, divisor) to microseconds; Arrow writes its "s" unit as milliseconds
_TO_MICROSECONDS = {"milliseconds": (1000, 1), "microseconds": (1, 1), "nanoseconds": (1, 1000)}


@lru_cache(maxsize=64)
def path_date_regex(path_date: str) -> re.Pattern[str]:
    """``path_date`` as a regex with one named group per field (a repeated field must repeat its value).

    A field at either end of the pattern may not touch another digit, so ``%Y`` never dates
    ``x_202401`` as the year 2401.
    """
    if problem := path_date_problem(path_date):
        raise DataSourceError(f"data.window.path_date {path_date!r}: {problem}; fix it in the pipeline YAML")
    tokens = [t for t in re.split(r"(%.)", path_date) if t]
    out, seen = [], set()
    for token in tokens:
        if token == "%" * 2:  # a literal percent sign
            out.append("%")
        elif len(token) == 2 and token.startswith("%"):
            field = token[1]
            out.append(f"(?P={field})" if field in seen else f"(?P<{field}>{PATH_DATE_FIELDS[field]})")
            seen.add(field)
        else:
            out.append(re.escape(token))
    is_field = [len(t) == 2 and t.startswith("%") and t != "%%" for t in tokens]
    lead = r"(?<!\d)" if is_field[0] else ""
    trail = r"(?!\d)" if is_field[-1] else ""
    # the greedy prefix makes the match the LAST one in the path: a directory may carry a date of its
    # own (``2024/landing/churn_2025-01.parquet``), the file's name is the one that dates its rows
    return re.compile(rf"(?s:.*){lead}(?:{''.join(out)}){trail}")


def path_period(path: str, path_date: str) -> Period | None:
    """The UTC interval ``[p0, p1)`` the file at ``path`` covers by its ``path_date``; None: read it.

    The finest field sets the period: ``%Y`` a year, ``%m`` a month, ``%d`` or ``%j`` a day, ``%H`` an
    hour. A field whose coarser one is absent (``%d`` without ``%m``) does not narrow it. No match,
    or a match that is no date (month 13, day 366 of 2023), gives None.
    """
    match = path_date_regex(path_date).match(path)
    if match is None:
        return None
    got = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    try:
        p0 = datetime(got["Y"], 1, 1, tzinfo=UTC)
        p1 = p0.replace(year=p0.year + 1)
        if "j" in got:
            if not 1 <= got["j"] <= (p1 - p0).days:
                return None
            p0 += timedelta(days=got["j"] - 1)
            if ("m" in got and got["m"] != p0.month) or ("d" in got and got["d"] != p0.day):
                return None
            p1 = p0 + timedelta(days=1)
        elif "m" in got:
            p0 = p0.replace(month=got["m"])
            p1 = (p0 + timedelta(days=32)).replace(day=1)
            if "d" in got:
                p0 = p0.replace(day=got["d"])
                p1 = p0 + timedelta(days=1)
        elif "d" in got:
            datetime(2000, 1, got["d"])  # still a day of some month, or not a date at all
        if "H" in got and p1 - p0 == timedelta(days=1):
            p0 = p0.replace(hour=got["H"])
            p1 = p0 + timedelta(hours=1)
        elif "H" in got and not 0 <= got["H"] <= 23:
            return None
    except ValueError:
        return None
    return p0, p1


def parquet_time_range(path: str, column: str) -> Period | None:
    """The min and max (both inclusive, UTC) of timestamp ``column`` from the Parquet footer only.

    None when the file is no readable Parquet, ``column`` is absent or no timestamp, or a row group
    lacks min/max statistics: the file must then be read. Naive timestamps are UTC, as sources.py
    reads them. Nanoseconds are floored to microseconds, which keeps every comparison with
    microsecond bounds exact.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (pa.ArrowInvalid, OSError):
        return None
    leaves = [meta.schema.column(j) for j in range(meta.num_columns)]
    index = next((j for j, c in enumerate(leaves) if c.path == column), None)
    if index is None or leaves[index].physical_type != "INT64":
        return None
    logical = json.loads(leaves[index].logical_type.to_json() or "{}")
    unit = logical.get("timeUnit") if logical.get("Type") == "Timestamp" else None
    if unit not in _TO_MICROSECONDS:
        return None
    lows, highs = [], []
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        if group.num_rows == 0:
            continue
        stats = group.column(index).statistics
        if stats is None or not stats.has_min_max:
            return None
        lows.append(stats.min_raw)
        highs.append(stats.max_raw)
    if not lows:
        return None
    try:
        return _instant(min(lows), unit), _instant(max(highs), unit)
    except OverflowError:
        return None


def _instant(raw: int, unit: str) -> datetime:
    mul, div = _TO_MICROSECONDS[unit]
    return EPOCH + timedelta(microseconds=raw * mul // div)


def overlaps(period: Period, start: datetime | None, end: datetime, *, max_inclusive: bool = False) -> bool:
    """Whether ``period`` shares an instant with the window ``[start, end)`` (``start`` None: unbounded).

    ``period`` is ``[p0, p1)`` (a path date), or ``[min, max]`` with ``max_inclusive`` (statistics):
    a file whose max equals ``start`` holds a window row; one whose min equals ``end`` does not.
    """
    p0, p1 = period
    if p0 >= end:
        return False
    if start is None:
        return True
    return p1 >= start if max_inclusive else p1 > start

"""Error wording for files ingest cannot read: the file, line, column or row, never the content.

Arrow's own messages quote the offending line or value; a misconfigured source may not be data at
all (a system file), and ingest errors go out in Slack and e-mail alerts.
"""

from __future__ import annotations

import csv
import gzip
import re
from typing import Any

RAGGED = re.compile(r"Expected (\d+) columns, got (\d+)")
COLUMN_NO = re.compile(r"column #(\d+)")
COLUMN_NAME = re.compile(r"[\w .()%/-]{1,80}")


def first_ragged_line(path: str) -> int | None:
    """The line number of the first CSV record whose field count differs from the header's."""
    opener = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rt", newline="", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        for record in reader:
            if len(record) != len(header):
                return reader.line_num
    return None


def unreadable(path: str, label: str, fmt: str, exc: Exception, names: list[str] | None = None) -> str:
    """The error for a file that cannot be read: it names the line or column, never quotes the content.

    Arrow's messages quote the offending line or value; the file may not be data at all (a
    misconfigured source), and the message goes out in alerts.
    """
    text = str(exc)
    if isinstance(exc, OSError) and not text.startswith(("CSV", "Parquet")):
        detail = f"cannot be opened: {exc.strerror or type(exc).__name__}"
    elif fmt == "parquet":
        detail = "no Parquet footer, or a damaged one"
    elif m := RAGGED.search(text):
        line = first_ragged_line(path)
        detail = f"{f'line {line}' if line else 'a line'} has {m[2]} field(s) where the header has {m[1]}"
    elif (m := COLUMN_NO.search(text)) and names and int(m[1]) < len(names):
        detail = f"column {names[int(m[1])]!r} has a value of another type"
    else:
        detail = "the content is not shown"
    return f"{label}: not a readable {fmt} file ({detail}); fix or remove the file"


def shown_header(names: list[str]) -> str:
    """The file's column names for a hint, unless they do not look like column names at all."""
    if len(names) <= 200 and all(COLUMN_NAME.fullmatch(n) for n in names):
        return f"the file has {names}"
    return "the file's first line does not look like a header of column names (not shown)"


def first_failing_row(col: Any, converts: Any) -> int:
    """The 1-based data row of the first value ``converts`` refuses (bisection on prefixes)."""
    lo, hi = 0, len(col)  # the prefix of length hi fails, the prefix of length lo converts
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if converts(col.slice(0, mid)) else (lo, mid)
    return hi


def converts_with(cast: Any) -> Any:
    import pyarrow as pa

    def converts(values: Any) -> bool:
        try:
            cast(values)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        return True

    return converts

"""Ingest's read of a 1-month and a 12-month window from 36 monthly Parquet files, pruned and not, side by side.

    .venv/bin/python benchmarks/pruning_bench.py [--rows 50000] [--months 36] [--repeats 5] [--out FILE]

A landing zone of ``--months`` monthly files ``churn_YYYY-MM.parquet`` (2023-01 on; ``--rows`` seeded rows
each: id, UTC timestamp, 5 numeric and 3 categorical features, the label) is written twice: with Parquet
statistics (pyarrow's default) and without them (``write_statistics=False``, as many writers leave
files). Then, alternating in one process, ``read_source`` reads each window as ingest does (every column,
numeric features cast, rows filtered to the window):

* ``off``: the files without statistics and no ``path_date``: nothing can be pruned, every file is read;
* ``stats``: the files with statistics, no ``path_date``: files are skipped by their footers;
* ``path``: the same files with ``path_date: churn_%Y-%m``: files are skipped by name, never opened.

All three return the same rows (checked). The files were just written, so the page cache holds them in
every mode: the figures are decoding and filtering, not disk or network (on S3 ``path`` also saves
the downloads ``stats`` still makes). Figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NUMERIC = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "data_gb"]
CATEGORICAL = ["contract", "payment_method", "internet_service"]
COLUMNS = ["customer_id", "ts", *NUMERIC, *CATEGORICAL, "churned"]
WINDOWS = {  # [start, end) as ingest computes them for a run at the end
    "1 month": (datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)),
    "12 months": (datetime(2024, 7, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)),
}
MODES = ("off", "stats", "path")


def month_table(year: int, month: int, rows: int, seed: int) -> Any:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    start = np.datetime64(f"{year:04d}-{month:02d}-01", "us")
    end = (start.astype("datetime64[M]") + 1).astype("datetime64[us]")
    ts = np.sort(start + rng.integers(0, int((end - start).astype(int)), rows).astype("timedelta64[us]"))
    tenure = rng.integers(0, 72, rows)
    charges = rng.normal(65, 30, rows).clip(18, 120).round(2)
    return pa.table(
        {
            "customer_id": np.arange(seed * rows, (seed + 1) * rows, dtype="int64"),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "tenure_months": tenure,
            "monthly_charges": charges,
            "total_charges": (charges * tenure).round(2),
            "support_calls": rng.poisson(1.2, rows),
            "data_gb": rng.gamma(2.0, 8.0, rows).round(1),
            "contract": rng.choice(["month-to-month", "one_year", "two_year"], rows, p=[0.55, 0.25, 0.2]),
            "payment_method": rng.choice(["card", "bank_transfer", "electronic_check", "mailed_check"], rows),
            "internet_service": rng.choice(["fiber", "dsl", "none"], rows, p=[0.45, 0.35, 0.2]),
            "churned": (rng.uniform(size=rows) < 0.2).astype("int64"),
        }
    )


def write_landing(root: Path, months: int, rows: int) -> int:
    import pyarrow.parquet as pq

    size = 0
    for i in range(months):
        year, month = 2023 + i // 12, 1 + i % 12
        table = month_table(year, month, rows, i)
        for zone, stats in (("with_stats", True), ("no_stats", False)):
            path = root / zone / f"churn_{year:04d}-{month:02d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path, compression="zstd", write_statistics=stats)
            size += path.stat().st_size if stats else 0
    return size


def read_once(mode: str, window: str) -> tuple[float, int, int]:
    """One read; returns (wall s, rows, files skipped)."""
    from mlcycle.adapters.sources import SourceSpec, read_source

    spec = SourceSpec(
        f"{'no_stats' if mode == 'off' else 'with_stats'}/*.parquet",
        "auto",
        COLUMNS,
        timestamp_column="ts",
        numeric=tuple(NUMERIC),
        path_date="churn_%Y-%m" if mode == "path" else None,
    )
    pruned: list[str] = []
    start = time.perf_counter()
    table, _ = read_source(spec, *WINDOWS[window], pruned=pruned)
    wall = time.perf_counter() - start
    return wall, (table.num_rows if table is not None else 0), len(pruned)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pruning_bench.json")
    args = parser.parse_args()
    result: dict[str, Any] = {"rows_per_file": args.rows, "files": args.months, "repeats": args.repeats}
    with tempfile.TemporaryDirectory(prefix="pruning-bench-") as tmp:
        os.environ["MLCYCLE_DATA_ROOT"] = tmp
        result["parquet_mb"] = round(write_landing(Path(tmp), args.months, args.rows) / 1e6, 1)
        for window in WINDOWS:
            walls: dict[str, list[float]] = {m: [] for m in MODES}
            seen: dict[str, tuple[int, int]] = {}
            for mode in MODES:
                read_once(mode, window)  # warm: imports and the page cache
            for _ in range(args.repeats):
                for mode in MODES:
                    wall, rows, skipped = read_once(mode, window)
                    walls[mode].append(wall)
                    seen[mode] = (rows, skipped)
            if len({rows for rows, _ in seen.values()}) != 1:
                raise SystemExit(f"{window}: the modes disagree on the rows read: {seen}")
            med = {m: statistics.median(v) for m, v in walls.items()}
            result[window] = {
                "rows": seen["off"][0],
                "skipped": {m: seen[m][1] for m in MODES},
                "walls": walls,
                "median": med,
                "speedup_vs_off": {m: med["off"] / med[m] for m in MODES},
            }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    out = [f"{args.months} files x {args.rows} rows ({result['parquet_mb']} MB with statistics), medians of "
           f"{args.repeats}:\n"]  # fmt: skip
    for window in WINDOWS:
        r = result[window]
        cells = ", ".join(
            f"{m} {r['median'][m]:.3f} s ({r['skipped'][m]} skipped, {r['speedup_vs_off'][m]:.1f}x)"
            for m in MODES
        )
        out.append(f"  {window}: {r['rows']} rows; {cells}\n")
    sys.stdout.write("".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

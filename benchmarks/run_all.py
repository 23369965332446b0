"""The default benchmark suite (``make bench``): every benchmark, then one table of figures vs. budgets.

    .venv/bin/python benchmarks/run_all.py [--skip drift,...] [--summary-only]

Runs, each in its own processes, at the default sizes: parse_bench (1/10/100 pipelines),
task_start_bench, orchestration_bench (1k and 1M rows) and drift_bench (100k and 1M rows, one
repeat); ``--scale`` adds scale_bench (10M rows through the training steps, one process per task:
~15 min idle). Each writes its JSON under benchmarks/results/; ``--summary-only`` re-reads those and
prints the table without running anything. The machine's load (``uptime``) is printed with it:
absolute walls on a shared box are noisy, the ratios are measured side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SUITE = {
    "parse": ["benchmarks/parse_bench.py"],
    "task_start": ["benchmarks/task_start_bench.py", "--repeats", "2"],
    "orchestration": ["benchmarks/orchestration_bench.py", "--rows", "1000,1000000", "--repeats", "2"],
    "drift": ["benchmarks/drift_bench.py", "--sizes", "100000,1000000", "--repeats", "1"],
}
OPT_IN = {"scale": ["benchmarks/scale_bench.py", "--rows", "10000000"]}


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}_bench.json"
    return json.loads(path.read_text()) if path.exists() else None


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**NOT met**")


def summary_rows() -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    parse = _load("parse")
    if parse:
        for r in parse["rows"]:
            if r["pipelines"] == 100 and not r.get("for_dag"):
                mode = r.get("mode", "cold")
                rows.append(
                    (
                        f"parse: 100 pipelines ({mode})",
                        f"{r['parse_s_median']:.2f} s",
                        "<= 1 s" if mode == "dag-processor" else "-",
                        _verdict(r["parse_s_median"] <= 1) if mode == "dag-processor" else "n/a",
                    )
                )
                rows.append(
                    (
                        f"parse: heavy modules imported ({mode})",
                        ", ".join(r["heavy"]) or "none",
                        "none",
                        _verdict(not r["heavy"]),
                    )
                )
            if r.get("for_dag"):
                rows.append(
                    ("parse in a worker (100 pipelines, one DAG)", f"{r['parse_s_median']:.2f} s", "-", "n/a")
                )
    start = _load("task_start")
    if start:
        worst = max(start["rows"], key=lambda r: r["seconds_pyc"])
        rows.append(
            (
                "task start: slowest task's imports (.pyc / no .pyc)",
                f"{worst['task']}: {worst['seconds_pyc']:.1f} / {worst['seconds_no_pyc']:.1f} s",
                "-",
                "n/a",
            )
        )
    orch = _load("orchestration")
    if orch:
        s = orch["summary"]
        rows.append(
            (
                "orchestration: fixed cost F (DAG at 1k rows)",
                f"{s['F']:.1f} s",
                "<= 15 s",
                _verdict(s["F"] <= 15),
            )
        )
        for n, r in sorted(s["by_rows"].items(), key=lambda kv: int(kv[0])):
            if "r" in r:
                rows.append(
                    (
                        f"orchestration: per-row ratio r at {int(n):,} rows",
                        f"{r['r']:.2f}",
                        "<= 1.3",
                        _verdict(r["r"] <= 1.3),
                    )
                )
    drift = _load("drift")
    if drift:
        for t in drift["summary"]["table"]:
            if t["rows_per_side"] == 1_000_000 and t["kind"] == "mlcycle":
                rows.append(
                    (
                        "monitoring: speed-up vs full-frame Evidently at 1M",
                        f"{t['speedup_b_over_a']:.1f}x",
                        ">= 5x",
                        _verdict(t["speedup_b_over_a"] >= 5),
                    )
                )
                rows.append(
                    (
                        "monitoring: step peak / frames' Arrow size at 1M",
                        f"{t['step_peak_over_arrow']:.2f}",
                        "<= 2",
                        _verdict(t["step_peak_over_arrow"] <= 2),
                    )
                )
    scale = _load("scale")
    if scale:
        raw = scale["raw"]
        arrow, steps = raw["data"]["arrow_mb"], raw["steps"]
        done = [s for s, r in steps.items() if not r.get("failed")]
        worst = max(done, key=lambda s: steps[s]["peak_rss_mb"]) if done else None
        complete = len(done) == 6
        rows.append(
            (
                f"scale: {raw['rows']:,} rows, every task completes; worst peak RSS / Arrow",
                (f"{'all 6 tasks' if complete else f'{len(done)} of 6 tasks'}; {worst} "
                 f"{steps[worst]['peak_rss_mb'] / arrow:.2f}x ({steps[worst]['peak_rss_mb']:.0f} MB)")
                if worst else "no task completed",
                "<= 3x",
                _verdict(complete and worst is not None and steps[worst]["peak_rss_mb"] <= 3 * arrow),
            )
        )
    return rows


def table() -> str:
    lines = ["| figure | measured | budget | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summary_rows()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", default="", help="comma-separated: parse, task_start, orchestration, drift")
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--scale", action="store_true", help="also run scale_bench at 10M rows (~15 min)")
    args = parser.parse_args()
    skip = {s for s in args.skip.split(",") if s}
    timings: dict[str, float] = {}
    suite = {**SUITE, **(OPT_IN if args.scale else {})}
    if not args.summary_only:
        for name, cmd in suite.items():
            if name in skip:
                continue
            started = time.perf_counter()
            print(f"== {name}: {' '.join(cmd)}", flush=True)
            subprocess.run([sys.executable, *cmd], cwd=ROOT, check=True)
            timings[name] = time.perf_counter() - started
    print()
    print(f"Machine: {platform.platform()}, {os.cpu_count()} CPUs; load average now {os.getloadavg()}")
    if timings:
        print("Suite wall: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items()))
    print(table())


if __name__ == "__main__":
    main()

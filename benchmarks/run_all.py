"""The default benchmark suite (``make bench``): every benchmark, then one table of figures vs. budgets.

    .venv/bin/python benchmarks/run_all.py [--skip drift,...] [--scale] [--big] [--summary-only]

Runs, each in its own processes, at the default sizes (~11 min on an idle box): parse_bench
(1/10/100 pipelines), task_start_bench (with .pyc), orchestration_bench (1k and 1M rows, 3 repeats)
and drift_bench (100k and 1M rows, one repeat); ``--scale`` adds scale_bench (10M rows through the
training steps, one process per task: ~8 min idle) and ``--big`` the orchestration benchmark at 10M
rows (r at 10M: ~10 min). Each writes its JSON under benchmarks/results/ (the run's load, walls and
calibration in run_all.json); ``--summary-only`` re-reads those and prints the table without running
anything. Absolute walls on a shared box are noisy, the ratios are measured side by side; a fixed
pure-Python loop timed before and after the suite tells a slow box from slow code.
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
    "orchestration": ["benchmarks/orchestration_bench.py", "--rows", "1000,1000000", "--repeats", "3"],
    "drift": ["benchmarks/drift_bench.py", "--sizes", "100000,1000000", "--repeats", "1"],
}
OPT_IN = {
    "scale": ["benchmarks/scale_bench.py", "--rows", "10000000"],
    "orchestration_10m": [
        "benchmarks/orchestration_bench.py", "--rows", "1000,10000000", "--repeats", "1",
        "--out", "benchmarks/results/orchestration_10m_bench.json",
    ],
}  # fmt: skip


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}_bench.json"
    return json.loads(path.read_text()) if path.exists() else None


def _load_run() -> dict[str, Any] | None:
    path = RESULTS / "run_all.json"
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
        no_pyc = "" if worst.get("seconds_no_pyc") is None else f" / {worst['seconds_no_pyc']:.1f}"
        rows.append(
            (
                "task start: slowest task's imports (.pyc" + (" / no .pyc)" if no_pyc else ")"),
                f"{worst['task']}: {worst['seconds_pyc']:.1f}{no_pyc} s",
                "-",
                "n/a",
            )
        )
    for name, run in (("orchestration", ""), ("orchestration_10m", " (the --big run)")):
        orch = _load(name)
        if not orch:
            continue
        s = orch["summary"]
        rows.append(
            (
                f"orchestration: fixed cost F (DAG at 1k rows){run}",
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
                net = t.get("step_peak_minus_imports_over_arrow")
                rows.append(
                    (
                        f"monitoring: (step peak - {t['rss_after_imports_mb']:.0f} MB of imports) / frames' Arrow at 1M",
                        "-" if net is None else f"{net:.2f}",
                        "-",
                        "n/a",
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
                (
                    f"{'all 6 tasks' if complete else f'{len(done)} of 6 tasks'}; {worst} "
                    f"{steps[worst]['peak_rss_mb'] / arrow:.2f}x ({steps[worst]['peak_rss_mb']:.0f} MB)"
                )
                if worst
                else "no task completed",
                "<= 3x",
                _verdict(complete and worst is not None and steps[worst]["peak_rss_mb"] <= 3 * arrow),
            )
        )
    return rows


def calibration_s() -> float:
    """Seconds for a fixed pure-Python loop (median of 3): how fast this box runs Python right now.

    The same code has parsed 100 pipelines in 0.8 s and in 1.7 s on this VM on different runs at the
    same load average; printed before and after the suite, this tells such runs apart."""
    import statistics

    def once() -> float:
        started = time.perf_counter()
        total = 0
        for i in range(10_000_000):
            total += i % 7
        return time.perf_counter() - started

    return statistics.median(once() for _ in range(3))


def table() -> str:
    lines = ["| figure | measured | budget | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summary_rows()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", default="", help="comma-separated: parse, task_start, orchestration, drift")
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--scale", action="store_true", help="also run scale_bench at 10M rows (~15 min)")
    parser.add_argument(
        "--big", action="store_true", help="also run the orchestration benchmark at 10M rows (~10 min)"
    )
    args = parser.parse_args()
    skip = {s for s in args.skip.split(",") if s}
    timings: dict[str, float] = {}
    opted = {"scale": args.scale, "orchestration_10m": args.big}
    suite = {**SUITE, **{name: cmd for name, cmd in OPT_IN.items() if opted[name]}}
    calibration: list[float] = []
    if not args.summary_only:
        calibration.append(calibration_s())
        for name, cmd in suite.items():
            if name in skip:
                continue
            started = time.perf_counter()
            print(f"== {name}: {' '.join(cmd)}", flush=True)
            subprocess.run([sys.executable, *cmd], cwd=ROOT, check=True)
            timings[name] = time.perf_counter() - started
        calibration.append(calibration_s())
        run = {
            "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "load": os.getloadavg(),
            "calibration_s": calibration,
            "suite_wall_s": timings,
        }
        (RESULTS / "run_all.json").write_text(json.dumps(run, indent=2))
    run = _load_run()
    print()
    print(f"Machine: {platform.platform()}, {os.cpu_count()} CPUs; load average now {os.getloadavg()}")
    if run:
        print(
            f"Last make bench: finished {run['finished']}, load then {tuple(round(x, 2) for x in run['load'])}; "
            "suite wall "
            + ", ".join(f"{k} {v / 60:.1f} min" for k, v in run["suite_wall_s"].items())
            + f"; calibration (a fixed pure-Python loop, lower is a faster box) {run['calibration_s'][0]:.3f} s "
            f"before, {run['calibration_s'][-1]:.3f} s after"
        )
    print(table())


if __name__ == "__main__":
    main()

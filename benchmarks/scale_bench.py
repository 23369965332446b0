"""Scale benchmark (issue 7, item 4): a big table through the training DAG's steps, one process per task.

    .venv/bin/python benchmarks/scale_bench.py [--rows 10000000] [--numeric 14] [--categorical 6]
        [--threads 1] [--workdir DIR] [--out FILE]

The parent writes seeded data (the orchestration benchmark's generator and pipeline YAML: the demo's
HistGradientBoosting, checks, slices and fairness report on generated columns), starts one real
``mlflow server`` and runs the training DAG's steps in order -- ingest, check_data, train, evaluate,
validate_model, register_and_promote -- **each in a fresh Python process**, as an Airflow worker
runs each task in its own process (LocalExecutor, Celery). The child calls the same ``mlcycle.steps``
function the DAG's task calls, with the upstream results the DAG passes through XCom. Each child
reports its wall time (imports included), the time to its first line of work, and its own peak RSS
(``VmHWM``), which is what the budget is about: a ``dag.test()`` run shares one process between all
tasks, so there a task's peak includes what earlier tasks left in the heap.

Budget: every task completes with peak RSS <= 3x the dataset's in-memory Arrow size (the whole
file read with pyarrow: ``pq.read_table(path).nbytes``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
BUDGET_X_ARROW = 3.0
STEPS = ("ingest", "check_data", "train", "evaluate", "validate_model", "register_and_promote")
INTERVAL_END = datetime(2026, 1, 1, tzinfo=UTC)


def _status_mb(field: str) -> float:
    """A /proc/self/status memory figure in MB of 10^6 bytes, the unit the Arrow size is given in."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def child_stage(step: str, config: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """One step, as its Airflow task runs it: ``mlcycle.steps.<step>`` on the upstream results."""
    t0 = time.perf_counter()
    from mlcycle.steps.context import RunContext, open_env

    ctx = RunContext(
        dag_id=f"{Path(config).stem}__train",
        run_id=inputs.get("run_id", "scale_bench"),
        logical_date=INTERVAL_END.isoformat(),
    )
    env = open_env(config, ctx)
    rss_ready = _status_mb("VmRSS")
    t1 = time.perf_counter()
    profile_dir = os.environ.get("MLCYCLE_BENCH_PROFILE")
    if (
        profile_dir
    ):  # --profile: pyinstrument (call-heavy Python is inflated, as by cProfile: benchmarks/README.md)
        from pyinstrument import Profiler

        with Profiler(interval=0.005) as prof:
            out = _call_step(env, step, inputs)
        (Path(profile_dir) / f"{step}.txt").write_text(prof.output_text(unicode=True, show_all=False))
        (Path(profile_dir) / f"{step}.html").write_text(prof.output_html())
    else:
        out = _call_step(env, step, inputs)
    return {
        "result": out,
        "setup_s": t1 - t0,
        "work_s": time.perf_counter() - t1,
        "rss_ready_mb": rss_ready,
        "peak_rss_mb": _status_mb("VmHWM"),
    }


def _call_step(env: Any, step: str, inputs: dict[str, Any]) -> Any:
    """``step`` on its upstream records (JSON from the parent, as XCom carries them); its record as JSON."""
    from mlcycle.core.records import DataChecks, Evaluation, GateDecision, Snapshot, TrainResult
    from mlcycle.steps.check_data import check_data
    from mlcycle.steps.evaluate import evaluate
    from mlcycle.steps.ingest import ingest
    from mlcycle.steps.promote import register_and_promote
    from mlcycle.steps.train import train
    from mlcycle.steps.validate import validate_model

    def record(kind: Any, name: str) -> Any:
        return kind.from_xcom(inputs[name])

    if step == "ingest":
        out = ingest(env, INTERVAL_END)
    elif step == "check_data":
        out = check_data(env, record(Snapshot, "snapshot"))
    elif step == "train":
        out = train(env, record(Snapshot, "snapshot"), record(DataChecks, "checks"))
    elif step == "evaluate":
        out = evaluate(env, record(Snapshot, "snapshot"), record(TrainResult, "trained"))
    elif step == "validate_model":
        out = validate_model(env, record(Evaluation, "evaluation"), record(TrainResult, "trained"), False)
    else:
        out = register_and_promote(
            env,
            record(TrainResult, "trained"),
            record(Snapshot, "snapshot"),
            record(DataChecks, "checks"),
            record(Evaluation, "evaluation"),
            record(GateDecision, "decision"),
            False,
        )
    return out.to_xcom()


def _run_child(
    step: str, config: Path, inputs: dict[str, Any], env: dict[str, str], workdir: Path
) -> dict[str, Any]:
    args = workdir / f"{step}.inputs.json"
    args.write_text(json.dumps(inputs, default=str))
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", step, str(config), str(args)],
        capture_output=True, text=True, env=env, timeout=7200, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        return {"failed": True, "returncode": proc.returncode, "wall_s": wall, "stderr": proc.stderr[-3000:]}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "wall_s": wall}


def measure(
    rows: int,
    n_num: int,
    n_cat: int,
    workdir: Path,
    threads: int | None,
    passes: int = 1,
    profile: Path | None = None,
) -> dict[str, Any]:
    """The steps in order, ``passes`` times against one mlflow server (the last pass's figures are kept;
    from the second pass on, evaluate also scores the champion the first promoted)."""
    from orchestration_bench import arrow_mb, bench_env, pipeline_yaml, start_mlflow, write_data
    from tests.support.fixtures import stop_process_group

    (workdir / "pipelines").mkdir(parents=True, exist_ok=True)
    data = workdir / f"data-{rows}.parquet"
    t0 = time.perf_counter()
    info = write_data(data, rows, n_num, n_cat)
    info["arrow_mb"] = arrow_mb(data)
    info["generate_s"] = time.perf_counter() - t0
    name = f"scale_{rows}"
    config = workdir / "pipelines" / f"{name}.yaml"
    config.write_text(pipeline_yaml(data, f"{name}_model", n_num, n_cat))
    env = {**bench_env(workdir), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    if threads:
        env["MLCYCLE_THREADS"] = str(threads)
    server, url = start_mlflow(workdir)
    env["MLFLOW_TRACKING_URI"] = url
    if profile:
        profile.mkdir(parents=True, exist_ok=True)
        env["MLCYCLE_BENCH_PROFILE"] = str(profile.resolve())
    results: dict[str, Any] = {}
    try:
        for n in range(1, passes + 1):
            results = {}
            upstream: dict[str, Any] = {"run_id": f"scale_bench_{n}"}
            for step in STEPS:
                res = _run_child(step, config, upstream, env, workdir)
                results[step] = res
                peak = res.get("peak_rss_mb", 0.0)
                print(
                    f"scale: {rows:,} rows pass {n} {step}: {'FAILED' if res.get('failed') else 'ok'} "
                    f"{res['wall_s']:.1f} s, peak {peak:.0f} MB ({peak / info['arrow_mb']:.2f}x Arrow)",
                    file=sys.stderr,
                )
                if res.get("failed"):
                    break
                key = {
                    "ingest": "snapshot",
                    "check_data": "checks",
                    "train": "trained",
                    "evaluate": "evaluation",
                    "validate_model": "decision",
                }
                if step in key:
                    upstream[key[step]] = res["result"]
    finally:
        stop_process_group(server)
        data.unlink(missing_ok=True)
    return {"rows": rows, "numeric": n_num, "categorical": n_cat, "data": info, "steps": results}


def table(raw: dict[str, Any]) -> str:
    arrow = raw["data"]["arrow_mb"]
    lines = [
        f"{raw['rows']:,} rows x {raw['numeric'] + raw['categorical']} features "
        f"(Arrow {arrow:.0f} MB, Parquet {raw['data']['file_mb']:.0f} MB); budget peak <= "
        f"{BUDGET_X_ARROW:g}x Arrow = {BUDGET_X_ARROW * arrow:.0f} MB",
        "",
        "| task | state | wall s | setup s | work s | peak RSS MB | peak / Arrow | budget |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for step in STEPS:
        res = raw["steps"].get(step)
        if res is None:
            lines.append(f"| {step} | not run | - | - | - | - | - | - |")
        elif res.get("failed"):
            lines.append(
                f"| {step} | FAILED (exit {res['returncode']}) | {res['wall_s']:.1f} | - | - | - | - | NOT met |"
            )
        else:
            x = res["peak_rss_mb"] / arrow
            lines.append(
                f"| {step} | ok | {res['wall_s']:.1f} | {res['setup_s']:.1f} | {res['work_s']:.1f} "
                f"| {res['peak_rss_mb']:.0f} | {x:.2f} | {'met' if x <= BUDGET_X_ARROW else 'NOT met'} |"
            )
    return "\n".join(lines)


def verdict(raw: dict[str, Any]) -> bool:
    arrow = raw["data"]["arrow_mb"]
    steps = raw["steps"]
    return all(
        s in steps and not steps[s].get("failed") and steps[s]["peak_rss_mb"] <= BUDGET_X_ARROW * arrow
        for s in STEPS
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--numeric", type=int, default=14)
    parser.add_argument("--categorical", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="MLCYCLE_THREADS for the steps; 0: unset")
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale_bench.json")
    parser.add_argument(
        "--passes",
        type=int,
        default=1,
        help="run the steps this many times against one mlflow (from the 2nd, a champion exists)",
    )
    parser.add_argument(
        "--profile", type=Path, help="pyinstrument profile of each step's work: DIR/<step>.txt and .html"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, config, inputs = args.child
        print(json.dumps(child_stage(step, config, json.loads(Path(inputs).read_text())), default=str))
        return
    with tempfile.TemporaryDirectory(prefix="mlcycle-scale-bench-") as tmp:
        raw = measure(
            args.rows,
            args.numeric,
            args.categorical,
            args.workdir or Path(tmp),
            args.threads or None,
            args.passes,
            args.profile,
        )
    for res in raw["steps"].values():
        res.pop("result", None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"load": os.getloadavg(), "machine": platform.platform(), "cpus": os.cpu_count(), "raw": raw},
            indent=2,
            default=str,
        )
    )
    print(table(raw))
    print(
        f"\nscale budget (every task completes, peak <= {BUDGET_X_ARROW:g}x Arrow): "
        f"{'met' if verdict(raw) else 'NOT met'}"
    )


if __name__ == "__main__":
    main()

"""DAG-parse benchmark: the DAG folder with 1, 10 and 100 pipeline YAMLs.

    .venv/bin/python benchmarks/parse_bench.py [--counts 1,10,100] [--repeats 3] [--out FILE]

For each count the script writes that many copies of ``config/pipelines/churn.yaml`` (distinct
names and model names) into a temporary config directory and imports ``dags/mlcycle_pipelines.py``
the way the dag-processor does, through ``tests/support/parse_probe.py``, in a fresh interpreter per
repeat, in two settings: **dag-processor** (what Airflow's dag-processor pays: it forks its parsing
processes from the manager, so ``airflow.dag_processing.manager``/``processor`` are loaded and
``gc.freeze()``-d, as the manager does before forking, before the clock starts; the budget is judged on this one) and **cold** (only Airflow's SDK loaded first: a
worker parsing the file to run a task, or a plain ``python`` import). Reported per count: the DAG
file's import time (median of the repeats), the whole process' wall time, the marginal cost per
pipeline and the heavy modules the parse itself imported (pandas, scikit-learn, MLflow, Great
Expectations, Evidently, pyarrow, boto3, matplotlib, slack_sdk, aiohttp). Budget: 100 pipelines
<= 1 s, none heavy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "support" / "parse_probe.py"
DAG_FILE = ROOT / "dags" / "mlcycle_pipelines.py"
TEMPLATE = ROOT / "config" / "pipelines" / "churn.yaml"
BUDGET_SECONDS = 1.0


def write_configs(directory: Path, count: int) -> None:
    """``count`` pipelines: the demo YAML under distinct file and model names."""
    text = TEMPLATE.read_text()
    for i in range(count):
        name = f"bench_{i:03d}"
        (directory / f"{name}.yaml").write_text(text + f"\nregistry:\n  model_name: {name}_model\n")


MODES = ("dag-processor", "cold")


def probe(config_dir: Path, home: Path, for_dag: str | None = None, mode: str = "cold") -> dict[str, Any]:
    env = {
        **os.environ,
        "MLCYCLE_CONFIG_DIR": str(config_dir),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONWARNINGS": "ignore::UserWarning",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("_AIRFLOW_PARSING_CONTEXT_DAG_ID", None)
    env.pop("MLCYCLE_PROBE_PRELOAD", None)
    if mode == "dag-processor":
        env["MLCYCLE_PROBE_PRELOAD"] = mode
    if for_dag:  # what a worker sets when it parses the file to run one task of for_dag
        env["_AIRFLOW_PARSING_CONTEXT_DAG_ID"] = for_dag
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(PROBE), str(DAG_FILE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"parse probe failed for {config_dir}:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "seconds": out["seconds"],
        "wall": wall,
        "heavy": out["heavy"],
        "dags": len(out["dags"]),
        "queries": len(out["queries"]),
        "lookups": len(out["lookups"]),
    }


def measure(counts: list[int], repeats: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlcycle-parse-bench-") as tmp:
        home = Path(tmp) / "airflow"
        home.mkdir()
        for count in counts:
            config_dir = Path(tmp) / f"pipelines-{count}"
            config_dir.mkdir()
            write_configs(config_dir, count)
            cases: list[tuple[str, str | None]] = [(m, None) for m in MODES]
            if count == max(counts):
                cases.append(("cold", "bench_000__train"))
            runs: dict[tuple[str, str | None], list[dict[str, Any]]] = {case: [] for case in cases}
            for _ in range(repeats):  # the cases alternate run by run, so a load change hits them alike
                for mode, for_dag in cases:
                    runs[(mode, for_dag)].append(probe(config_dir, home, for_dag, mode))
            for (mode, for_dag), measured in runs.items():
                rows.append(_row(count, measured, for_dag, mode))
                print(
                    f"parse: {count} pipeline(s), {mode}: {rows[-1]['parse_s_median']:.3f} s", file=sys.stderr
                )
    for mode in MODES:
        plain = [r for r in rows if not r["for_dag"] and r["mode"] == mode]
        if len(plain) > 1:
            first, last = plain[0], plain[-1]
            span = last["pipelines"] - first["pipelines"]
            for row in plain:
                row["per_pipeline_ms"] = 1000 * (last["parse_s_median"] - first["parse_s_median"]) / span
    return rows


def _row(count: int, runs: list[dict[str, Any]], for_dag: str | None, mode: str) -> dict[str, Any]:
    secs = [r["seconds"] for r in runs]
    return {
        "pipelines": count,
        "mode": mode,
        "for_dag": for_dag,
        "dags": runs[0]["dags"],
        "parse_s_median": statistics.median(secs),
        "parse_s_min": min(secs),
        "parse_s_max": max(secs),
        "process_wall_s_median": statistics.median(r["wall"] for r in runs),
        "heavy": sorted({m for r in runs for m in r["heavy"]}),
        "db_queries": max(r["queries"] for r in runs),
        "connection_lookups": max(r["lookups"] for r in runs),
        "repeats": len(runs),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| pipelines | parsed in | DAGs | parse s median (min-max) | process wall s | ms per extra pipeline | heavy modules | DB queries | conn lookups | budget |",
        "|---:|---|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        ok = r["parse_s_median"] <= BUDGET_SECONDS and not r["heavy"]
        if r["pipelines"] == 100 and not r["for_dag"]:
            budget = "met" if ok else "NOT met"
        else:
            budget = "ok" if not r["heavy"] else "heavy!"
        what = f"{r['pipelines']}, worker parse for {r['for_dag']}" if r["for_dag"] else str(r["pipelines"])
        lines.append(
            f"| {what} | {r.get('mode', 'cold')} | {r['dags']} | {r['parse_s_median']:.3f} ({r['parse_s_min']:.2f}-{r['parse_s_max']:.2f}) "
            f"| {r['process_wall_s_median']:.2f} | {r.get('per_pipeline_ms', 0):.1f} | {', '.join(r['heavy']) or 'none'} "
            f"| {r['db_queries']} | {r['connection_lookups']} | {budget} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,10,100")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "parse_bench.json")
    args = parser.parse_args()
    rows = measure([int(c) for c in args.counts.split(",")], args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"load": os.getloadavg(), "rows": rows}, indent=2))
    print(table(rows))


if __name__ == "__main__":
    main()

"""Orchestration-overhead benchmark: the training DAG end to end vs. the bare floor, side by side.

    .venv/bin/python benchmarks/orchestration_bench.py [--rows 1000,1000000] [--big] [--repeats 3]
        [--numeric 14] [--categorical 6] [--out FILE]

For every size the parent writes seeded data (``--numeric`` float and ``--categorical`` string
feature columns, a timestamp, an id and a binary target) as Parquet, starts one real
``mlflow server`` (SQLite backend, local artifacts, job execution off) for the whole run, and
alternates, in fresh processes:

* **DAG** -- ``<pipeline>__train`` through ``dag.test()`` (what ``mlcycle run`` does): ingest
  snapshot, GX checks, fit + MLflow logging (+ the drift reference), evaluation with slices and
  the champion comparison, validation, registration and promotion. The pipeline YAML is the demo's
  (HistGradientBoosting, same params, same kinds of checks) pointed at the generated data.
* **floor** -- the same work a data scientist would write in one script: read the needed columns,
  fit the same preprocessing + estimator with the same params on the same time split, predict the
  holdout, compute ROC AUC.

Reported: the fixed cost F (the DAG process at 1,000 rows) and the per-row ratio
r = (DAG(N) - DAG(1k)) / (floor(N) - floor(1k)), medians over ``--repeats`` (wall of the whole
fresh process, interpreter start included, for both). Per task: wall (from the task instances)
and peak RSS (sampled every 50 ms while the task ran). ``--big`` adds 10M rows (opt-in, long).
Budgets: F <= 15 s, r <= 1.3.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))
BUDGET_F = 15.0
BUDGET_R = 1.3
PARAMS = {"learning_rate": 0.1, "max_iter": 150, "max_depth": 6}  # the demo pipeline's
SEED = 42
CHUNK = 1_000_000


# --------------------------------------------------------------------------- data


def write_data(path: Path, rows: int, n_num: int, n_cat: int, seed: int = 7) -> dict[str, Any]:
    """Seeded rows in Parquet row groups of 1M (bounded memory); a learnable binary target."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    levels = [[f"c{j}_{k}" for k in range(4 + 3 * j)] for j in range(n_cat)]
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 1, n_num)
    cat_effects = [rng.normal(0, 0.8, len(lv)) for lv in levels]
    start = np.datetime64("2025-01-01T00:00:00", "s")
    span = 365 * 86400
    writer = None
    written = 0
    while written < rows:
        n = min(CHUNK, rows - written)
        X = rng.normal(0, 1, (n, n_num))
        logit = X @ weights * 0.5 - 1.0
        cols: dict[str, Any] = {}
        for j in range(n_num):
            col = X[:, j] * (j + 1) + 10 * j
            if j == n_num - 1:
                col = np.where(rng.random(n) < 0.02, np.nan, col)  # one column with nulls
            cols[f"num_{j}"] = col
        for j, lv in enumerate(levels):
            codes = rng.integers(0, len(lv), n)
            logit += cat_effects[j][codes]
            cols[f"cat_{j}"] = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(lv)).cast(
                pa.string()
            )
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
        offsets = np.sort(rng.integers(0, span, n))
        table = pa.table(
            {
                "event_time": pa.array(start + offsets, pa.timestamp("s", tz="UTC")),
                "customer_id": pa.array(np.arange(written, written + n, dtype="int64")),
                **cols,
                "churned": pa.array(y),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
        written += n
    assert writer is not None
    writer.close()
    meta = pq.ParquetFile(path).metadata
    return {"rows": meta.num_rows, "file_mb": path.stat().st_size / 1e6}


def arrow_mb(path: Path) -> float:
    import pyarrow.parquet as pq

    return float(pq.read_table(path).nbytes) / 1e6


def pipeline_yaml(source: Path, model_name: str, n_num: int, n_cat: int) -> str:
    """The demo pipeline (churn.yaml) with data, features and checks pointed at the generated data."""
    import yaml

    cfg = yaml.safe_load((ROOT / "config" / "pipelines" / "churn.yaml").read_text())
    cfg["retries"] = 0
    cfg["data"] = {
        "source": str(source),
        "format": "parquet",
        "timestamp_column": "event_time",
        "id_column": "customer_id",
        "target": "churned",
        "features": {
            "numeric": [f"num_{j}" for j in range(n_num)],
            "categorical": [f"cat_{j}" for j in range(n_cat)],
        },
        "window": {"lookback_days": None},
    }
    cfg["checks"]["expectations"] = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "churned"}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "churned", "value_set": [0, 1]}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "num_0", "min_value": -100}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "num_1", "min_value": -100}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "num_2", "min_value": -100}},
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": f"num_{n_num - 1}", "mostly": 0.95},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "cat_0", "value_set": [f"c0_{k}" for k in range(4)]},
        },
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "customer_id"}},
    ]
    cfg["evaluation"]["slices"] = ["cat_0", "cat_1"]
    if cfg["evaluation"].get("fairness"):  # the demo's fairness report, on a generated column
        cfg["evaluation"]["fairness"]["sensitive"] = "cat_1"
    cfg["evaluation"]["thresholds"] = {"roc_auc": 0.6}
    cfg["registry"] = {"model_name": model_name}
    cfg["notifications"] = {"events": []}
    return yaml.safe_dump(cfg, sort_keys=False)


# --------------------------------------------------------------------------- children


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_floor(source: str, n_num: int, n_cat: int) -> dict[str, Any]:
    """The bare floor: read + fit + predict + metric, as one plain script would."""
    t0 = time.perf_counter()
    import numpy as np
    import pyarrow.parquet as pq
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    imports = time.perf_counter() - t0
    numeric = [f"num_{j}" for j in range(n_num)]
    categorical = [f"cat_{j}" for j in range(n_cat)]
    t1 = time.perf_counter()
    frame = pq.read_table(source, columns=["event_time", *numeric, *categorical, "churned"]).to_pandas()
    order = np.argsort(frame["event_time"].to_numpy(), kind="stable")
    cut = int(round(len(frame) * 0.8))
    train, test = np.sort(order[:cut]), np.sort(order[cut:])
    X, y = frame[numeric + categorical], frame["churned"]
    # HistGradientBoosting's own categorical support, as its documentation recommends (and as the DAG's
    # model does): numeric columns as they are, NaNs included; categoricals ordinal-coded
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, min_frequency=5, max_categories=255
    )
    model = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [("numeric", "passthrough", numeric), ("categorical", encoder, categorical)]
                ),
            ),
            (
                "estimator",
                HistGradientBoostingClassifier(
                    **PARAMS, random_state=SEED, categorical_features=[False] * n_num + [True] * n_cat
                ),
            ),
        ]
    )
    model.fit(X.iloc[train], y.iloc[train])
    proba = model.predict_proba(X.iloc[test])[:, 1]
    auc = float(roc_auc_score(y.iloc[test], proba))
    return {
        "work_s": time.perf_counter() - t1,
        "imports_s": imports,
        "roc_auc": auc,
        "peak_rss_mb": _status_mb("VmHWM"),
    }


def child_dag(pipeline: str) -> dict[str, Any]:
    """One ``dag.test()`` run of the pipeline's training DAG, with per-task wall and peak RSS."""
    import threading

    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.time(), _status_mb("VmRSS")))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    from mlcycle.airflow.devrun import _test_run, collect_records, prepare_airflow
    from mlcycle.airflow.factory import build_training_dag
    from mlcycle.config.loader import find_pipeline

    pipe = find_pipeline(pipeline)
    prepare_airflow()
    dag = build_training_dag(pipe)
    t1 = time.perf_counter()
    from datetime import UTC, datetime

    dr = _test_run(dag, datetime(2026, 1, 1, tzinfo=UTC), None)
    t2 = time.perf_counter()
    stop.set()
    sampler.join()
    tasks = {}
    for ti in dr.get_task_instances():
        start, end = ti.start_date, ti.end_date
        if start is None or end is None:
            tasks[ti.task_id] = {"state": str(ti.state)}
            continue
        s, e = start.timestamp(), end.timestamp()
        peak = max((rss for t, rss in samples if s - 0.05 <= t <= e + 0.05), default=0.0)
        tasks[ti.task_id] = {
            "state": str(getattr(ti.state, "value", ti.state)),
            "seconds": e - s,
            "peak_rss_mb": peak,
        }
    records = collect_records(dag.dag_id, dr.run_id)
    evaluation = records.get("evaluation") or {}
    return {
        "state": str(getattr(dr.state, "value", dr.state)),
        "setup_s": t1 - t0,
        "dag_test_s": t2 - t1,
        "tasks": tasks,
        "roc_auc": (evaluation.get("candidate") or {}).get("roc_auc"),
        "champion": (evaluation.get("champion") or {}).get("version"),
        "peak_rss_mb": _status_mb("VmHWM"),
    }


# --------------------------------------------------------------------------- parent


def _run(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, timeout=7200, check=False
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def start_mlflow(workdir: Path) -> tuple[Any, str]:
    from tests.support.fixtures import MLFLOW_BIN, _healthy, _wait_until, free_port, spawn

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        str(MLFLOW_BIN), "server", "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
        "--artifacts-destination", str(workdir / "mlflow-artifacts"), "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONUNBUFFERED": "1"}
    proc = spawn(cmd, env, workdir / "mlflow-server.log", cwd=workdir)
    if not _wait_until(lambda: proc.poll() is not None or _healthy(url), 180, interval=0.25) or proc.poll():
        raise SystemExit(f"mlflow server did not start; see {workdir / 'mlflow-server.log'}")
    return proc, url


def bench_env(workdir: Path) -> dict[str, str]:
    """The environment of a benchmark's children: mlcycle's home, pipelines and data under ``workdir``."""
    return {
        **os.environ,
        "MLCYCLE_HOME": str(workdir / "home"),
        "MLCYCLE_CONFIG_DIR": str(workdir / "pipelines"),
        "MLCYCLE_DATA_ROOT": str(workdir),
        "MLCYCLE_PROJECT_ROOT": str(ROOT),
        "MLCYCLE_GIT_COMMIT": "benchmark",
        "PYTHONWARNINGS": "ignore",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }


def measure(
    sizes: list[int],
    repeats: int,
    n_num: int,
    n_cat: int,
    workdir: Path,
    threads: int | None = None,
    partial: Path | None = None,
) -> dict[str, Any]:
    from tests.support.fixtures import stop_process_group

    (workdir / "pipelines").mkdir(parents=True, exist_ok=True)
    env = {
        **bench_env(workdir),
        "AIRFLOW_HOME": str(workdir / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    }
    if threads:  # the same cap on both sides: MLCYCLE_THREADS in the DAG, OpenMP's own in the floor
        env["MLCYCLE_THREADS"] = str(threads)
    floor_env = {**env, "OMP_NUM_THREADS": str(threads)} if threads else env
    server, url = start_mlflow(workdir)
    env["MLFLOW_TRACKING_URI"] = url
    out: dict[str, Any] = {"sizes": {}}
    try:
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True
        )
        for rows in sizes:
            data = workdir / f"data-{rows}.parquet"
            info = write_data(data, rows, n_num, n_cat)
            info["arrow_mb"] = arrow_mb(data)
            name = f"bench_{rows}"
            (workdir / "pipelines" / f"{name}.yaml").write_text(
                pipeline_yaml(data, f"{name}_model", n_num, n_cat)
            )
            dag_runs, floor_runs = [], []
            for i in range(repeats):
                res, wall = _run(["--child-dag", name], env)
                if res["state"] != "success":
                    raise SystemExit(f"DAG run {i} at {rows} rows ended {res['state']}: {res['tasks']}")
                dag_runs.append({**res, "wall_s": wall})
                res, wall = _run(["--child-floor", str(data), str(n_num), str(n_cat)], floor_env)
                floor_runs.append({**res, "wall_s": wall})
                print(
                    f"orchestration: {rows} rows run {i + 1}: DAG {dag_runs[-1]['wall_s']:.1f} s, "
                    f"floor {floor_runs[-1]['wall_s']:.1f} s",
                    file=sys.stderr,
                )
                out["sizes"][rows] = {"data": info, "dag": dag_runs, "floor": floor_runs}
                if partial:  # what has run so far survives an interrupted (long) run
                    partial.write_text(json.dumps(out, default=str))
            data.unlink()
    finally:
        stop_process_group(server)
    return out


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    med = statistics.median
    rows: dict[int, dict[str, Any]] = {}
    for n, d in raw["sizes"].items():
        task_ids = list(d["dag"][0]["tasks"])
        rows[int(n)] = {
            "dag_s": med(r["wall_s"] for r in d["dag"]),
            "dag_test_s": med(r["dag_test_s"] for r in d["dag"]),
            "floor_s": med(r["wall_s"] for r in d["floor"]),
            "floor_work_s": med(r["work_s"] for r in d["floor"]),
            "dag_peak_mb": max(r["peak_rss_mb"] for r in d["dag"]),
            "floor_peak_mb": max(r["peak_rss_mb"] for r in d["floor"]),
            "dag_auc": med(r["roc_auc"] for r in d["dag"]),
            "floor_auc": med(r["roc_auc"] for r in d["floor"]),
            "arrow_mb": d["data"]["arrow_mb"],
            "tasks": {
                t: {
                    "seconds": med(r["tasks"][t]["seconds"] for r in d["dag"]),
                    "peak_rss_mb": max(r["tasks"][t]["peak_rss_mb"] for r in d["dag"]),
                }
                for t in task_ids
            },
            "runs": len(d["dag"]),
        }
    base = rows.get(min(rows)) if rows else None
    for n, row in rows.items():
        if base is not None and n != min(rows):
            row["r"] = (row["dag_s"] - base["dag_s"]) / (row["floor_s"] - base["floor_s"])
    return {"by_rows": rows, "F": base["dag_s"] if base else None}


def table(summary: dict[str, Any]) -> str:
    lines = [
        "| rows | DAG s (dag.test s) | floor s (work s) | DAG/floor | r vs 1k | peak RSS MB DAG / floor | Arrow MB | DAG peak/Arrow | AUC DAG / floor | runs |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, r in sorted(summary["by_rows"].items()):
        lines.append(
            f"| {n:,} | {r['dag_s']:.1f} ({r['dag_test_s']:.1f}) | {r['floor_s']:.1f} ({r['floor_work_s']:.1f}) "
            f"| {r['dag_s'] / r['floor_s']:.2f} | {r['r']:.2f} | {r['dag_peak_mb']:.0f} / {r['floor_peak_mb']:.0f} "
            f"| {r['arrow_mb']:.0f} | {r['dag_peak_mb'] / max(r['arrow_mb'], 1e-9):.1f} | {r['dag_auc']:.3f} / {r['floor_auc']:.3f} | {r['runs']} |"
            if "r" in r
            else f"| {n:,} | {r['dag_s']:.1f} ({r['dag_test_s']:.1f}) | {r['floor_s']:.1f} ({r['floor_work_s']:.1f}) "
            f"| {r['dag_s'] / r['floor_s']:.2f} | - | {r['dag_peak_mb']:.0f} / {r['floor_peak_mb']:.0f} "
            f"| {r['arrow_mb']:.0f} | {r['dag_peak_mb'] / max(r['arrow_mb'], 1e-9):.1f} | {r['dag_auc']:.3f} / {r['floor_auc']:.3f} | {r['runs']} |"
        )
    lines += ["", "Per task (median s / peak RSS MB while the task ran):", ""]
    sizes = sorted(summary["by_rows"])
    task_ids = list(summary["by_rows"][sizes[0]]["tasks"])
    lines.append("| task | " + " | ".join(f"{n:,} rows" for n in sizes) + " |")
    lines.append("|---|" + "---:|" * len(sizes))
    for t in task_ids:
        cells = [
            f"{summary['by_rows'][n]['tasks'][t]['seconds']:.1f} / {summary['by_rows'][n]['tasks'][t]['peak_rss_mb']:.0f}"
            for n in sizes
        ]
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000,1000000")
    parser.add_argument("--big", action="store_true", help="add 10,000,000 rows (opt-in: long)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--numeric", type=int, default=14)
    parser.add_argument("--categorical", type=int, default=6)
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OpenMP/BLAS threads on both sides; 0: the libraries' default (%(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "orchestration_bench.json"
    )
    parser.add_argument("--child-dag", help=argparse.SUPPRESS)
    parser.add_argument("--child-floor", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_dag:
        print(json.dumps(child_dag(args.child_dag)))
        return
    if args.child_floor:
        source, n_num, n_cat = args.child_floor
        print(json.dumps(child_floor(source, int(n_num), int(n_cat))))
        return
    sizes = [int(s) for s in args.rows.split(",")] + ([10_000_000] if args.big else [])
    with tempfile.TemporaryDirectory(prefix="mlcycle-orch-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        partial = args.out.with_suffix(".partial.json")
        raw = measure(
            sizes, args.repeats, args.numeric, args.categorical, workdir, args.threads or None, partial
        )
    raw["threads"] = args.threads or "library default"
    summary = summarise(raw)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "load": os.getloadavg(),
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "summary": summary,
                "raw": raw,
            },
            indent=2,
            default=str,
        )
    )
    print(table(summary))
    f_ok = summary["F"] is not None and summary["F"] <= BUDGET_F
    print(f"\nF = {summary['F']:.1f} s (budget <= {BUDGET_F:g} s): {'met' if f_ok else 'NOT met'}")
    for n, r in sorted(summary["by_rows"].items()):
        if "r" in r:
            print(
                f"r at {n:,} rows = {r['r']:.2f} (budget <= {BUDGET_R}): {'met' if r['r'] <= BUDGET_R else 'NOT met'}"
            )


if __name__ == "__main__":
    main()

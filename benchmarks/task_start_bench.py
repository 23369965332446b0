"""Task-start benchmark: what each task kind imports before its first line of real work, and its cost.

    .venv/bin/python benchmarks/task_start_bench.py [--repeats 3] [--no-pyc] [--out FILE]

A task process starts with Airflow's task runner loaded; the DAG file is parsed again and the
task body runs, importing what it needs lazily. For every task of the training and monitoring
DAGs this script finds, from the source (so it cannot drift from the code), the imports of the
task function in ``dag_factory`` and of every ``mlcycle`` function it calls, transitively. Then,
in a fresh interpreter per repeat that has already imported the task runner and parsed the DAG
file (as a worker has), it times importing exactly those modules: the time from the task starting
to its first line of real work, less the DAG parse (see parse_bench.py). ``-X importtime`` splits
that time by top-level package. Measured with compiled bytecode (``.pyc``, as ``make install``
leaves it); ``--no-pyc`` also measures, side by side, without (``PYTHONDONTWRITEBYTECODE`` and an
empty ``pycache_prefix``: every module compiled from source, as in a uv venv without
``--compile-bytecode``; 2-3x slower, which is why ``make install`` compiles; opt-in because it
doubles the run).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
HEAVY = (
    "pandas",
    "sklearn",
    "mlflow",
    "great_expectations",
    "evidently",
    "pyarrow",
    "boto3",
    "matplotlib",
    "scipy",
)


def _task_functions() -> dict[str, ast.FunctionDef]:
    """The ``@task(task_id=...)`` bodies in the DAG factory, by task id."""
    from mlcycle.core.names import Task

    tree = ast.parse(Path(importlib.import_module("mlcycle.airflow.factory").__file__ or "").read_text())
    found: dict[str, ast.FunctionDef] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call):
                for kw in deco.keywords:
                    if kw.arg == "task_id" and isinstance(kw.value, ast.Constant):
                        found[str(kw.value.value)] = node
                    elif kw.arg == "task_id" and isinstance(kw.value, ast.Attribute):  # Task.INGEST
                        found[str(getattr(Task, kw.value.attr))] = node
    return found


def _imports_and_calls(fn: ast.AST, module: str) -> tuple[dict[str, str], list[tuple[str, ...]], set[str]]:
    """(local name -> dotted target, dotted call names, imported modules) of one function body."""
    names: dict[str, str] = {}
    modules: set[str] = set()
    calls: list[tuple[str, ...]] = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules.add(alias.name)
                names[alias.asname or alias.name.split(".")[0]] = (
                    alias.asname and alias.name
                ) or alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else module.rsplit(".", node.level)[0] + "." + node.module
            for alias in node.names:
                target = f"{base}.{alias.name}"
                is_module = False
                if target.startswith("mlcycle."):  # find_spec imports parents: never for third parties
                    try:
                        is_module = importlib.util.find_spec(target) is not None
                    except ModuleNotFoundError:
                        is_module = False
                modules.add(target if is_module or not target.startswith("mlcycle.") else base)
                names[alias.asname or alias.name] = target
        elif isinstance(node, ast.Call):
            parts: list[str] = []
            func = node.func
            while isinstance(func, ast.Attribute):
                parts.insert(0, func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                calls.append((func.id, *parts))
    return names, calls, modules


def _resolve(dotted: str) -> Any:
    """The mlcycle object a dotted name refers to (None outside mlcycle: nothing heavy is imported)."""
    if not dotted.startswith("mlcycle"):
        return None
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
        return obj
    return None


def _module_imports_heavy(module: str) -> bool:
    return module.split(".")[0] in HEAVY


def task_imports(task_id: str) -> list[str]:
    """Every module the task's code imports on its way to the work, in first-seen order."""
    fn = _task_functions()[task_id]
    seen_funcs: set[Any] = set()
    modules: list[str] = []

    def visit(node: ast.AST, module: str, globals_: dict[str, Any]) -> None:
        names, calls, mods = _imports_and_calls(node, module)
        for m in sorted(mods):
            if m not in modules:
                modules.append(m)
        for call in calls:
            head, *rest = call
            target = names.get(head)
            obj = _resolve(".".join([target, *rest])) if target else globals_.get(head)
            if target is None and rest:
                for attr in rest:
                    obj = getattr(obj, attr, None)
            if (
                inspect.isclass(obj)
                and obj.__module__.startswith("mlcycle")
                and obj.__module__ != "mlcycle.adapters.store"
            ):
                # a class the task instantiates (e.g. the MLflow registry): its methods may import too;
                # storage adapters are left out: the local one (the default) imports nothing heavy
                funcs = [f for f in vars(obj).values() if inspect.isfunction(f)]
            elif (
                inspect.isfunction(obj)
                and obj.__module__.startswith("mlcycle")
                and obj.__module__ != "mlcycle.adapters.store"
            ):
                funcs = [obj]
            else:
                continue
            for func in funcs:
                if func in seen_funcs:
                    continue
                seen_funcs.add(func)
                if func.__module__ not in modules:
                    modules.append(func.__module__)
                try:
                    src = textwrap.dedent(inspect.getsource(func))
                except OSError:  # generated (dataclass __init__ and the like)
                    continue
                visit(ast.parse(src), func.__module__, func.__globals__)

    factory = importlib.import_module("mlcycle.airflow.factory")
    visit(fn, "mlcycle.airflow.factory", vars(factory))
    return modules


CHILD = """
import json, os, sys, time
import airflow.sdk.execution_time.task_runner  # a worker's task process has it already
import mlcycle.airflow.factory
before = set(sys.modules)
t = time.perf_counter()
for name in {modules!r}:
    try:
        __import__(name)
    except ImportError:  # "from package import name" where name is not a module
        __import__(name.rsplit(".", 1)[0])
elapsed = time.perf_counter() - t
new = set(sys.modules) - before
print(json.dumps({{"seconds": elapsed, "new_modules": len(new),
                  "heavy": sorted({{m.split(".")[0] for m in new if m.split(".")[0] in {heavy!r}}})}}))
"""


def _run_child(modules: list[str], pyc: bool, importtime: bool, scratch: Path) -> tuple[dict[str, Any], str]:
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "AIRFLOW_HOME": str(scratch / "airflow"),
        "MLCYCLE_CONFIG_DIR": str(scratch / "pipelines"),
    }
    cmd = [sys.executable]
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # with .pyc: write what is missing (the warm-up run does)
    if not pyc:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        cmd += ["-X", f"pycache_prefix={tempfile.mkdtemp(dir=scratch)}"]
    if importtime:
        cmd += ["-X", "importtime"]
    cmd += ["-c", CHILD.format(modules=modules, heavy=HEAVY)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child failed for {modules}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _by_package(importtime: str, modules: list[str]) -> dict[str, float]:
    """Self time (s) per top-level package among the imports below the first wanted module."""
    lines = [ln for ln in importtime.splitlines() if ln.startswith("import time:") and "|" in ln]
    totals: dict[str, float] = defaultdict(float)
    started = False
    wanted = {m.split(".")[0] for m in modules}
    marker = "mlcycle.airflow.factory"
    for ln in lines:
        self_us, _cum, name = (x.strip() for x in ln.removeprefix("import time:").split("|"))
        if name == marker:
            started = True
            continue
        if started:
            top = name.split(".")[0]
            totals[top if top in HEAVY or top in ("airflow", "mlcycle") or top in wanted else "other"] += (
                int(self_us) / 1e6
            )
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def measure(repeats: int, no_pyc: bool = False) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlcycle-task-start-") as tmp:
        scratch = Path(tmp)
        (scratch / "airflow").mkdir()
        (scratch / "pipelines").mkdir()
        from mlcycle.core.names import MONITOR_TASKS, TRAINING_TASKS

        for kind, tasks in (("train", TRAINING_TASKS), ("monitor", MONITOR_TASKS)):
            for task_id in tasks:
                modules = task_imports(task_id)
                _run_child(modules, True, False, scratch)  # warm-up: writes any missing .pyc
                pyc_runs = [_run_child(modules, True, False, scratch)[0] for _ in range(repeats)]
                src_runs = [
                    _run_child(modules, False, False, scratch)[0] for _ in range(repeats if no_pyc else 0)
                ]
                _, trace = _run_child(modules, True, True, scratch)
                rows.append(
                    {
                        "dag": kind,
                        "task": task_id,
                        "imports": [m for m in modules if not m.startswith("mlcycle")],
                        "seconds_pyc": statistics.median(r["seconds"] for r in pyc_runs),
                        "seconds_no_pyc": statistics.median(r["seconds"] for r in src_runs)
                        if src_runs
                        else None,
                        "new_modules": pyc_runs[0]["new_modules"],
                        "heavy": pyc_runs[0]["heavy"],
                        "by_package_s": _by_package(trace, modules),
                        "repeats": repeats,
                    }
                )
                print(f"task start: {kind}/{task_id}: {rows[-1]['seconds_pyc']:.2f} s", file=sys.stderr)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| DAG | task | to first work, .pyc s | without .pyc s | modules loaded | heavy packages loaded | top costs (self s, .pyc) |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(r["by_package_s"].items())[:4])
        no_pyc = "-" if r["seconds_no_pyc"] is None else f"{r['seconds_no_pyc']:.2f}"
        lines.append(
            f"| {r['dag']} | {r['task']} | {r['seconds_pyc']:.2f} | {no_pyc} | {r['new_modules']} "
            f"| {', '.join(r['heavy']) or 'none'} | {top} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-pyc", action="store_true", help="also measure without bytecode (doubles the run)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "task_start_bench.json")
    args = parser.parse_args()
    rows = measure(args.repeats, args.no_pyc)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"load": os.getloadavg(), "rows": rows}, indent=2))
    print(table(rows))


if __name__ == "__main__":
    main()

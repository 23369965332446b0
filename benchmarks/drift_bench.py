"""Drift-monitoring benchmark: mlcycle's monitoring step against full-frame Evidently.

    .venv/bin/python benchmarks/drift_bench.py [--sizes 100000,1000000,5000000] [--repeats N] [--out FILE]

For every size (rows per side) the parent generates seeded data once (a reference frame, the
"training snapshot", and one current window per drift scenario, all the same size, as Parquet), then
runs every measurement in a fresh subprocess so that each one's peak RSS is its own:

* ``profile``  -- training time, reported apart: ``drift.build_profile`` on the reference and the
  fixed-size reference sample stored beside it (as ``monitoring.build_reference`` does);
* ``mlcycle``  -- the monitoring step (A), as ``monitoring.detect_drift`` runs it on the window and
  the stored reference: ``dataset_drift`` on every row of the window against the profile,
  ``domain_classifier`` and ``evidently_report`` on ``sample(...)`` of each side;
* ``evidently`` -- the baseline (B): Evidently's ``DataDriftPreset`` on the full frames.

Wall times cover the step only (imports and Parquet loading are timed apart). Peak memory is the
process's VmHWM (whole life) and the step's own peak (VmHWM reset through /proc/self/clear_refs
after loading), both set against the frames' Arrow size (``pa.Table.from_pandas(df).nbytes``).
The verdicts of A and B are compared per column and for the dataset. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

NUMERIC = [
    "num_normal",
    "num_lognormal",
    "num_exponential",
    "num_uniform",
    "num_bimodal",
    "num_gamma",
    "num_normal_nulls",
    "num_t",
    "num_beta",
    "num_poisson",
    "num_count",
    "num_flag",
    "num_rating",
    "num_int_nulls",
]
CATEGORICAL = [
    "cat_country",
    "cat_device",
    "cat_channel",
    "cat_plan",
    "cat_city",
    "cat_merchant",
    "cat_browser",
    "cat_segment",
]
FEATURES = NUMERIC + CATEGORICAL

_MINORITY = ["num_normal", "num_lognormal", "num_rating", "cat_device"]
_MAJORITY = [
    *_MINORITY,
    "num_exponential",
    "num_uniform",
    "num_gamma",
    "num_normal_nulls",
    "num_poisson",
    "num_count",
    "num_flag",
    "cat_country",
    "cat_channel",
    "cat_city",
    "cat_browser",
]
# Seeded drifts per scenario; the current windows use their own seeds, so undrifted columns differ
# from the reference by sampling noise only.
SCENARIOS: dict[str, list[str]] = {"none": [], "minority": _MINORITY, "majority": _MAJORITY}
REFERENCE_SEED = 20261123
CURRENT_SEEDS = {"none": 1, "minority": 2, "majority": 3}

# The monitor's defaults (mlcycle.config.DriftConfig): rows per side for Evidently's report and
# for the domain classifier.
REPORT_SAMPLE_ROWS = 20_000
DOMAIN_SAMPLE_ROWS = 10_000
SHARE_THRESHOLD = 0.5
SEED = 0  # DriftConfig.seed

DEFAULT_SIZES = "100000,1000000"
LARGE = 1_000_000  # from here on, full-frame Evidently runs once per scenario by default
MB = 1024 * 1024
RESULTS = Path(__file__).resolve().parent / "results" / "drift_bench.json"

APPROACH_LABELS = {
    "profile": "profile + reference sample (training time)",
    "mlcycle": "A: mlcycle monitoring step",
    "evidently": "B: Evidently full frame",
}


# --------------------------------------------------------------------------- data generation


def _zipf(k: int, s: float) -> list[float]:
    w = [1.0 / (r + 1) ** s for r in range(k)]
    total = sum(w)
    return [x / total for x in w]


def _categorical(rng: Any, n: int, labels: list[str], probs: list[float], null_share: float = 0.0) -> Any:
    import numpy as np

    out = np.asarray(labels, dtype=object)[rng.choice(len(labels), size=n, p=probs)]
    if null_share:
        out[rng.random(n) < null_share] = None
    return out


def make_frame(rows: int, seed: int, drifted: list[str]) -> Any:
    """``rows`` rows of the 22 benchmark columns; columns named in ``drifted`` take their shifted law."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    d = set(drifted)
    n = rows
    cols: dict[str, Any] = {}
    # numeric: mean shifts and scale changes, all far from the 0.1 threshold when seeded
    cols["num_normal"] = rng.normal(56.0 if "num_normal" in d else 50.0, 10.0, n)  # mean +0.6 sd
    cols["num_lognormal"] = np.exp(rng.normal(3.0, 0.6, n)) * (1.5 if "num_lognormal" in d else 1.0)
    cols["num_exponential"] = rng.exponential(3.0 if "num_exponential" in d else 2.0, n)  # scale x1.5
    cols["num_uniform"] = rng.uniform(0.0, 100.0, n) + (15.0 if "num_uniform" in d else 0.0)
    mix = rng.random(n) < 0.6
    cols["num_bimodal"] = np.where(mix, rng.normal(-2.0, 1.0, n), rng.normal(3.0, 1.5, n))
    cols["num_gamma"] = rng.gamma(2.0, 3.0, n) * (1.5 if "num_gamma" in d else 1.0)
    x = rng.normal(0.4 if "num_normal_nulls" in d else 0.0, 1.0, n)
    x[rng.random(n) < 0.05] = np.nan
    cols["num_normal_nulls"] = x
    cols["num_t"] = rng.standard_t(5, n) * 2.0 + 10.0
    cols["num_beta"] = rng.beta(2.0, 5.0, n)
    # low-cardinality integers: ~40 values (Wasserstein), 12 values (Wasserstein on ties),
    # 2 and 5 values (Jensen-Shannon on frequencies), 4 values with nulls (float with NaN)
    cols["num_poisson"] = rng.poisson(33.0 if "num_poisson" in d else 30.0, n).astype("int64")
    cols["num_count"] = rng.binomial(11, 0.45 if "num_count" in d else 0.3, n).astype("int64")
    cols["num_flag"] = (rng.random(n) < (0.45 if "num_flag" in d else 0.2)).astype("int64")
    rating_p = [0.15, 0.2, 0.25, 0.25, 0.15] if "num_rating" in d else [0.05, 0.1, 0.2, 0.35, 0.3]
    cols["num_rating"] = (rng.choice(5, size=n, p=rating_p) + 1).astype("int64")
    y = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1]).astype("float64")
    y[rng.random(n) < 0.10] = np.nan
    cols["num_int_nulls"] = y
    # categorical: frequency changes
    countries = ["US", "DE", "FR", "GB", "ES", "IT", "NL", "PL", "SE", "BR"]
    country_p = [0.3, 0.2, 0.12, 0.1, 0.08, 0.06, 0.05, 0.04, 0.03, 0.02]
    cols["cat_country"] = _categorical(rng, n, countries, [0.1] * 10 if "cat_country" in d else country_p)
    device_p = [0.3, 0.4, 0.3] if "cat_device" in d else [0.6, 0.3, 0.1]
    cols["cat_device"] = _categorical(rng, n, ["mobile", "desktop", "tablet"], device_p)
    channel_p = [0.15, 0.25, 0.15, 0.2, 0.25] if "cat_channel" in d else [0.4, 0.25, 0.15, 0.12, 0.08]
    cols["cat_channel"] = _categorical(rng, n, ["organic", "paid", "email", "social", "referral"], channel_p)
    cols["cat_plan"] = _categorical(rng, n, ["free", "basic", "pro", "enterprise"], [0.5, 0.3, 0.15, 0.05])
    city_p = _zipf(200, 1.1)
    if "cat_city" in d:  # the 20 most frequent cities swap ranks
        city_p = city_p[:20][::-1] + city_p[20:]
    cols["cat_city"] = _categorical(rng, n, [f"city_{i:03d}" for i in range(200)], city_p)
    cols["cat_merchant"] = _categorical(rng, n, [f"m_{i:04d}" for i in range(1000)], _zipf(1000, 0.9))
    browsers = ["chrome", "safari", "firefox", "edge", "opera", "other"]
    browser_p = (
        [0.3, 0.35, 0.1, 0.15, 0.05, 0.05] if "cat_browser" in d else [0.55, 0.2, 0.1, 0.08, 0.04, 0.03]
    )
    cols["cat_browser"] = _categorical(rng, n, browsers, browser_p, null_share=0.03)
    cols["cat_segment"] = _categorical(rng, n, ["b2c", "b2b"], [0.7, 0.3])
    return pd.DataFrame(cols)[FEATURES]


# --------------------------------------------------------------------------- worker side


def _proc_status_mb(field: str, pid: int | str = "self") -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0), so the next peak is the step's."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _load(path: str) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pandas()  # as mlcycle.adapters.sources.load_snapshot reads a snapshot


def _drift_scores(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for metric in report.get("metrics", []):
        config = metric.get("config") or {}
        if str(config.get("type", "")).endswith("ValueDrift"):
            out[config["column"]] = {"score": metric.get("value"), "method": config.get("method")}
    return out


def _evidently_summary(report: dict[str, Any]) -> dict[str, Any]:
    from mlcycle.adapters.reports import evidently_verdicts

    verdicts = evidently_verdicts(report, FEATURES)
    scores = _drift_scores(report)
    share_tests = [t for t in report.get("tests", []) if "Share of Drifted Columns" in str(t.get("name"))]
    share = verdicts["share"]
    return {
        "columns": {
            c: {"drifted": verdicts["columns"].get(c), **scores.get(c, {"score": None, "method": None})}
            for c in FEATURES
        },
        "share": share,
        "dataset_drift": share is not None and share >= SHARE_THRESHOLD,
        "share_test_status": share_tests[0]["status"] if share_tests else None,
    }


def _worker(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    import numpy as np  # noqa: F401  (imports are timed apart from the step)

    if kind == "prepare":
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow_mb: dict[str, float] = {}
        frames = {"reference": (REFERENCE_SEED, [])}
        frames.update({f"current_{s}": (CURRENT_SEEDS[s], SCENARIOS[s]) for s in spec["scenarios"]})
        for name, (seed, drifted) in frames.items():
            table = pa.Table.from_pandas(make_frame(spec["rows"], seed, drifted))
            arrow_mb[name] = table.nbytes / MB
            pq.write_table(table, Path(spec["data_dir"]) / f"{name}.parquet")
            del table
            gc.collect()
        return {"arrow_mb": arrow_mb, "seconds": time.perf_counter() - started}

    import evidently  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow
    import pyarrow.parquet
    import scipy.spatial  # noqa: F401
    import sklearn.ensemble
    import sklearn.inspection
    import sklearn.model_selection  # noqa: F401
    from evidently import Report  # noqa: F401
    from evidently.presets import DataDriftPreset  # noqa: F401

    from mlcycle.adapters import reports
    from mlcycle.core import drift

    imports_s = time.perf_counter() - started
    rss_imports = _proc_status_mb("VmRSS")
    data_dir = Path(spec["data_dir"])
    t = time.perf_counter()
    # What each side holds: training time the snapshot; the monitor (like monitoring.detect_drift)
    # the window and the reference sample stored with the model; the baseline both full frames.
    reference = _load(str(data_dir / "reference.parquet")) if kind != "mlcycle" else None
    ref_stored = _load(str(data_dir / "reference_sample.parquet")) if kind == "mlcycle" else None
    current = None if kind == "profile" else _load(str(data_dir / f"current_{spec['scenario']}.parquet"))
    load_s = time.perf_counter() - t
    peak_load = _proc_status_mb("VmHWM")
    gc.collect()
    rss_loaded = _proc_status_mb("VmRSS")
    # Arrow's allocator (mimalloc) keeps the freed Parquet buffers: ~270 MB at 1M rows per side.
    # Hand them back so the step's peak shows the frames and the step, not the loader's cache.
    pyarrow.default_memory_pool().release_unused()
    reset = _reset_peak()
    rss_before = _proc_status_mb("VmRSS")

    parts: dict[str, float] = {}
    result: dict[str, Any] = {}
    if kind == "profile":  # as monitoring.build_reference: the profile and a fixed-size sample
        t = time.perf_counter()
        profile = drift.build_profile(reference, NUMERIC, CATEGORICAL)
        parts["build_profile"] = time.perf_counter() - t
        t = time.perf_counter()
        rows = max(spec["report_sample_rows"], spec["domain_sample_rows"])
        stored = drift.sample(reference, rows, SEED).reset_index(drop=True)
        parts["reference_sample"] = time.perf_counter() - t
        text = json.dumps(profile)
        (data_dir / "profile.json").write_text(text)
        table = pyarrow.Table.from_pandas(stored)
        pyarrow.parquet.write_table(table, data_dir / "reference_sample.parquet")
        result = {"profile_kb": len(text) / 1024, "reference_sample_arrow_mb": table.nbytes / MB}
    elif kind == "mlcycle":
        profile = json.loads((data_dir / "profile.json").read_text())  # stored with the model
        t = time.perf_counter()
        verdict = drift.dataset_drift(profile, current, FEATURES, share_threshold=SHARE_THRESHOLD)
        parts["dataset_drift"] = time.perf_counter() - t
        t = time.perf_counter()
        domain = drift.domain_classifier(
            ref_stored, current, NUMERIC, CATEGORICAL, sample_rows=spec["domain_sample_rows"], seed=SEED
        )
        parts["domain_classifier"] = time.perf_counter() - t
        t = time.perf_counter()
        ref_sample = drift.sample(ref_stored, spec["report_sample_rows"], SEED)
        cur_sample = drift.sample(current, spec["report_sample_rows"], SEED)
        parts["sample"] = time.perf_counter() - t
        t = time.perf_counter()
        report = reports.evidently_report(
            ref_sample, cur_sample, NUMERIC, CATEGORICAL, str(Path(spec["tmp_dir"]) / "sample_report.html"),
            share_threshold=SHARE_THRESHOLD,
        )  # fmt: skip
        parts["evidently_report_sample"] = time.perf_counter() - t
        result = {
            "columns": {
                c.column: {"drifted": c.drifted, "score": c.score, "method": c.method, "note": c.note}
                for c in verdict.columns
            },
            "share": verdict.share,
            "dataset_drift": verdict.drifted,
            "domain_classifier": domain.to_dict(),
            "report_sample_rows": [len(ref_sample), len(cur_sample)],
            "sample_report": _evidently_summary(report),
        }
    elif kind == "evidently":
        t = time.perf_counter()
        report = reports.evidently_report(
            reference, current, NUMERIC, CATEGORICAL, str(Path(spec["tmp_dir"]) / "full_report.html"),
            share_threshold=SHARE_THRESHOLD,
        )  # fmt: skip
        parts["evidently_report_full"] = time.perf_counter() - t
        result = _evidently_summary(report)
    else:
        raise ValueError(f"unknown worker kind {kind!r}")
    wall = sum(parts.values())
    peak_step = _proc_status_mb("VmHWM")
    return {
        "wall_s": wall,
        "parts_s": parts,
        "imports_s": imports_s,
        "load_s": load_s,
        "rss_imports_mb": rss_imports,
        "peak_load_mb": peak_load,
        "rss_after_load_mb": rss_loaded,
        "rss_before_step_mb": rss_before,
        "peak_step_mb": peak_step if reset else None,
        "peak_process_mb": max(x for x in (peak_load, peak_step) if x is not None),
        "peak_reset_ok": reset,
        "result": result,
    }


# --------------------------------------------------------------------------- parent side


def _run_worker(kind: str, spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """One measurement in a fresh interpreter; the parent also polls its peak RSS in case it dies."""
    spec_path = tmp / "spec.json"
    out_path = tmp / "result.json"
    out_path.unlink(missing_ok=True)
    spec_path.write_text(json.dumps({**spec, "tmp_dir": str(tmp)}))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--spec", str(spec_path)]
    cmd += ["--worker-out", str(out_path)]
    # Bytecode cached outside the venv, so each fresh interpreter does not recompile ~1,000 modules
    # when PYTHONDONTWRITEBYTECODE is set (imports are not part of the step, but lazy ones are).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("PYTHONPYCACHEPREFIX", str(tmp / "pycache"))
    started = time.perf_counter()
    with open(tmp / "stderr.txt", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        polled = 0.0
        while True:
            try:
                proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                polled = max(polled, _proc_status_mb("VmRSS", proc.pid) or 0.0)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or not out_path.exists():
        tail = (tmp / "stderr.txt").read_text()[-2000:]
        why = (
            "killed by SIGKILL (out of memory?)" if proc.returncode == -9 else f"exit code {proc.returncode}"
        )
        return {"failed": why, "stderr_tail": tail, "polled_peak_rss_mb": polled, "elapsed_s": elapsed}
    res = dict(json.loads(out_path.read_text()))
    res["elapsed_s"] = elapsed
    return res


def _log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


def _repeats(args: argparse.Namespace, kind: str, rows: int) -> int:
    if args.repeats:
        return int(args.repeats)
    return 1 if kind == "evidently" and rows >= LARGE else 3


def compare(a: dict[str, Any], b: dict[str, Any], seeded: list[str]) -> dict[str, Any]:
    """Per-column and dataset verdicts of A (mlcycle, full data) against B (Evidently, full frames)."""
    disagreements = []
    diffs = []
    for col in FEATURES:
        ca, cb = a["columns"][col], b["columns"][col]
        if ca["score"] is not None and cb["score"] is not None:
            diffs.append(abs(ca["score"] - cb["score"]))
        if ca["drifted"] != cb["drifted"]:
            disagreements.append(
                {
                    "column": col,
                    "mlcycle": {"drifted": ca["drifted"], "score": ca["score"], "method": ca["method"]},
                    "evidently": {"drifted": cb["drifted"], "score": cb["score"], "method": cb["method"]},
                }
            )
    expected = {c: c in seeded for c in FEATURES}
    return {
        "columns_agree": not disagreements,
        "dataset_agree": a["dataset_drift"] == b["dataset_drift"],
        "agree": not disagreements and a["dataset_drift"] == b["dataset_drift"],
        "disagreements": disagreements,
        "max_abs_score_diff": max(diffs) if diffs else None,
        "mlcycle_matches_seeded": all(a["columns"][c]["drifted"] == v for c, v in expected.items()),
        "evidently_matches_seeded": all(b["columns"][c]["drifted"] == v for c, v in expected.items()),
        "sample_report_matches_full": all(
            a["sample_report"]["columns"][c]["drifted"] == b["columns"][c]["drifted"] for c in FEATURES
        ),
        # Evidently on the 20k-row samples against Evidently on the full frames: "+col" flags a
        # column the full frames do not, "-col" misses one they flag.
        "sample_report_mismatches": [
            ("+" if a["sample_report"]["columns"][c]["drifted"] else "-") + c
            for c in FEATURES
            if a["sample_report"]["columns"][c]["drifted"] != b["columns"][c]["drifted"]
        ],
    }


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def _fmt(x: float | None, spec: str = ".2f", none: str = "-") -> str:
    return none if x is None else format(x, spec)


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Median wall time, peak memory and verdict agreement per size and approach."""
    rows = []
    for size in [s for s in results["sizes"] if str(s) in results["runs"]]:
        runs = results["runs"][str(size)]
        ok = {k: [r for r in runs if r["approach"] == k and "failed" not in r] for k in APPROACH_LABELS}
        failed = {k: [r for r in runs if r["approach"] == k and "failed" in r] for k in APPROACH_LABELS}
        comps = results["verdicts"].get(str(size), {})
        arrow = results["arrow_mb"][str(size)]
        scen = results["scenarios"]
        current_mb = statistics.median(arrow[f"current_{s}"] for s in scen)
        held_mb = {  # the frames each side holds in memory
            "profile": arrow["reference"],
            "mlcycle": current_mb + arrow["reference_sample"],
            "evidently": current_mb + arrow["reference"],
        }
        wall_a = _median(ok["mlcycle"], "wall_s")
        wall_b = _median(ok["evidently"], "wall_s")
        for kind, label in APPROACH_LABELS.items():
            frames_mb = held_mb[kind]
            rs = ok[kind]
            peak = max((r["peak_process_mb"] for r in rs), default=None)
            imports = _median(rs, "rss_imports_mb")
            step_peak = max((r["peak_step_mb"] for r in rs if r["peak_step_mb"]), default=None)
            if kind == "profile":
                agree = "n/a"
            elif comps and len(comps) == len(scen):
                n_ok = sum(c["agree"] for c in comps.values())
                agree = f"{'y' if n_ok == len(comps) else 'n'} ({n_ok}/{len(comps)} scenarios)"
            else:
                agree = "not measured"
            row = {
                "rows_per_side": size,
                "approach": label,
                "kind": kind,
                "runs": len(rs),
                "failed_runs": [r["failed"] for r in failed[kind]],
                "wall_s_median": _median(rs, "wall_s"),
                "wall_s_min": min((r["wall_s"] for r in rs), default=None),
                "wall_s_max": max((r["wall_s"] for r in rs), default=None),
                "speedup_b_over_a": (wall_b / wall_a) if kind == "mlcycle" and wall_a and wall_b else None,
                "peak_rss_mb": peak
                if peak is not None
                else max((r["polled_peak_rss_mb"] for r in failed[kind]), default=None),
                "rss_after_imports_mb": imports,
                "peak_step_mb": step_peak,
                "arrow_mb": frames_mb,
                "peak_over_arrow": peak / frames_mb if peak else None,
                "step_peak_over_arrow": step_peak / frames_mb if step_peak else None,
                "step_peak_minus_imports_over_arrow": (
                    (step_peak - imports) / frames_mb if step_peak and imports else None
                ),
                "verdicts_agree": agree,
            }
            if kind == "mlcycle" and rs:
                row["parts_s_median"] = {
                    p: statistics.median(r["parts_s"][p] for r in rs) for p in rs[0]["parts_s"]
                }
                row["report_sample_rows"] = rs[0]["result"]["report_sample_rows"]
            rows.append(row)
    return {"table": rows}


def markdown(results: dict[str, Any]) -> str:
    summary = results["summary"]["table"]
    lines = [
        f"Drift benchmark, {results['started']:.10s}: {results['machine']['cpus']} CPUs, "
        f"{results['machine']['mem_gb']:.0f} GB RAM; rows per side (reference = current size); "
        f"{len(FEATURES)} columns ({len(NUMERIC)} numeric, {len(CATEGORICAL)} categorical); "
        f"scenarios: {', '.join(results['scenarios'])}. Wall = median over scenarios x repeats. "
        "Frames held: profile = reference; A = window + the stored reference sample "
        f"({max(results['report_sample_rows'], results['domain_sample_rows']):,} rows); B = window + reference.",
        "",
        "| rows/side | approach | wall s median (min-max) | runs | speed-up B/A | peak RSS MB "
        "| step peak MB | imports MB | Arrow MB held | peak/Arrow | step peak/Arrow | (step peak-imports)/Arrow "
        "| verdicts agree |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in summary:
        if r["runs"]:
            wall = f"{r['wall_s_median']:.2f} ({r['wall_s_min']:.1f}-{r['wall_s_max']:.1f})"
        else:
            wall = "failed: " + "; ".join(r["failed_runs"])
        speed = f"**{r['speedup_b_over_a']:.1f}x**" if r["speedup_b_over_a"] else ""
        lines.append(
            f"| {r['rows_per_side']:,} | {r['approach']} | {wall} | {r['runs']} | {speed} | "
            f"{_fmt(r['peak_rss_mb'], '.0f')} | {_fmt(r['peak_step_mb'], '.0f')} | "
            f"{_fmt(r['rss_after_imports_mb'], '.0f')} | {_fmt(r['arrow_mb'], '.0f')} | "
            f"{_fmt(r['peak_over_arrow'])} | {_fmt(r['step_peak_over_arrow'])} | "
            f"{_fmt(r['step_peak_minus_imports_over_arrow'])} | {r['verdicts_agree']} |"
        )
    lines += [
        "",
        "Where the monitoring step's time goes (median s):",
        "",
        "| rows/side | dataset_drift (full window) | domain_classifier | sample | evidently_report (sample) "
        "| report sample rows/side |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary:
        if r["kind"] == "mlcycle" and r.get("parts_s_median"):
            p = r["parts_s_median"]
            lines.append(
                f"| {r['rows_per_side']:,} | {p['dataset_drift']:.2f} | {p['domain_classifier']:.2f} | "
                f"{p['sample']:.2f} | {p['evidently_report_sample']:.2f} | {r['report_sample_rows'][0]:,} |"
            )
    lines += [
        "",
        "Verdicts (A = mlcycle on every row, B = Evidently on the full frames):",
        "",
        "| rows/side | scenario | seeded drifted | A share / dataset drift | B share / dataset drift "
        "| columns agree | dataset agrees | max abs score diff | domain AUC | sample report = full B |",
        "|---:|---|---:|---|---|---|---|---:|---:|---|",
    ]
    for size in results["sizes"]:
        for scen, c in results["verdicts"].get(str(size), {}).items():
            a, b = c["mlcycle"], c["evidently"]
            sample_ok = (
                "y" if c["sample_report_matches_full"] else "n: " + ", ".join(c["sample_report_mismatches"])
            )
            lines.append(
                f"| {size:,} | {scen} | {len(SCENARIOS[scen])}/{len(FEATURES)} | "
                f"{a['share']:.3f} / {a['dataset_drift']} | {b['share']:.3f} / {b['dataset_drift']} | "
                f"{'y' if c['columns_agree'] else 'n'} | {'y' if c['dataset_agree'] else 'n'} | "
                f"{_fmt(c['max_abs_score_diff'], '.4f')} | {a['domain_auc']:.3f} | {sample_ok} |"
            )
    dis = [
        (size, scen, d)
        for size in results["sizes"]
        for scen, c in results["verdicts"].get(str(size), {}).items()
        for d in c["disagreements"]
    ]
    lines += ["", "Disagreements: " + ("none." if not dis else "")]
    for size, scen, d in dis:
        lines.append(
            f"- {size:,} rows, {scen}, `{d['column']}`: mlcycle {d['mlcycle']['drifted']} "
            f"({d['mlcycle']['method']} {_fmt(d['mlcycle']['score'], '.4f')}), Evidently "
            f"{d['evidently']['drifted']} ({d['evidently']['method']} {_fmt(d['evidently']['score'], '.4f')})"
        )
    return "\n".join(lines) + "\n"


def _machine() -> dict[str, Any]:
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    versions = {}
    for mod in ("evidently", "pandas", "numpy", "sklearn", "pyarrow", "scipy"):
        out = subprocess.run(
            [sys.executable, "-c", f"import {mod}; print({mod}.__version__)"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        versions[mod] = out.stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "mem_gb": mem_kb / 1024 / 1024,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def save(results: dict[str, Any], out: Path) -> str:
    """Write the JSON and the Markdown beside it (after every size, so a crash keeps what ran)."""
    results["summary"] = summarize(results)
    md = markdown(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    out.with_suffix(".md").write_text(md)
    return md


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise SystemExit(f"--scenarios: unknown {unknown}; choose from {list(SCENARIOS)}")
    results: dict[str, Any] = {
        "started": datetime.now().isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "machine": _machine(),
        "sizes": sizes,
        "scenarios": scenarios,
        "seeded": {s: SCENARIOS[s] for s in scenarios},
        "numeric": NUMERIC,
        "categorical": CATEGORICAL,
        "report_sample_rows": args.report_sample_rows,
        "domain_sample_rows": args.domain_sample_rows,
        "arrow_mb": {},
        "runs": {},
        "verdicts": {},
    }
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="drift-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        for rows in sizes:
            data_dir = work / f"rows_{rows}"
            data_dir.mkdir(exist_ok=True)
            spec = {
                "rows": rows,
                "data_dir": str(data_dir),
                "scenarios": scenarios,
                "report_sample_rows": args.report_sample_rows,
                "domain_sample_rows": args.domain_sample_rows,
            }
            _log(f"{rows:,} rows/side: generating reference + {len(scenarios)} windows")
            prep = _run_worker("prepare", spec, work)
            if "failed" in prep:
                raise SystemExit(f"data generation failed: {prep['failed']}\n{prep['stderr_tail']}")
            results["arrow_mb"][str(rows)] = prep["arrow_mb"]
            runs: list[dict[str, Any]] = []
            results["runs"][str(rows)] = runs
            for i in range(_repeats(args, "profile", rows)):
                r = _run_worker("profile", spec, work)
                runs.append({"approach": "profile", "scenario": None, "repeat": i, **r})
                _log(f"  profile #{i}: {r.get('wall_s', 0):.2f} s, peak {r.get('peak_process_mb', 0):.0f} MB")
            if "failed" in runs[-1]:
                raise SystemExit(f"profile build failed: {runs[-1]['failed']}\n{runs[-1]['stderr_tail']}")
            prep["arrow_mb"]["reference_sample"] = runs[-1]["result"]["reference_sample_arrow_mb"]
            last: dict[tuple[str, str], dict[str, Any]] = {}
            for scen in scenarios:
                n = max(_repeats(args, "mlcycle", rows), _repeats(args, "evidently", rows))
                for i in range(n):  # interleaved, so machine noise hits both alike
                    for kind in ("mlcycle", "evidently"):
                        if i >= _repeats(args, kind, rows):
                            continue
                        r = _run_worker(kind, {**spec, "scenario": scen}, work)
                        runs.append({"approach": kind, "scenario": scen, "repeat": i, **r})
                        if "failed" in r:
                            _log(f"  {scen} {kind} #{i}: FAILED {r['failed']}")
                            continue
                        last[(scen, kind)] = r["result"]
                        _log(
                            f"  {scen} {kind} #{i}: {r['wall_s']:.2f} s, peak {r['peak_process_mb']:.0f} MB, "
                            f"dataset drift {r['result']['dataset_drift']} (share {r['result']['share']:.3f})"
                        )
                if (scen, "mlcycle") in last and (scen, "evidently") in last:
                    a, b = last[(scen, "mlcycle")], last[(scen, "evidently")]
                    c = compare(a, b, SCENARIOS[scen])
                    c["mlcycle"] = {
                        "share": a["share"],
                        "dataset_drift": a["dataset_drift"],
                        "domain_auc": a["domain_classifier"]["auc"],
                        "drivers": a["domain_classifier"]["drivers"],
                    }
                    c["evidently"] = {"share": b["share"], "dataset_drift": b["dataset_drift"]}
                    c["scores"] = {
                        col: {"mlcycle": a["columns"][col]["score"], "evidently": b["columns"][col]["score"],
                              "method": a["columns"][col]["method"], "seeded": col in SCENARIOS[scen]}
                        for col in FEATURES
                    }  # fmt: skip
                    results["verdicts"].setdefault(str(rows), {})[scen] = c
                    _log(
                        f"  {scen}: verdicts {'agree' if c['agree'] else 'DISAGREE'}"
                        f" (max |score A - score B| = {_fmt(c['max_abs_score_diff'], '.4f')})"
                    )
                    for d in c["disagreements"]:
                        _log(f"    {d['column']}: mlcycle {d['mlcycle']}, evidently {d['evidently']}")
            if not args.keep_data:
                shutil.rmtree(data_dir, ignore_errors=True)
            save(results, Path(args.out))
    finally:
        if not args.keep_data and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    results["finished"] = datetime.now().isoformat(timespec="seconds")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="rows per side, comma-separated (%(default)s)")
    parser.add_argument(
        "--repeats", type=int, default=0,
        help="fresh-process runs per scenario and approach (default: 3; full-frame Evidently once "
        f"from {LARGE:,} rows)",
    )  # fmt: skip
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="drift scenarios (%(default)s)")
    parser.add_argument(
        "--out", default=str(RESULTS), help="JSON; the Markdown goes beside it (default: %(default)s)"
    )
    parser.add_argument("--report-sample-rows", type=int, default=REPORT_SAMPLE_ROWS)
    parser.add_argument("--domain-sample-rows", type=int, default=DOMAIN_SAMPLE_ROWS)
    parser.add_argument("--workdir", help="where the Parquet data goes (default: a temporary directory)")
    parser.add_argument("--keep-data", action="store_true", help="keep the generated Parquet files")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        spec = json.loads(Path(args.spec).read_text())
        Path(args.worker_out).write_text(json.dumps(_worker(args.worker, spec)))
        return 0

    results = run(args)
    out = Path(args.out)
    md = save(results, out)
    print()
    print(md)
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

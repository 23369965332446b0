"""Real data: label-free quality estimates and verdicts on US Census (Massachusetts employment), side by
side with NannyML's CBPE on the same windows.

    .venv/bin/python benchmarks/census_bench.py [--windows-per-year 6] [--out FILE]

The data ship inside NannyML's wheel. NannyML is not part of mlcycle's lock: the first run builds its own
virtualenv (``benchmarks/.nannyml-venv``, uv, ``nannyml==0.13.1`` and ``statsmodels``, which its wheel
does not declare) and reads the Parquet files from there; NannyML's usage telemetry is switched off
(``NML_DISABLE_USAGE_LOGGING=1``).

1. The project's pipeline (``build_pipeline``: HistGradientBoostingClassifier with native categoricals,
   as in the demo) is trained on 2015 (random 80/20 split); the holdout is what ``evaluate`` calibrates on
   (``performance_reference``) and NannyML's CBPE is fitted on (same probabilities, same labels).
2. 2016, 2017 and 2018 are each cut into ``--windows-per-year`` windows of consecutive rows (the data has
   no date within a year). Per window: realized ROC AUC and accuracy on its labels, mlcycle's estimate,
   NannyML's estimate (the window as one chunk), and mlcycle's verdict with labels and without them.
3. The drift signals are the monitor's own (per-column drift on every row against the 2015 profile, the
   domain classifier against the calibrated threshold).

Figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess  # nosec B404: runs uv and NannyML's interpreter, fixed arguments
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NML_VENV = ROOT / "benchmarks" / ".nannyml-venv"
NUMERIC = ["AGEP"]
CATEGORICAL = ["SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR", "DEYE",
               "DREM", "SEX", "RAC1P"]  # fmt: skip
PIPELINE_YAML = """
data:
  source: {source}
  target: employed
  features: {{numeric: {numeric}, categorical: {categorical}}}
model:
  task: binary_classification
  estimator: HistGradientBoostingClassifier
  split: {{strategy: random, test_size: 0.2, seed: 0}}
evaluation:
  primary_metric: roc_auc
"""


def nannyml_python() -> Path:
    """NannyML's interpreter, its virtualenv built on first use (uv; not mlcycle's lock)."""
    python = NML_VENV / "bin" / "python"
    if not python.exists():
        uv = ROOT / ".venv" / "bin" / "uv"
        subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(NML_VENV)], check=True)  # nosec B603
        subprocess.run(  # nosec B603
            [str(uv), "pip", "install", "-q", "--python", str(python), "nannyml==0.13.1", "statsmodels"],
            check=True,
        )
    return python


def data_dir(python: Path) -> Path:
    out = subprocess.run(  # nosec B603
        [str(python), "-c", "import nannyml, pathlib; print(pathlib.Path(nannyml.__file__).parent)"],
        check=True, capture_output=True, text=True, env={**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"},
    ).stdout.strip()  # fmt: skip
    return Path(out) / "datasets" / "data"


def run(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from mlcycle.config.loader import parse_pipeline
    from mlcycle.core.decisions.monitoring import decide_drift
    from mlcycle.core.drift import (
        build_profile,
        dataset_drift,
        domain_baseline,
        domain_classifier,
        domain_threshold,
    )
    from mlcycle.core.drift import sample as take
    from mlcycle.core.features import feature_frame, split_indices
    from mlcycle.core.performance import estimate_performance, performance_reference, realized_metrics
    from mlcycle.steps.train import build_pipeline

    python = nannyml_python()
    data = data_dir(python)
    ref = pd.read_parquet(data / "employment_MA_reference.pq")
    analysis = pd.read_parquet(data / "employment_MA_analysis.pq")
    target = pd.read_parquet(data / "employment_MA_analysis_target.pq")
    analysis = analysis.merge(target, on="id", how="left", validate="one_to_one")
    pipe = parse_pipeline(
        PIPELINE_YAML.format(
            source=data / "employment_MA_reference.pq", numeric=NUMERIC, categorical=CATEGORICAL
        ),
        "config/pipelines/census.yaml",
    )
    policy = pipe.config.monitoring
    train_pos, test_pos = split_indices(pipe, ref)
    X = feature_frame(pipe, ref)
    y = ref["employed"].to_numpy()
    start = time.perf_counter()
    model = build_pipeline(pipe).fit(X.iloc[train_pos], y[train_pos])
    fit_s = time.perf_counter() - start
    p_hold = model.predict_proba(X.iloc[test_pos])[:, 1]
    yhat_hold = (p_hold > 0.5).astype("int64")
    perf = performance_reference(p_hold, y[test_pos], yhat_hold)
    profile = build_profile(X.iloc[train_pos], NUMERIC, CATEGORICAL)
    ref_sample = take(X.iloc[train_pos], 20_000, 0)
    baseline = domain_baseline(ref_sample, NUMERIC, CATEGORICAL, 0)
    threshold, basis = domain_threshold(baseline, None, policy.drift.domain_auc_margin)

    rows: list[dict[str, Any]] = []
    frames = []
    for year, part in analysis.groupby("year", sort=True):
        for i, idx in enumerate(np.array_split(np.arange(len(part)), args.windows_per_year)):
            win = part.iloc[idx]
            key = f"{year}-{i + 1}"
            Xw = feature_frame(pipe, win)
            p = model.predict_proba(Xw)[:, 1]
            yhat = (p > 0.5).astype("int64")
            yw = win["employed"].to_numpy()
            t0 = time.perf_counter()
            est = estimate_performance(p, yhat, perf)
            est_s = time.perf_counter() - t0
            real = realized_metrics(yw, p, yhat)
            drift = dataset_drift(profile, Xw, NUMERIC + CATEGORICAL, None, 0.5).to_dict()
            domain = {
                **domain_classifier(ref_sample, Xw, NUMERIC, CATEGORICAL, 10_000, threshold, 0).to_dict(),
                "threshold_basis": basis,
            }
            estimate = {"metrics": est, "reference": perf["realized"], "rows": len(win)}
            quality = {"metrics": real, "reference": perf["realized"], "rows": len(win)}
            with_labels = decide_drift(drift, domain, quality, policy, "roc_auc", estimate)
            without = decide_drift(drift, domain, None, policy, "roc_auc", estimate)
            rows.append(
                {
                    "window": key, "rows": len(win),
                    "realized": {k: real[k] for k in ("roc_auc", "accuracy")},
                    "mlcycle": {k: est[k]["value"] for k in ("roc_auc", "accuracy")},
                    "band": {k: [est[k]["lower"], est[k]["upper"]] for k in ("roc_auc", "accuracy")},
                    "drift_share": drift["share"], "domain_auc": domain["auc"], "domain_threshold": threshold,
                    "verdict_with_labels": with_labels.status, "verdict_without_labels": without.status,
                    "estimate_seconds": est_s,
                }
            )  # fmt: skip
            frames.append(pd.DataFrame({"window": key, "p": p, "yhat": yhat}))

    with tempfile.TemporaryDirectory(prefix="census-bench-") as tmp:
        pd.DataFrame({"p": p_hold, "yhat": yhat_hold, "y": y[test_pos]}).to_parquet(
            Path(tmp) / "reference.parquet"
        )
        pd.concat(frames, ignore_index=True).to_parquet(Path(tmp) / "windows.parquet")
        subprocess.run(  # nosec B603
            [str(python), str(ROOT / "benchmarks" / "census_nannyml.py"), tmp],
            check=True, env={**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"},
        )  # fmt: skip
        nml = json.loads((Path(tmp) / "nannyml.json").read_text())
    for row in rows:
        row["nannyml"] = nml["windows"][row["window"]]
    mae = {
        who: {
            m: statistics.fmean(abs(r[who][m] - r["realized"][m]) for r in rows)
            for m in ("roc_auc", "accuracy")
        }
        for who in ("mlcycle", "nannyml")
    }
    return {
        "windows_per_year": args.windows_per_year,
        "train_rows": len(train_pos), "holdout_rows": len(test_pos), "fit_seconds": fit_s,
        "calibrator": perf["calibrator"]["method"], "calibration_errors": perf["calibrator"]["errors"],
        "holdout": {"realized": perf["realized"], "estimated": perf["estimated"]},
        "domain_baseline": baseline, "domain_threshold": threshold,
        "nannyml_version": nml["version"], "nannyml_seconds": nml["seconds"],
        "mae": mae, "windows": rows,
    }  # fmt: skip


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "| window | rows | realized ROC AUC | mlcycle est. | NannyML est. | realized acc. | mlcycle est. | "
        "NannyML est. | drift share | domain AUC | verdict (labels) | verdict (no labels) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["windows"]:
        lines.append(
            f"| {r['window']} | {r['rows']:,} | {r['realized']['roc_auc']:.4f} | {r['mlcycle']['roc_auc']:.4f} | "
            f"{r['nannyml']['roc_auc']:.4f} | {r['realized']['accuracy']:.4f} | {r['mlcycle']['accuracy']:.4f} | "
            f"{r['nannyml']['accuracy']:.4f} | {r['drift_share']:.2f} | {r['domain_auc']:.3f} | "
            f"`{r['verdict_with_labels']}` | `{r['verdict_without_labels']}` |"
        )
    m = res["mae"]
    lines.append(
        f"| **MAE** | | | **{m['mlcycle']['roc_auc']:.4f}** | **{m['nannyml']['roc_auc']:.4f}** | | "
        f"**{m['mlcycle']['accuracy']:.4f}** | **{m['nannyml']['accuracy']:.4f}** | | | | |"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows-per-year", type=int, default=6)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "census_bench.json")
    args = parser.parse_args()
    res = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    sys.stdout.write(markdown(res) + "\n")
    sys.stdout.write(
        json.dumps({k: res[k] for k in ("calibrator", "domain_baseline", "domain_threshold", "mae")}) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

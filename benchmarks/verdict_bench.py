"""The monitor's work per window before and after performance-first verdicts (issue 17), side by side.

    .venv/bin/python benchmarks/verdict_bench.py [--rows 1000000] [--repeats 3] [--out FILE]

One seeded window of ``--rows`` rows (10 features, the champion's probability and label) and a stored
reference (profile of 200k rows, a 20k-row sample) are built once; then, alternating in one process,

* ``before``: what ``detect_drift`` + ``decide`` computed on main: per-column and prediction drift on
  every row, the domain classifier at the fixed 0.6, Evidently's report on 20k-row samples with the
  prediction column, the verdict;
* ``after``: the same with the calibrated domain threshold, the label-free estimate (CBPE) on every
  row, Evidently without the prediction column, the severity verdict and the window report.

Reading Parquet and MLflow logging are common to both and left out. Figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NUMERIC = [f"n{i}" for i in range(7)]
CATEGORICAL = ["c0", "c1", "c2"]


def make_frames(rows: int) -> tuple[Any, Any, dict[str, Any]]:
    import numpy as np
    import pandas as pd

    from mlcycle.core.drift import build_profile, domain_baseline, prediction_profile, sample
    from mlcycle.core.performance import performance_reference

    def frame(n: int, seed: int, shift: float) -> Any:
        rng = np.random.default_rng(seed)
        out = {c: rng.normal(shift * (i % 2), 1 + i * 0.1, n) for i, c in enumerate(NUMERIC)}
        for j, c in enumerate(CATEGORICAL):
            out[c] = rng.choice(["a", "b", "c", "d"][: 2 + j], size=n)
        logit = out["n0"] - 0.5 * out["n1"] + 0.3 * out["n2"]
        out["probability"] = 1 / (1 + np.exp(-logit))
        out["model_prediction"] = (out["probability"] > 0.5).astype("int64")
        out["_y"] = (rng.uniform(size=n) < out["probability"]).astype("int64")
        return pd.DataFrame(out)

    ref = frame(200_000, 1, 0.0)
    cur = frame(rows, 2, 0.3)
    profile = build_profile(ref, NUMERIC, CATEGORICAL)
    profile["prediction"] = prediction_profile(ref["probability"])
    ref_sample = sample(ref, 20_000, 0).reset_index(drop=True).rename(columns={"probability": "prediction"})
    hold = ref.iloc[:20_000]
    perf = performance_reference(
        hold["probability"].to_numpy(), hold["_y"].to_numpy(), hold["model_prediction"].to_numpy()
    )
    perf.update(positive=1, validation=perf["realized"])
    profile["domain_baseline"] = domain_baseline(ref_sample, NUMERIC, CATEGORICAL, 0)
    profile["performance"] = perf
    return ref_sample, cur.rename(columns={"probability": "prediction"}), profile


def run_once(kind: str, ref_sample: Any, current: Any, profile: dict[str, Any], tmp: str) -> float:
    from mlcycle.adapters.reports import evidently_report
    from mlcycle.config.monitoring import MonitoringConfig
    from mlcycle.core.decisions.monitoring import decide_drift
    from mlcycle.core.drift import dataset_drift, domain_classifier, domain_threshold, sample
    from mlcycle.core.performance import estimate_performance
    from mlcycle.core.window_report import render_window_report

    policy = MonitoringConfig()
    cols = NUMERIC + CATEGORICAL
    start = time.perf_counter()
    drift = dataset_drift(profile, current, cols, None, 0.5, predictions=current["prediction"]).to_dict()
    if kind == "before":
        threshold, basis = 0.6, ""
    else:
        threshold, basis = domain_threshold(profile["domain_baseline"], None, 0.05)
    domain = {
        **domain_classifier(ref_sample, current, NUMERIC, CATEGORICAL, 10_000, threshold, 0).to_dict(),
        "threshold_basis": basis,
    }
    extra = ["prediction"] if kind == "before" else []
    evidently_report(
        sample(ref_sample, 20_000, 0),
        sample(current, 20_000, 0),
        NUMERIC + extra,
        CATEGORICAL,
        str(Path(tmp) / f"{kind}.html"),
    )
    if kind == "before":
        decide_drift(drift, domain, None, policy, "roc_auc")
    else:
        predicted = current["model_prediction"].to_numpy() == profile["performance"]["positive"]
        metrics = estimate_performance(current["prediction"].to_numpy(), predicted, profile["performance"])
        estimate = {
            "metrics": metrics,
            "reference": profile["performance"]["validation"],
            "rows": len(current),
        }
        verdict = decide_drift(drift, domain, None, policy, "roc_auc", estimate).to_dict()
        record = {**verdict, "window_key": "w", "window_start": "s", "window_end": "e", "model_version": "1"}
        Path(tmp, "window_report.html").write_text(
            render_window_report(
                "bench", record, {"dataset": drift, "domain_classifier": domain}, [], "x.html"
            )
        )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "verdict_bench.json")
    args = parser.parse_args()
    ref_sample, current, profile = make_frames(args.rows)
    walls: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="verdict-bench-") as tmp:
        run_once("after", ref_sample, current, profile, tmp)  # warm: first imports of Evidently
        for _ in range(args.repeats):
            for kind in ("before", "after"):
                walls[kind].append(run_once(kind, ref_sample, current, profile, tmp))
    med = {k: statistics.median(v) for k, v in walls.items()}
    result = {"rows": args.rows, "walls": walls, "median": med, "ratio": med["after"] / med["before"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    sys.stdout.write(
        f"{args.rows} rows, medians of {args.repeats}: before {med['before']:.2f} s, after {med['after']:.2f} s, "
        f"ratio {result['ratio']:.2f}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

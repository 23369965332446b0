"""NannyML's CBPE on the census windows; run by census_bench.py inside NannyML's own virtualenv.

    <nannyml venv>/bin/python benchmarks/census_nannyml.py <workdir>

Reads ``reference.parquet`` (the holdout: ``p``, ``yhat``, ``y``) and ``windows.parquet`` (``window``,
``p``, ``yhat``) from ``workdir``, fits CBPE on the reference and estimates ROC AUC and accuracy on each
window as one chunk; writes ``nannyml.json``. Imports nothing from mlcycle.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # no telemetry to an outside host


def main(workdir: Path) -> None:
    import nannyml as nml
    import pandas as pd

    ref = pd.read_parquet(workdir / "reference.parquet")
    windows = pd.read_parquet(workdir / "windows.parquet")
    start = time.perf_counter()
    cbpe = nml.CBPE(
        y_pred_proba="p",
        y_pred="yhat",
        y_true="y",
        problem_type="classification_binary",
        metrics=["roc_auc", "accuracy"],
        chunk_number=1,
    )
    cbpe.fit(ref)
    out: dict[str, dict[str, float]] = {}
    for key, part in windows.groupby("window", sort=True):
        res = cbpe.estimate(part[["p", "yhat"]].reset_index(drop=True)).filter(period="analysis").to_df()
        out[str(key)] = {
            "roc_auc": float(res[("roc_auc", "value")].iloc[0]),
            "accuracy": float(res[("accuracy", "value")].iloc[0]),
        }
    seconds = time.perf_counter() - start
    (workdir / "nannyml.json").write_text(
        json.dumps({"version": nml.__version__, "seconds": seconds, "windows": out})
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))

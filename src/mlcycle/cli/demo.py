"""A deterministic churn data set for the demo pipeline (no downloads).

18 monthly Parquet files from 2025-01 to 2026-06; from 2026-01 on the population drifts
(pricier plans, more data usage, more support calls, a different region mix), which the
drift monitor records; from 2026-03 who churns changes too (customers on term contracts with long
tenure start leaving), which hurts the model: the drift that matters.

Labels arrive late, as in production: the newest month's file (2026-06) carries the features only, and
its labels land later in their own file (``churn_labels/``, ``customer_id``, ``churned``,
``labelled_at``), which ``data.labels`` in the demo YAML joins to the scored rows (``mlcycle labels``).
"""

from __future__ import annotations

from pathlib import Path

DEMO_START = "2025-01-01"
DEMO_MONTHS = 18
DRIFT_FROM = "2026-01-01"
# The demo trains on 2025-01..09, then monitors 2025-10..2026-06 (window end dates below).
DEMO_LOGICAL_DATE = "2025-10-01T00:00:00+00:00"
DEMO_MONITOR_FROM = "2025-11-01T00:00:00+00:00"
DEMO_MONITOR_TO = "2026-07-01T00:00:00+00:00"
UNLABELLED_FROM = "2026-06"  # months from here on ship without the target; their labels land later
LABELS_DIR = "churn_labels"  # beside the data directory


def generate_churn(rows: int = 60_000, seed: int = 7):  # -> pandas.DataFrame
    """Build the demo frame; same ``rows`` and ``seed`` give the same frame."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    start = pd.Timestamp(DEMO_START, tz="UTC")
    end = start + pd.DateOffset(months=DEMO_MONTHS)
    span = (end - start).total_seconds()
    ts = start + pd.to_timedelta(np.sort(rng.uniform(0, span, rows)), unit="s")
    drifted = np.asarray(ts >= pd.Timestamp(DRIFT_FROM, tz="UTC"))
    months_in = np.asarray((ts - start).days / 30.0)
    ramp = np.clip((months_in - 12) / 6, 0, 1) * drifted

    plan = np.where(
        rng.uniform(size=rows) < 0.5 - 0.2 * ramp,
        "basic",
        np.where(rng.uniform(size=rows) < 0.6, "standard", "premium"),
    )
    region = rng.choice(["north", "south", "east", "west"], size=rows, p=[0.3, 0.25, 0.25, 0.2])
    shift_region = drifted & (rng.uniform(size=rows) < 0.35 * ramp + 0.1 * drifted)
    region = np.where(shift_region, "west", region)
    payment = rng.choice(["card", "bank_transfer", "paypal", "invoice"], size=rows, p=[0.45, 0.25, 0.2, 0.1])
    contract = rng.choice(["monthly", "annual", "two_year"], size=rows, p=[0.55, 0.3, 0.15])

    tenure = np.clip(rng.gamma(2.0, 12.0, rows), 0, 120).round().astype("int64")
    base_price = pd.Series(plan).map({"basic": 25.0, "standard": 55.0, "premium": 90.0}).to_numpy()
    monthly = np.round(base_price * (1 + 0.15 * ramp) + rng.normal(0, 8, rows), 2).clip(5, None)
    total = np.round(monthly * np.maximum(tenure, 1) * rng.uniform(0.9, 1.05, rows), 2)
    total = np.where(rng.uniform(size=rows) < 0.02, np.nan, total)
    support = rng.poisson(1.2 + 1.5 * ramp, rows).astype("int64")
    usage = np.round(rng.lognormal(2.5 + 0.4 * ramp, 0.6, rows), 2)
    age = np.where(rng.uniform(size=rows) < 0.03, np.nan, np.clip(rng.normal(42, 13, rows), 18, 90).round())

    contract_effect = pd.Series(contract).map({"monthly": 0.9, "annual": -0.4, "two_year": -1.2}).to_numpy()
    # from 2026-03 a competitor courts long-standing customers on term contracts: who churns changes
    concept = np.clip((months_in - 14) / 2, 0, 1) * drifted
    poached = np.where(contract == "monthly", 0.0, 2.2) + 0.05 * np.minimum(tenure, 60)
    logit = (
        -1.6
        + contract_effect
        + 0.45 * concept * (poached - 1.8)
        - 0.035 * tenure
        + 0.018 * (monthly - 50)
        + 0.45 * support
        - 0.01 * (np.nan_to_num(age, nan=42) - 42)
        + np.where(payment == "invoice", 0.5, 0.0)
        + 0.004 * usage
    )
    churned = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype("int64")

    return pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(rows)],
            "event_time": ts,
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": support,
            "data_usage_gb": usage,
            "age": age,
            "plan": plan,
            "region": region,
            "payment_method": payment,
            "contract": contract,
            "churned": churned,
        }
    )


def write_demo_data(out_dir: str | Path, rows: int = 60_000, seed: int = 7) -> list[Path]:
    """Write the demo frame as one Parquet file per month; return the data files written.

    Months from ``UNLABELLED_FROM`` are written without ``churned``; their labels go to
    ``<out_dir>/../churn_labels/churn_labels_<month>.parquet`` with the time each label landed
    (two to six weeks after the month ended), as late labels do.
    """
    import numpy as np
    import pandas as pd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = generate_churn(rows, seed)
    month = frame["event_time"].dt.strftime("%Y-%m")
    rng = np.random.default_rng(seed + 1)
    written = []
    for key, part in frame.groupby(month, sort=True):
        part = part.reset_index(drop=True)
        if str(key) >= UNLABELLED_FROM:
            month_end = pd.Timestamp(f"{key}-01", tz="UTC") + pd.DateOffset(months=1)
            labels = part[["customer_id", "churned"]].assign(
                labelled_at=month_end + pd.to_timedelta(rng.uniform(14, 42, len(part)), unit="D")
            )
            _write(labels, out.parent / LABELS_DIR / f"churn_labels_{key}.parquet")
            part = part.drop(columns=["churned"])
        written.append(_write(part, out / f"churn_{key}.parquet"))
    return written


def _write(frame, path: Path) -> Path:  # frame: pandas.DataFrame
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path

"""Drift measures: verdicts on full-data statistics, Evidently's report on a fixed-size sample.

Why not Evidently on the full frames: its DataDriftPreset recomputes drift several times and its time and
memory grow with every row (benchmarks/README.md, Monitoring). The verdicts here use the same tests and
thresholds Evidently picks by default for a reference of more than 1,000 rows, computed on every row of the
window:

* numeric column with more than 5 distinct values: Wasserstein distance normed by the reference
  standard deviation (drift if >= 0.1), from the reference's quantile function stored with the
  model at training time (``PROFILE_QUANTILES`` points) and the window's, so the reference is
  never reloaded;
* categorical column, or numeric with at most 5 distinct values: Jensen-Shannon distance between
  the value frequencies (drift if >= 0.1);
* dataset drift: share of drifted feature columns >= ``share_threshold`` (0.5).

Evidently then renders its report (HTML + JSON) on at most ``report_sample_rows`` rows of each
side, with the sample size recorded; a domain classifier adds a multivariate test.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlcycle.config.monitoring import FIXED_DOMAIN_AUC
from mlcycle.core.features import category_labels, number_label
from mlcycle.core.scoring import PREDICTION

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


PROFILE_QUANTILES = 2001

LOW_CARDINALITY = 20  # numeric columns with at most this many values also keep their frequencies

MAX_CATEGORIES = 10_000

DEFAULT_THRESHOLD = 0.1  # Evidently's default for both Wasserstein (normed) and Jensen-Shannon


def _finite(values: pd.Series) -> np.ndarray:
    import numpy as np

    arr = values.to_numpy(dtype="float64", na_value=np.nan)
    return arr[np.isfinite(arr)]


def _quantiles(sorted_values: np.ndarray) -> np.ndarray:
    """The mean of the empirical quantile function over each of the grid's equal-probability cells.

    Cell means (not point quantiles) keep every value's weight: a single extreme value moves the
    last cell's mean, as it moves the Wasserstein distance. Computed from the integral of the
    quantile function, which is piecewise linear with knots at j/n.
    """
    import numpy as np

    n = len(sorted_values)
    knots = np.arange(n + 1) / n
    integral = np.concatenate([[0.0], np.cumsum(sorted_values, dtype="float64")]) / n
    edges = np.arange(PROFILE_QUANTILES + 1) / PROFILE_QUANTILES
    return np.diff(np.interp(edges, knots, integral)) * PROFILE_QUANTILES


def _counts(values: pd.Series) -> dict[str, int]:
    counts = category_labels(values).dropna().value_counts()
    return {str(k): int(v) for k, v in counts.head(MAX_CATEGORIES).items()}


def numeric_profile(values: pd.Series) -> dict[str, Any]:
    import numpy as np

    arr = np.sort(_finite(values))
    out: dict[str, Any] = {"kind": "numeric", "rows": len(arr), "nulls": int(len(values) - len(arr))}
    if len(arr) == 0:
        return {**out, "std": None, "mean": None, "quantiles": [], "values": None}
    uniq, counts = _sorted_unique(arr)
    out.update(
        std=float(np.std(arr)),
        mean=float(np.mean(arr)),
        quantiles=_quantiles(arr).tolist(),
        values=(
            {number_label(u): int(c) for u, c in zip(uniq, counts, strict=True)}
            if len(uniq) <= LOW_CARDINALITY
            else None
        ),
    )
    return out


def _sorted_unique(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(a, return_counts=True)`` of an already sorted array, without sorting it again."""
    import numpy as np

    starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    return sorted_values[starts], np.diff(np.append(starts, len(sorted_values)))


def categorical_profile(values: pd.Series) -> dict[str, Any]:
    nonnull = values.dropna()
    return {
        "kind": "categorical",
        "rows": len(nonnull),
        "nulls": int(len(values) - len(nonnull)),
        "values": _counts(nonnull),
    }


def build_profile(
    frame: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    predictions: pd.Series | None = None,
    prediction_kind: str = "numeric",
) -> dict[str, Any]:
    """Reference statistics of a training snapshot (and its model's predictions), JSON-ready."""
    columns: dict[str, Any] = {}
    for col in numeric:
        columns[col] = numeric_profile(frame[col])
    for col in categorical:
        columns[col] = categorical_profile(frame[col])
    out: dict[str, Any] = {"rows": len(frame), "columns": columns, "quantile_points": PROFILE_QUANTILES}
    if predictions is not None:
        out["prediction"] = prediction_profile(predictions, prediction_kind)
    return out


def prediction_profile(predictions: pd.Series, prediction_kind: str = "numeric") -> dict[str, Any]:
    """The model output's reference statistics: a number (probability, value) or a label."""
    return numeric_profile(predictions) if prediction_kind == "numeric" else categorical_profile(predictions)


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: str
    method: str
    score: float | None
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _jensenshannon(ref: dict[str, int], cur: dict[str, int]) -> float:
    import numpy as np
    from scipy.spatial import distance

    keys = sorted(set(ref) | set(cur))
    r = np.array([ref.get(k, 0) for k in keys], dtype="float64")
    c = np.array([cur.get(k, 0) for k in keys], dtype="float64")
    return float(distance.jensenshannon(r / r.sum(), c / c.sum()))


def column_drift(name: str, ref: dict[str, Any], current: pd.Series, threshold: float | None) -> ColumnDrift:
    """One column's drift verdict on every row of ``current`` against its reference profile."""
    import numpy as np

    limit = threshold if threshold is not None else DEFAULT_THRESHOLD
    base = {"column": name, "kind": ref["kind"], "threshold": limit, "reference_rows": ref["rows"]}
    if ref["kind"] == "categorical":
        cur = _counts(current)
        rows = sum(cur.values())
        if not rows or not ref["rows"]:
            return ColumnDrift(
                **base, method="jensenshannon", score=None, drifted=True, current_rows=rows,
                note="no non-null values on one side",
            )  # fmt: skip
        score = _jensenshannon(ref["values"], cur)
        return ColumnDrift(
            **base, method="jensenshannon", score=score, drifted=score >= limit, current_rows=rows
        )
    arr = np.sort(_finite(current))
    if len(arr) == 0 or not ref["rows"]:
        return ColumnDrift(
            **base, method="wasserstein", score=None, drifted=True, current_rows=len(arr),
            note="no finite values on one side",
        )  # fmt: skip
    if ref.get("values") is not None:
        cur_uniq, cur_counts = np.unique(arr, return_counts=True)
        ref_values = {float(k): v for k, v in ref["values"].items()}
        if len(set(ref_values) | set(cur_uniq.tolist())) <= 5:
            cur_map = {number_label(u): int(c) for u, c in zip(cur_uniq, cur_counts, strict=True)}
            score = _jensenshannon(ref["values"], cur_map)
            return ColumnDrift(
                **base, method="jensenshannon", score=score, drifted=score >= limit, current_rows=len(arr)
            )
    ref_q = np.asarray(ref["quantiles"], dtype="float64")
    wd = float(np.mean(np.abs(ref_q - _quantiles(arr))))
    score = wd / max(float(ref["std"]), 0.001)
    return ColumnDrift(
        **base, method="wasserstein", score=score, drifted=score >= limit, current_rows=len(arr)
    )


@dataclass(frozen=True)
class DatasetDrift:
    columns: list[ColumnDrift]
    share: float
    share_threshold: float
    drifted: bool
    prediction: ColumnDrift | None = None

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": [c.to_dict() for c in self.columns],
            "share": self.share,
            "share_threshold": self.share_threshold,
            "drifted": self.drifted,
            "drifted_columns": self.drifted_columns,
            "prediction": self.prediction.to_dict() if self.prediction else None,
        }


def dataset_drift(
    profile: dict[str, Any],
    current: pd.DataFrame,
    columns: list[str],
    threshold: float | None = None,
    share_threshold: float = 0.5,
    predictions: pd.Series | None = None,
) -> DatasetDrift:
    """Per-column verdicts on every row of ``current``, the drifted share and the prediction drift."""
    results = [column_drift(c, profile["columns"][c], current[c], threshold) for c in columns]
    share = sum(r.drifted for r in results) / len(results) if results else 0.0
    pred = None
    if predictions is not None and profile.get("prediction"):
        pred = column_drift(PREDICTION, profile["prediction"], predictions, threshold)
    return DatasetDrift(results, share, share_threshold, share >= share_threshold, pred)


@dataclass(frozen=True)
class DomainClassifierResult:
    auc: float
    auc_std: float
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    folds: int
    drivers: list[dict[str, float | str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _domain_features(
    frame: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> tuple[Any, list[bool]]:
    import pandas as pd

    out = pd.DataFrame(index=frame.index)
    is_cat: list[bool] = []
    for col in numeric:
        out[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
        is_cat.append(False)
    for col in categorical:
        codes = category_labels(frame[col]).astype("category")
        if len(codes.cat.categories) <= 250:
            out[col] = codes.cat.codes.where(codes.notna()).astype("float64")
            is_cat.append(True)
        else:  # too many levels for a categorical split: use the codes as an ordinal
            out[col] = codes.cat.codes.astype("float64")
            is_cat.append(False)
    return out, is_cat


def domain_classifier(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    sample_rows: int = 10_000,
    threshold: float = 0.6,
    seed: int = 0,
    folds: int = 3,
) -> DomainClassifierResult:
    """Train a classifier to tell reference rows from current rows; its CV ROC AUC measures drift.

    AUC near 0.5: the window looks like the training data. The drivers are the features whose
    permutation lowers the held-out AUC most.
    """
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from threadpoolctl import threadpool_limits

    ref = reference.sample(min(len(reference), sample_rows), random_state=seed)
    cur = current.sample(min(len(current), sample_rows), random_state=seed)
    both = pd.concat([ref[numeric + categorical], cur[numeric + categorical]], ignore_index=True)
    X, is_cat = _domain_features(both, numeric, categorical)
    y = np.r_[np.zeros(len(ref), dtype="int64"), np.ones(len(cur), dtype="int64")]
    clf = HistGradientBoostingClassifier(
        max_iter=60, learning_rate=0.1, max_leaf_nodes=15, categorical_features=is_cat, random_state=seed
    )
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    # One OpenMP thread: on a sample this small a second thread saves little on an idle machine, but
    # where other work shares the cores (an Airflow worker) the boosting's OpenMP barriers spin and it
    # is many times slower. Same result either way.
    with threadpool_limits(limits=1, user_api="openmp"):
        scores = cross_validate(
            clf, X, y, cv=cv, scoring="roc_auc", return_estimator=True, return_indices=True
        )
        aucs = np.asarray(scores["test_score"], dtype="float64")
        auc = float(np.mean(aucs))
        imp: Any = None
        if auc >= threshold:
            test_idx = scores["indices"]["test"][0]
            imp = permutation_importance(
                scores["estimator"][0], X.iloc[test_idx], y[test_idx], scoring="roc_auc", n_repeats=3,
                random_state=seed,
            )  # fmt: skip
    drivers: list[dict[str, float | str]] = []
    if imp is not None:
        ranked = sorted(zip(X.columns, imp.importances_mean, strict=True), key=lambda t: -t[1])
        top = [(f, v) for f, v in ranked if v > 0.005][:5]
        drivers = [{"feature": str(f), "auc_drop": round(float(v), 4)} for f, v in top]
    return DomainClassifierResult(
        auc=round(auc, 4),
        auc_std=round(float(np.std(aucs)), 4),
        threshold=threshold,
        drifted=auc >= threshold,
        reference_rows=len(ref),
        current_rows=len(cur),
        folds=folds,
        drivers=drivers,
    )


def domain_baseline(
    reference: pd.DataFrame, numeric: list[str], categorical: list[str], seed: int = 0, repeats: int = 3
) -> dict[str, Any]:
    """The domain classifier's ROC AUC between two random halves of the reference: what no drift
    looks like for this model's data (mean and spread over ``repeats`` splits and their folds)."""
    import numpy as np

    aucs, stds = [], []
    for r in range(repeats):
        half = np.random.default_rng(seed + r).permutation(len(reference)) < len(reference) // 2
        res = domain_classifier(
            reference[half], reference[~half], numeric, categorical, len(reference), 1.01, seed + r
        )  # a threshold above 1: no permutation importance for the baseline
        aucs.append(res.auc)
        stds.append(res.auc_std)
    spread = float(np.sqrt(np.var(aucs) + np.mean(np.square(stds))))
    return {"auc": round(float(np.mean(aucs)), 4), "std": round(spread, 4), "repeats": repeats,
            "rows_per_side": int(len(reference) // 2)}  # fmt: skip


def domain_threshold(
    baseline: dict[str, Any] | None, fixed: float | None, margin: float
) -> tuple[float, str]:
    """The domain classifier's threshold and how it was set: ``fixed`` when the YAML gives one; else the
    model's no-drift baseline plus the larger of ``margin`` and three spreads; else the fixed default."""
    if fixed is not None:
        return fixed, "fixed by monitoring.drift.domain_auc_threshold"
    if not baseline:
        return FIXED_DOMAIN_AUC, "fixed default: the model has no stored no-drift baseline"
    lift = max(margin, 3 * baseline["std"])
    return (
        min(round(baseline["auc"] + lift, 4), 1.0),
        f"no-drift baseline {baseline['auc']:.3f} ± {baseline['std']:.3f} + {lift:.3f}",
    )


def sample(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """At most ``rows`` rows, drawn without replacement with a fixed seed (the whole frame if smaller)."""
    return frame if len(frame) <= rows else frame.sample(rows, random_state=seed).sort_index()

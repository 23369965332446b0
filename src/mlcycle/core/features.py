"""The model's inputs from a frame: feature columns, categorical labels, the split, the target."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlcycle.config.estimators import ESTIMATORS
from mlcycle.config.loader import Pipeline
from mlcycle.errors import TrainingError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def category_labels(values: pd.Series) -> pd.Series:
    """Categorical values as strings that do not depend on how the file typed them.

    A category coded as numbers reads as int64 from one file and float64 from another (a single
    null makes pandas use floats): ``1`` and ``1.0`` must be the same category, and ``-0.0`` the
    same as ``0.0``. Nulls stay null (``None``).

    The labels are computed on the distinct values only, and every row of one category points at
    the same ``str`` object: an object column costs 8 bytes a row, not a Python string a row
    (benchmarks/README.md, Scale).
    """
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    uniq = np.asarray(uniques, dtype=object) if len(uniques) else np.empty(0, dtype=object)
    if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
        labels = [str(v) for v in uniq]
    else:
        arr = np.asarray(uniq, dtype="float64") + 0.0  # + 0.0 turns -0.0 into 0.0
        integral = bool(np.all(np.mod(arr, 1) == 0)) and bool(np.all(np.abs(arr) < 2**53))
        labels = [str(int(v)) for v in arr] if integral else [repr(float(v)) for v in arr]
    table = np.empty(len(labels) + 1, dtype=object)  # the last slot, None, is where code -1 points
    interned: dict[str, str] = {}
    for i, label in enumerate(labels):
        table[i] = interned.setdefault(label, label)  # 1 and 1.0 (two uniques) share one label object
    out = table[codes]  # -1 (null) takes the trailing None
    return pd.Series(out, index=values.index, name=values.name, dtype=object)


def number_label(value: float) -> str:
    """The label of one value of a low-cardinality numeric column (``-0.0`` is ``0.0``)."""
    return repr(float(value) + 0.0)


def categorical_encoding(pipe: Pipeline) -> str:
    """How the model sees categorical features (an MLflow param: models differ by it)."""
    return "ordinal, native" if ESTIMATORS[pipe.config.model.estimator].native_categorical else "one-hot"


def feature_frame(pipe: Pipeline, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns, categoricals as strings (stable across CSV and Parquet).

    One copy of the data: the numeric features as one float64 block, each categorical as an object
    column whose rows share one string per category (``columns.category_labels``).
    """
    import numpy as np
    import pandas as pd

    features = pipe.config.data.features
    numeric = frame[features.numeric].to_numpy(dtype="float64", na_value=np.nan) if features.numeric else None
    out = pd.DataFrame(numeric, index=frame.index, columns=list(features.numeric), copy=False)
    for col in features.categorical:
        out[col] = category_labels(frame[col])  # 1 and 1.0 (a CSV with a null) are one category
    return out


def sortable(values: pd.Series) -> Any:
    """A column as a numpy array that sorts natively: tz-aware timestamps as UTC datetime64, not objects.

    ``to_numpy()`` of a tz-aware column is an object array of Timestamps, which sorts orders of
    magnitude slower than datetime64 (the time split sorts the snapshot twice per run).
    """
    import pandas as pd

    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    return values.to_numpy()


def split_indices(pipe: Pipeline, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train/test row positions: random (seeded, stratified) or by time."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    split = pipe.config.model.split
    positions = np.arange(len(frame))
    if split.strategy == "time":
        ts_col = pipe.config.data.timestamp_column
        order = np.argsort(sortable(frame[ts_col]), kind="stable")
        cut = int(round(len(frame) * (1 - split.test_size)))
        return np.sort(order[:cut]), np.sort(order[cut:])
    stratify = None
    if pipe.config.model.is_classification and split.stratify:
        y = frame[pipe.config.data.target]
        if y.value_counts().min() >= 2:
            stratify = y.to_numpy()
    train, test = train_test_split(
        positions, test_size=split.test_size, random_state=split.seed, stratify=stratify
    )
    return np.sort(train), np.sort(test)


def target_values(pipe: Pipeline, frame: pd.DataFrame) -> pd.Series:
    y = frame[pipe.config.data.target]
    if pipe.config.model.is_classification:
        if y.isna().any():
            raise TrainingError(
                f"target column {pipe.config.data.target!r} has {int(y.isna().sum())} nulls; "
                "add expect_column_values_to_not_be_null for it under checks.expectations"
            )
        return y
    return y.astype("float64")


# --- the column lists each reader takes (one place, so a new column kind is added once) -------------


def _unique(columns: list[str | None]) -> list[str]:
    return list(dict.fromkeys(c for c in columns if c))


def snapshot_columns(pipe: Pipeline) -> list[str]:
    """Every column a snapshot keeps: features, target, timestamp, id, slices and the sensitive one."""
    data, ev = pipe.config.data, pipe.config.evaluation
    sensitive = ev.fairness.sensitive if ev.fairness else None
    return _unique(
        [*data.features.all, data.target, data.timestamp_column, data.id_column, *ev.slices, sensitive]
    )


def window_columns(pipe: Pipeline, timestamp_column: str | None) -> list[str]:
    """The columns a monitoring window keeps besides its labels: id, timestamp and features."""
    data = pipe.config.data
    return _unique([data.id_column, timestamp_column, *data.features.all])


def training_columns(pipe: Pipeline) -> list[str]:
    """The snapshot columns training reads: features, target and the time split's timestamp."""
    data = pipe.config.data
    return _unique([*data.features.all, data.target, data.timestamp_column])


def evaluation_columns(pipe: Pipeline) -> list[str]:
    """The snapshot columns evaluation reads: training's, and the slice and fairness columns."""
    ev = pipe.config.evaluation
    return _unique([*training_columns(pipe), *ev.slices, ev.fairness.sensitive if ev.fairness else None])

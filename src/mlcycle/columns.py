"""Column value normalisation shared by training, scoring and drift (cheap to import)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def category_labels(values: pd.Series) -> pd.Series:
    """Categorical values as strings that do not depend on how the file typed them.

    A category coded as numbers reads as int64 from one file and float64 from another (a single
    null makes pandas use floats): ``1`` and ``1.0`` must be the same category, and ``-0.0`` the
    same as ``0.0``. Nulls stay null (``None``).

    The labels are computed on the distinct values only, and every row of one category points at
    the same ``str`` object: an object column of 10M rows costs 8 bytes a row, not a Python string
    a row (per-row strings took several GB at 10M rows x 6 columns: benchmarks/README.md, Scale).
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

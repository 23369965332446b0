"""Column value normalisation shared by training, scoring and drift (cheap to import)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def category_labels(values: pd.Series) -> pd.Series:
    """Categorical values as strings that do not depend on how the file typed them.

    A category coded as numbers reads as int64 from one file and float64 from another (a single
    null makes pandas use floats): ``1`` and ``1.0`` must be the same category, and ``-0.0`` the
    same as ``0.0``. Nulls stay null.
    """
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("string").astype(object).where(values.notna(), None)
    arr = values.to_numpy(dtype="float64", na_value=np.nan) + 0.0  # + 0.0 turns -0.0 into 0.0
    present = ~np.isnan(arr)
    integral = bool(np.all(np.mod(arr[present], 1) == 0)) and bool(np.all(np.abs(arr[present]) < 2**53))
    out = np.full(len(arr), None, dtype=object)
    if integral:
        out[present] = arr[present].astype("int64").astype(str)
    else:
        out[present] = [repr(float(v)) for v in arr[present]]
    return pd.Series(out, index=values.index, name=values.name, dtype=object)


def number_label(value: float) -> str:
    """The label of one value of a low-cardinality numeric column (``-0.0`` is ``0.0``)."""
    return repr(float(value) + 0.0)

"""The one evaluator of structured rules (``{column, op, value}`` conditions, no string eval).

Fallback rules and postprocess rules both use it, on the model's input frame (numeric features as
float64, categorical ones as strings). Rules are plain dicts here: the JSON stored with a model
version, or ``Rule.model_dump()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

NO_RULE = -1


def condition_mask(frame: pd.DataFrame, condition: Mapping[str, Any]) -> np.ndarray:
    """Rows where the condition holds; a null value fails every op but ``is_null``."""
    import numpy as np

    column, op, value = condition["column"], condition["op"], condition.get("value")
    values = frame[column]
    present = values.notna().to_numpy()
    if op == "is_null":
        return ~present
    if op == "in":
        hit = values.isin(list(value or [])).to_numpy()
    elif op == "eq":
        hit = (values == value).to_numpy()
    elif op == "ne":
        hit = (values != value).to_numpy()
    else:
        ordered = values.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            hit = {
                "lt": ordered < value,
                "le": ordered <= value,
                "gt": ordered > value,
                "ge": ordered >= value,
            }[op]
    return np.asarray(hit, dtype=bool) & present


def first_match(frame: pd.DataFrame, rules: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Per row, the index of the first rule whose conditions all hold, else ``NO_RULE``."""
    import numpy as np

    matched = np.full(len(frame), NO_RULE, dtype="int64")
    for i, rule in enumerate(rules):
        holds = np.ones(len(frame), dtype=bool)
        for condition in rule["when"]:
            holds &= condition_mask(frame, condition)
        matched[(matched == NO_RULE) & holds] = i
    return matched


def output_column(values: Sequence[Any] | np.ndarray) -> pd.Series:
    """One Parquet-friendly column: numbers stay numbers; labels of mixed types become strings."""
    import pandas as pd

    column = pd.Series(list(values), dtype=object)
    kind = pd.api.types.infer_dtype(column, skipna=True)
    if kind == "mixed-integer-float":
        return column.astype("float64")
    if kind.startswith("mixed"):
        return column.map(lambda v: None if v is None else str(v))
    return pd.Series(column.tolist())


def apply_rules(
    frame: pd.DataFrame, prediction: Sequence[Any] | np.ndarray, rules: Sequence[Mapping[str, Any]]
) -> tuple[pd.Series, pd.Series]:
    """The prediction with the first matching rule's ``then`` per row, and the name of that rule."""
    import numpy as np
    import pandas as pd

    matched = first_match(frame, rules)
    out = np.asarray(prediction, dtype=object).copy()
    fired = np.full(len(frame), None, dtype=object)
    for i, rule in enumerate(rules):
        rows = matched == i
        out[rows] = rule["then"]
        fired[rows] = rule.get("name") or f"rule_{i}"
    return output_column(out), pd.Series(fired, dtype=object)

"""Which rows a run reads: the time window, how file paths date their rows, and labels that land later."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from mlcycle.config.base import _Strict

# strftime fields a ``path_date`` may use, the regex each matches, and the period the finest one spans
PATH_DATE_FIELDS = {"Y": r"\d{4}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}", "j": r"\d{3}"}


def path_date_problem(value: str) -> str | None:
    """Why ``value`` is not a usable ``data.window.path_date`` (None when it is)."""
    fields = re.findall(r"%(.)", value)
    unknown = sorted({f for f in fields if f not in PATH_DATE_FIELDS and f != "%"})
    if unknown:
        return (
            f"strftime field(s) {', '.join('%' + f for f in unknown)} are not supported; use "
            f"{', '.join('%' + f for f in PATH_DATE_FIELDS)} (e.g. 'churn_%Y-%m' or 'dt=%Y-%m-%d')"
        )
    if "Y" not in fields:
        return "needs %Y (the year) to date a file, e.g. 'churn_%Y-%m'"
    return None


class WindowConfig(_Strict):
    """Rows used by a run: the trailing ``lookback_days`` before the run's data interval end.

    ``path_date`` (a strftime pattern found in each file's path, e.g. ``churn_%Y-%m``) says a file holds
    only rows of the period it names, so files outside the window are not opened at all.
    """

    lookback_days: int | None = Field(None, ge=1)
    path_date: str | None = Field(None, min_length=2)

    @field_validator("path_date")
    @classmethod
    def _path_date(cls, value: str | None) -> str | None:
        if value is not None and (problem := path_date_problem(value)):
            raise ValueError(problem)
        return value


class LabelsConfig(_Strict):
    """Labels that land after the features: ``id_column`` and ``target`` rows in their own source.

    Joined to the scored rows by the id when they land (``mlcycle labels``, or the monitor's
    ``join_labels`` task), and to training rows whose target is still missing.
    """

    source: str = Field(min_length=1)
    format: Literal["auto", "csv", "parquet"] = "auto"
    id_column: str | None = None  # default: data.id_column
    target: str | None = None  # default: data.target
    arrived_at_column: str | None = None  # when a label landed; the latest label of an id wins

"""docs/pipeline-yaml.md documents every key of the pipeline YAML, and only keys that exist.

The keys are found by walking ``PipelineConfig``'s field annotations: a field whose type is (or
contains, through Optional/Union/list) a Pydantic model is recursed into. Convention, shared with the
page:

- a key is its full dotted path from the top of the file: ``data.features.numeric``;
- a list of mappings adds ``[]``: ``checks.expectations[].type``, ``fallback.rules[].when[].op``;
- a mapping-typed field is a key too (``data.features``, ``monitoring.drift``) and needs its own row;
- a row is a line of a markdown table whose header's first cell is ``key``; every backticked span in
  the row's first cell is a documented key (one row may document ``execution.heavy.queue``,
  ``execution.light.queue``). Other tables (the estimator allow-list, metrics) are not reference rows.
"""

from __future__ import annotations

import re
import types
import typing
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mlcycle.config import PipelineConfig

PAGE = Path(__file__).resolve().parents[3] / "docs" / "pipeline-yaml.md"
LIST_ORIGINS = (list, tuple, set, frozenset)


def _models_in(annotation: Any, suffix: str = "") -> list[tuple[str, type[BaseModel]]]:
    """The BaseModel subclasses inside an annotation, each with ``[]`` per list level around it."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0], suffix)
    if origin in (typing.Union, types.UnionType):
        return [found for arg in typing.get_args(annotation) for found in _models_in(arg, suffix)]
    if origin in LIST_ORIGINS:
        return [
            found
            for arg in typing.get_args(annotation)
            if arg is not Ellipsis
            for found in _models_in(arg, suffix + "[]")
        ]
    if origin is dict:
        nested = [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
        assert not nested, f"a dict of models ({annotation}) needs a notation in the docs and in this walk"
        return []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(suffix, annotation)]
    return []


def schema_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        yield key
        for suffix, nested in _models_in(field.annotation):
            yield from schema_keys(nested, f"{key}{suffix}.")


def _cells(line: str) -> list[str]:
    """The cells of a table line; ``\\|`` inside a cell is an escaped pipe, not a border."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def _is_separator(line: str) -> bool:
    return all(re.fullmatch(r":?-+:?", cell) for cell in _cells(line))


def documented_keys(text: str) -> list[str]:
    """Every backticked key in the first cell of the body rows of the page's ``key`` tables."""
    keys: list[str] = []
    in_key_table = False
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.lstrip().startswith("|"):
            in_key_table = False
        elif i + 1 < len(lines) and lines[i + 1].lstrip().startswith("|") and _is_separator(lines[i + 1]):
            in_key_table = _cells(line)[0] == "key"  # a header row
        elif in_key_table and not _is_separator(line):
            keys += re.findall(r"`([^`]+)`", _cells(line)[0])
    return keys


SCHEMA = list(schema_keys(PipelineConfig))
DOCUMENTED = documented_keys(PAGE.read_text(encoding="utf-8"))


def test_the_walk_reaches_nested_and_list_models() -> None:
    for key in (
        "monitoring",
        "promotion",
        "model_card",
        "data.features.numeric",
        "monitoring.drift.column_threshold",
        "evaluation.slice_gate.max_regression",
        "checks.expectations[].type",
        "fallback.rules[].when[].value",
        "postprocess.rules[].then",
    ):
        assert key in SCHEMA, key
    assert len(SCHEMA) == len(set(SCHEMA))


def test_every_schema_key_has_a_row() -> None:
    missing = [key for key in SCHEMA if key not in DOCUMENTED]
    assert not missing, (
        f"{PAGE.name} has no table row for these PipelineConfig keys (add a row whose first cell is the "
        f"full dotted key in backticks, in a table whose first header cell is 'key'): {', '.join(missing)}"
    )


def test_every_row_names_a_schema_key() -> None:
    stale = [key for key in DOCUMENTED if key not in SCHEMA]
    assert not stale, (
        f"{PAGE.name} documents keys that PipelineConfig does not have (stale or misspelt rows): "
        f"{', '.join(stale)}"
    )


def test_each_key_has_one_row() -> None:
    twice = sorted(key for key, n in Counter(DOCUMENTED).items() if n > 1)
    assert not twice, f"{PAGE.name} documents these keys in more than one row: {', '.join(twice)}"

"""Issue 6, scenario 8: property-based fuzzing of the config loader.

Every input, however mangled, yields a validated pipeline or a ``ConfigError`` naming the file;
never another exception. Mutations start from the demo pipeline (drop, rename, retype keys,
random scalars, deep nesting, unicode, huge numbers) and from raw text edits of its YAML.
Runs derandomized and without an example database, so CI sees the same inputs every time.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlcycle.config.loader import Pipeline, parse_pipeline
from mlcycle.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
DEMO_TEXT = (ROOT / "config" / "pipelines" / "churn.yaml").read_text()
DEMO = yaml.safe_load(DEMO_TEXT)
PATH = "config/pipelines/fuzzed.yaml"

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["", "~", "-1", "1e400", "0x1F", "2025-13-45", "!!", "{", "[", ":", "\u202e\u0000", "é😀"]
    ),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a dict key or list index inside ``node``."""
    out: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        out.append((*prefix, key))
        out.extend(_paths(child, (*prefix, key)))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(DEMO)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(doc, path), path[-1]
        action = draw(st.sampled_from(["drop", "rename", "retype", "nest", "add"]))
        if action == "drop":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.text(max_size=15))] = parent.pop(key)
        elif action == "retype":
            parent[key] = draw(values)
        elif action == "nest":
            depth = draw(st.integers(1, 60))
            inner: Any = parent[key]
            for _ in range(depth):
                inner = draw(st.sampled_from([[inner], {"x": inner}]))
            parent[key] = inner
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=15))] = draw(values)
    return doc


def _load_or_config_error(text: str) -> Pipeline | None:
    try:
        return parse_pipeline(text, PATH)
    except ConfigError as exc:
        assert str(exc).startswith(f"{PATH}: "), str(exc)
        assert exc.problems and all(p.strip() for p in exc.problems)
        return None


def test_demo_is_the_valid_seed() -> None:
    assert _load_or_config_error(DEMO_TEXT) is not None


@FUZZ
@given(doc=mutated_documents())
def test_mutated_documents(doc: Any) -> None:
    _load_or_config_error(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


@FUZZ
@given(doc=values)
def test_arbitrary_structures(doc: Any) -> None:
    _load_or_config_error(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(DEMO_TEXT)), st.integers(0, 8), st.text(max_size=8)),
        min_size=1,
        max_size=4,
    )
)
def test_text_edits(edits: list[tuple[int, int, str]]) -> None:
    text = DEMO_TEXT
    for at, cut, insert in edits:
        text = text[:at] + insert + text[at + cut :]
    _load_or_config_error(text)


@FUZZ
@given(text=st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    _load_or_config_error(text)


def test_pathological_inputs() -> None:
    """Inputs that broke YAML loaders elsewhere: deep nesting, bad dates, aliases, huge numbers."""
    for text in (
        "[" * 5000 + "]" * 5000,
        "a: " + "{b: " * 3000 + "1" + "}" * 3000,
        "start_date: 2025-13-45\n",
        DEMO_TEXT.replace("start_date: 2025-07-01", "start_date: 2025-02-30"),
        "retries: " + "9" * 5000 + "\n",
        "a: &a [*a]\n",
        "x: 1e999999\n",
        "\ufeff\x00",
    ):
        _load_or_config_error(text)


def test_yaml_construction_failures_are_config_errors() -> None:
    """PyYAML raises RecursionError/ValueError (not YAMLError) for these; the loader names the fix."""
    cases = {
        DEMO_TEXT.replace(
            "start_date: 2025-07-01", "start_date: 2025-02-30"
        ): "day is out of range for month",
        "retries: " + "9" * 5000 + "\n": "integer string conversion",
    }
    for text, fragment in cases.items():
        try:
            parse_pipeline(text, PATH)
        except ConfigError as exc:
            assert (fragment in str(exc) and "quote it or fix it" in str(exc)) or "flatten" in str(exc)
        else:
            raise AssertionError(f"accepted: {text[:40]!r}")


def test_deep_nesting_and_alias_bombs_are_refused_before_loading() -> None:
    """libyaml's composer recurses in C: 100k levels segfaulted the process (found when the loader
    moved to CSafeLoader). Depth and alias expansion are measured on the event stream first."""
    deep_cases = [
        "[" * 100_000 + "]" * 100_000,
        "data: " + "{a: " * 20_000 + "1" + "}" * 20_000,
        "data:\n" + "".join("  " * i + "a:\n" for i in range(1, 200)),
    ]
    for text in deep_cases:
        with pytest.raises(ConfigError, match="nested more than 64 levels deep; flatten the file"):
            parse_pipeline(text, PATH)
    # nine levels of ten aliases each: 10**9 values for anything that walks the loaded structure
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    with pytest.raises(ConfigError, match="anchors and aliases included") as err:
        parse_pipeline("\n".join(bomb) + "\n", PATH)
    assert str(err.value).startswith(PATH)
    # anchors and aliases of ordinary size still load
    reuse = DEMO_TEXT.replace("owner: ml-platform", "owner: &who ml-platform").replace(
        "tags: [demo, churn]", "tags: [demo, churn, *who]"
    )
    assert parse_pipeline(reuse, PATH).config.tags == ["demo", "churn", "ml-platform"]

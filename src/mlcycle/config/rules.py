"""Rule conditions for ``fallback`` and ``postprocess``, and their checks against the features."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from mlcycle.config.base import _Strict

if TYPE_CHECKING:
    from mlcycle.config.schema import FeaturesConfig, PipelineConfig


Scalar = bool | int | float | str

ORDERING_OPS = ("lt", "le", "gt", "ge")

CONDITION_OPS = (*ORDERING_OPS, "eq", "ne", "in", "is_null")


class Condition(_Strict):
    """One test on a column: ``{column: monthly_charges, op: lt, value: 0}``; null values fail every
    op but ``is_null``."""

    column: str = Field(min_length=1)
    op: Literal["lt", "le", "gt", "ge", "eq", "ne", "in", "is_null"]
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        if self.op == "is_null":
            if self.value is not None:
                raise ValueError("op 'is_null' takes no value; remove value")
        elif self.op == "in":
            if not isinstance(self.value, list) or not self.value:
                raise ValueError("op 'in' needs a non-empty list: value: [a, b]")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs a single value (a list only goes with op 'in')")
        return self

    def values(self) -> list[Scalar]:
        if self.value is None:
            return []
        return list(self.value) if isinstance(self.value, list) else [self.value]


class Rule(_Strict):
    """``when`` every condition holds, the output is ``then``."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    when: list[Condition] = Field(min_length=1)
    then: Scalar


class FallbackConfig(_Strict):
    """The heuristic scoring uses when the champion cannot be loaded or fails its health check.

    ``majority`` (classification) and ``mean`` (regression) are fitted on the training split;
    ``rules`` predicts the ``then`` of the first matching rule, else ``default``.
    """

    kind: Literal["majority", "mean", "rules"] | None = None  # default: majority or mean by task
    rules: list[Rule] = Field(default_factory=list)
    default: Scalar | None = None

    @model_validator(mode="after")
    def _rules_fit_kind(self) -> FallbackConfig:
        if self.kind == "rules" and (not self.rules or self.default is None):
            raise ValueError(
                "kind 'rules' needs rules (at least one) and default (the prediction when none match)"
            )
        if self.kind != "rules" and (self.rules or self.default is not None):
            raise ValueError("rules and default only go with kind: rules")
        return self


class PostprocessConfig(_Strict):
    """Rules applied after the model, in order: the first whose ``when`` holds sets the prediction
    to its ``then``; stored with each registered version and applied as stored."""

    rules: list[Rule] = Field(default_factory=list)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rule_problems(key: str, rules: list[Rule], features: FeaturesConfig, numeric_then: bool) -> list[str]:
    """Conditions checked against the configured feature columns and their kinds."""
    out = []
    for i, rule in enumerate(rules):
        if numeric_then and not _is_number(rule.then):
            out.append(f"{key}.{i}.then: {rule.then!r} is not a number; a regression model predicts numbers")
        for j, cond in enumerate(rule.when):
            where = f"{key}.{i}.when.{j}"
            if cond.column in features.numeric:
                bad = [v for v in cond.values() if not _is_number(v)]
                if bad:
                    out.append(
                        f"{where}.value: {bad[0]!r} is not a number; {cond.column!r} is a numeric feature"
                    )
            elif cond.column in features.categorical:
                if cond.op in ORDERING_OPS:
                    out.append(
                        f"{where}.op: {cond.op!r} needs a numeric column; {cond.column!r} is categorical "
                        "(use eq, ne, in or is_null)"
                    )
                bad = [v for v in cond.values() if not isinstance(v, str)]
                if bad:
                    out.append(
                        f"{where}.value: {bad[0]!r} is not a string; {cond.column!r} is categorical, "
                        f"quote the value: '{bad[0]}'"
                    )
            else:
                hint = difflib.get_close_matches(cond.column, features.all, n=1)
                extra = f"did you mean {hint[0]!r}? " if hint else ""
                out.append(
                    f"{where}.column: {cond.column!r} is not a feature; {extra}choose from {features.all}"
                )
    return out


def _all_rule_problems(cfg: PipelineConfig) -> list[str]:
    """Fallback and postprocess rules checked against the task and the configured features."""
    features, regression = cfg.data.features, not cfg.model.is_classification
    out = []
    kind = cfg.fallback.kind
    if kind in ("majority", "mean") and (kind == "mean") != regression:
        fits = "mean" if regression else "majority"
        out.append(f"fallback.kind: {kind!r} does not apply to {cfg.model.task}; use {fits!r} or 'rules'")
    out += _rule_problems("fallback.rules", cfg.fallback.rules, features, regression)
    seen: set[str] = set()
    for i, rule in enumerate(cfg.postprocess.rules):
        if not rule.name:
            out.append(
                f"postprocess.rules.{i}.name: is required (it is written next to each prediction it changed)"
            )
        elif rule.name in seen:
            out.append(f"postprocess.rules.{i}.name: {rule.name!r} is used twice; names must be unique")
        seen.add(rule.name or "")
    if regression and cfg.fallback.default is not None and not _is_number(cfg.fallback.default):
        out.append(
            f"fallback.default: {cfg.fallback.default!r} is not a number; a regression model predicts numbers"
        )
    return out + _rule_problems("postprocess.rules", cfg.postprocess.rules, features, regression)

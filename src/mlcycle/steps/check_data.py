"""Data checks: the YAML's expectations run as a Great Expectations 1.x suite on a snapshot."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mlcycle.adapters.sources import load_snapshot
from mlcycle.config.loader import Pipeline
from mlcycle.config.schema import ExpectationConfig
from mlcycle.core.names import Record
from mlcycle.core.records import DataChecks, Snapshot
from mlcycle.errors import DataCheckError
from mlcycle.steps.context import Env

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    expectation: str
    column: str | None
    kwargs: dict[str, Any]
    unexpected_count: int | None
    unexpected_percent: float | None
    observed_value: Any
    examples: list[Any]

    def describe(self) -> str:
        where = f"column {self.column!r}" if self.column else "table"
        parts = [f"{self.expectation} failed on {where}"]
        if self.unexpected_count is not None:
            pct = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            parts.append(f"{self.unexpected_count} unexpected values{pct}")
        if self.examples:
            parts.append(f"e.g. {self.examples[:5]}")
        if self.observed_value is not None:
            parts.append(f"observed {self.observed_value!r}")
        args = {k: v for k, v in self.kwargs.items() if k not in ("column", "batch_id")}
        if args:
            parts.append(f"expected {args}")
        return "; ".join(parts)


@dataclass(frozen=True)
class CheckResult:
    success: bool
    evaluated: int
    rows: int
    failures: list[Failure] = field(default_factory=list)

    def summary(self) -> str:
        head = (
            f"{self.evaluated - len(self.failures)}/{self.evaluated} expectations passed on {self.rows} rows"
        )
        if self.success:
            return head
        return head + "\n" + "\n".join(f"  - {f.describe()}" for f in self.failures)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quiet_gx() -> None:
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


def build_expectation(type_: str, kwargs: dict[str, Any], meta: dict[str, Any] | None = None) -> Any:
    """Instantiate a GX expectation by its snake_case name (GX validates the arguments)."""
    _quiet_gx()
    from great_expectations.expectations.registry import get_expectation_impl

    cls = get_expectation_impl(type_)
    return cls(**kwargs, meta=meta or None)


def suite_expectations(pipe: Pipeline) -> list[ExpectationConfig]:
    """The YAML's expectations plus the always-enforced minimum row count."""
    min_rows = ExpectationConfig(
        type="expect_table_row_count_to_be_between",
        kwargs={"min_value": pipe.config.checks.min_rows},
        meta={"added_by": "mlcycle: checks.min_rows"},
    )
    return [min_rows, *pipe.config.checks.expectations]


def _raised_message(info: dict[str, Any]) -> str | None:
    """GX 1.x keeps exception info either flat or keyed by metric id; find the first message."""
    candidates = [info, *(v for v in info.values() if isinstance(v, dict))]
    for item in candidates:
        if item.get("raised_exception"):
            return str(item.get("exception_message"))
    return None


def run_checks(pipe: Pipeline, frame: pd.DataFrame) -> tuple[CheckResult, dict[str, Any]]:
    """Validate ``frame``; return the summary and GX's full validation result as JSON-able dict."""
    _quiet_gx()
    import great_expectations as gx
    import pandas as pd

    with pd.option_context("mode.copy_on_write", True):  # GX's metrics copy far less on pandas 2.x
        return _validate(pipe, frame, gx)


def _validate(pipe: Pipeline, frame: pd.DataFrame, gx: Any) -> tuple[CheckResult, dict[str, Any]]:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # GX's "Calculating Metrics" bar goes to stderr, which a task log records at ERROR level
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(f"{pipe.name}_snapshot")
    asset = source.add_dataframe_asset("snapshot")
    batch = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(gx.ExpectationSuite(name=f"{pipe.name}_checks"))
    for exp in suite_expectations(pipe):
        suite.add_expectation(build_expectation(exp.type, exp.kwargs, exp.meta))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{pipe.name}_validation", data=batch, suite=suite)
    )
    result = validation.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    failures = []
    for r in result.results:
        cfg = r.expectation_config
        if r.success or cfg is None:
            continue
        res = r.result or {}
        observed = res.get("observed_value")
        raised = _raised_message(r.exception_info or {})
        if raised:
            observed = f"error: {raised}"
        failures.append(
            Failure(
                expectation=cfg.type,
                column=cfg.kwargs.get("column"),
                kwargs={k: v for k, v in cfg.kwargs.items() if k != "batch_id"},
                unexpected_count=res.get("unexpected_count"),
                unexpected_percent=res.get("unexpected_percent"),
                observed_value=observed,
                examples=list(res.get("partial_unexpected_list") or [])[:10],
            )
        )
    summary = CheckResult(
        success=bool(result.success), evaluated=len(result.results), rows=len(frame), failures=failures
    )
    return summary, result.to_json_dict()


def check_data(env: Env, snapshot: Snapshot) -> DataChecks:
    """Run the suite on the snapshot; publish the full report; fail loudly when it does not pass."""
    frame = load_snapshot(env.store, snapshot.key)
    result, full = run_checks(env.pipe, frame)
    report_uri = env.publish_json(
        Record.DATA_CHECKS, {"summary": result.to_dict(), "great_expectations": full}
    )
    log.info("data checks: %s", result.summary())
    if not result.success:
        raise DataCheckError(
            f"{env.pipe.path}: data checks failed on snapshot {snapshot.uri}:\n{result.summary()}\n"
            f"full report: {report_uri}"
        )
    return DataChecks(success=True, summary=result.summary(), report_uri=report_uri, result=result.to_dict())

"""Checks that need the real libraries or the file system: expectation arguments, estimator
construction, and local source files that resolve (through symlinks) outside the allowed roots."""

from __future__ import annotations

from datetime import date

from mlcycle.config.loader import Pipeline


def deep_problems(pipe: Pipeline) -> list[str]:
    """Build every expectation with GX and the estimator with scikit-learn, resolve local source
    files; return problems."""
    from mlcycle.adapters.sources import escaping_files
    from mlcycle.config.estimators import make_estimator
    from mlcycle.steps.check_data import build_expectation

    problems: list[str] = []
    for i, exp in enumerate(pipe.config.checks.expectations):
        try:
            build_expectation(exp.type, exp.kwargs, exp.meta)
        except Exception as exc:  # GX raises pydantic or its own errors; both are reported
            problems.extend(f"checks.expectations.{i}.kwargs{p}" for p in _explain(exp.type, exc))
    model = pipe.config.model
    try:
        make_estimator(model.estimator, model.params, model.split.seed)
    except Exception as exc:
        problems.append(f"model.params: {model.estimator}: {exc}")
    cfg = pipe.config
    for key, source in (("data.source", cfg.data.source), ("monitoring.source", cfg.monitoring.source)):
        if source and "://" not in source and "{" not in source:  # templated sources name future files
            problems.extend(f"{key}: {p}" for p in escaping_files(source, key))
    return problems


def _explain(expectation: str, exc: Exception) -> list[str]:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        out = []
        for err in errors():
            key = "".join(f".{part}" for part in err.get("loc", ()))
            got = f" (got {err['input']!r})" if err.get("input") is not None else ""
            out.append(f"{key}: {expectation}: {err.get('msg')}{got}")
        if out:
            return out
    text = str(exc).strip()
    return [f": {expectation}: {text.splitlines()[0] if text else type(exc).__name__}"]


def schedule_warnings(pipe: Pipeline, today: date) -> list[str]:
    """Dates that are valid but make runs do nothing or score with no model: warnings, not errors."""
    cfg = pipe.config
    out: list[str] = []
    mon_start = cfg.monitoring.start_date
    if cfg.monitoring_enabled and mon_start is not None and mon_start < cfg.start_date:
        out.append(
            f"monitoring.start_date {mon_start} is before start_date {cfg.start_date}: the monitor's first "
            "windows come before any training run of this pipeline (no champion to score them); set "
            f"monitoring.start_date to {cfg.start_date} or later"
        )
    if cfg.start_date > today:
        out.append(
            f"start_date {cfg.start_date} is in the future: no scheduled run before it, and `mlcycle run` "
            "refuses an earlier --logical-date; set start_date to the first day the data covers"
        )
    return out

"""Checks that need the real libraries: expectation arguments and estimator construction."""

from __future__ import annotations

from mlcycle.config import Pipeline


def deep_problems(pipe: Pipeline) -> list[str]:
    """Build every expectation with GX and the estimator with scikit-learn; return problems."""
    from mlcycle.checks import build_expectation
    from mlcycle.estimators import make_estimator

    problems = []
    for i, exp in enumerate(pipe.config.checks.expectations):
        try:
            build_expectation(exp.type, exp.kwargs, exp.meta)
        except Exception as exc:  # GX raises pydantic or its own errors; both are reported verbatim
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            problems.append(f"checks.expectations.{i}.kwargs: {exp.type}: {first}")
    model = pipe.config.model
    try:
        make_estimator(model.estimator, model.params, model.split.seed)
    except Exception as exc:
        problems.append(f"model.params: {model.estimator}: {exc}")
    return problems

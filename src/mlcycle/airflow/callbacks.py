"""Task callbacks and run context: failure notifications, alerts, the acting user, fail-fast on bad data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from airflow.sdk import get_current_context

from mlcycle.airflow.notifiers import DeferredNotifier, build_notifier
from mlcycle.config.loader import Pipeline

FAILURE_SUBJECT = "[mlcycle] {{ dag.dag_id }} failed: task {{ ti.task_id }} ({{ logical_date }})"

FAILURE_TEXT = (
    ":red_circle: mlcycle pipeline *{pipeline}* failed\n"
    "DAG: {{{{ dag.dag_id }}}} | task: {{{{ ti.task_id }}}} | try {{{{ ti.try_number }}}}\n"
    "Logical date: {{{{ logical_date }}}} | run: {{{{ run_id }}}}\n"
    "Error: {{{{ ((exception | string).splitlines()[:6] | join('\n')) if exception else 'see log' }}}}\n"
    "Log: {{{{ ti.log_url }}}}"
)

FAILURE_HTML = (
    "<p>mlcycle pipeline <b>{pipeline}</b> failed.</p>"
    "<ul><li>DAG: {{{{ dag.dag_id }}}}</li><li>Task: {{{{ ti.task_id }}}} (try {{{{ ti.try_number }}}})</li>"
    "<li>Logical date: {{{{ logical_date }}}}</li><li>Run: {{{{ run_id }}}}</li></ul>"
    "<pre>{{{{ ((exception | string).splitlines()[:12] | join('\n')) | e if exception else 'see the log' }}}}</pre>"
    '<p><a href="{{{{ ti.log_url }}}}">Task log</a></p>'
)


def failure_notifiers(pipe: Pipeline) -> list[DeferredNotifier]:
    """Slack and email notifiers from the YAML's notifications section (connection ids only)."""
    notes = pipe.config.notifications
    if "failure" not in notes.events:
        return []
    notifiers: list[DeferredNotifier] = []
    if notes.slack_conn_id:
        notifiers.append(
            DeferredNotifier(
                "slack",
                slack_webhook_conn_id=notes.slack_conn_id,
                text=FAILURE_TEXT.format(pipeline=pipe.name),
            )
        )
    if notes.email:
        notifiers.append(
            DeferredNotifier(
                "email",
                to=list(notes.email),
                subject=FAILURE_SUBJECT,
                html_content=FAILURE_HTML.format(pipeline=pipe.name),
                smtp_conn_id=notes.smtp_conn_id,
            )
        )
    return notifiers


def _run_context() -> tuple[Any, datetime]:
    from mlcycle.steps.context import RunContext

    context = get_current_context()
    ti = context["ti"]
    logical = context.get("logical_date")
    end = context.get("data_interval_end") or logical or context["dag_run"].run_after
    ctx = RunContext(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        logical_date=(logical or end).isoformat(),
        try_number=int(getattr(ti, "try_number", 1) or 1),
        actor=airflow_actor(),
    )
    return ctx, end


@contextmanager
def _no_retry_for_bad_data() -> Iterator[None]:
    """Failed data checks and untrainable data fail the same way on every try: fail at once."""
    from airflow.sdk.exceptions import AirflowFailException

    from mlcycle.errors import ConfigError, DataCheckError, TrainingError

    try:
        yield
    except (DataCheckError, TrainingError, ConfigError) as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


def _drift_alert(pipe: Pipeline, context: Any, text: str) -> dict[str, str]:
    """Deliver an alert (drift, fallback serving) on every configured channel; return the channels that failed."""
    notes = pipe.config.notifications
    failures: dict[str, str] = {}
    if notes.slack_conn_id:
        try:
            build_notifier("slack", slack_webhook_conn_id=notes.slack_conn_id, text=text)(context)
        except Exception as exc:  # one channel failing must not stop the other
            failures["slack"] = type(exc).__name__
    if notes.email:
        from html import escape

        try:
            build_notifier(
                "email",
                to=list(notes.email),
                subject=f"[mlcycle] {pipe.name}: {text.splitlines()[0][:150]}",
                html_content=f"<pre>{escape(text)}</pre>",
                smtp_conn_id=notes.smtp_conn_id,
            )(context)
        except Exception as exc:
            failures["email"] = type(exc).__name__
    return failures


def alert_sender(pipe: Pipeline, context: Any) -> Callable[[str], dict[str, str]]:
    """``send(text)`` for a step: the alert on every configured channel, returning the ones that failed."""
    return lambda text: _drift_alert(pipe, context, text)


def _report_link(dag_id: str, run_id: str, name: str) -> str | None:
    from mlcycle.airflow.links import airflow_base_url, record_url

    base = airflow_base_url()
    return record_url(dag_id, run_id, name, base) if base else None


def airflow_actor() -> str:
    """Who started the current Airflow run: its triggering user, else the scheduler."""
    try:
        from airflow.sdk import get_current_context

        user = getattr(get_current_context()["dag_run"], "triggering_user_name", None)
    except Exception:  # outside a task (tests calling the stages directly): no Airflow context
        return "unknown (no Airflow context)"
    return str(user) if user else "airflow (scheduled)"

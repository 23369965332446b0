"""Task callbacks and run context: failure notifications, alerts, the acting user, fail-fast on bad data."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from html import escape
from typing import Any

from airflow.sdk import get_current_context

from mlcycle.airflow.notifiers import DeferredNotifier, send
from mlcycle.config.loader import Pipeline
from mlcycle.config.settings import CLI_USER_ENV, QUIET_ENV
from mlcycle.core.summaries import error_head
from mlcycle.core.triggers import describe_actor, describe_trigger, run_kind

EMAIL_ERROR_LINES = 12  # the first lines of a failure's error in an e-mail (Slack gets ERROR_LINES)


def run_facts(context: Any) -> dict[str, str]:
    """What every run has, read defensively: a run without a logical date (REST ``null``, a retrain
    the monitor triggers) or a callback outside a task still gets every field."""
    ti = context.get("ti")
    dag_run = context.get("dag_run")
    run_id = str(context.get("run_id") or getattr(dag_run, "run_id", None) or getattr(ti, "run_id", "?"))
    logical = getattr(dag_run, "logical_date", None) or context.get("logical_date")
    run_after = getattr(dag_run, "run_after", None)
    error = error_head(context.get("exception"), EMAIL_ERROR_LINES)
    return {
        "dag_id": str(getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", "?")),
        "task_id": str(getattr(ti, "task_id", "?")),
        "try_number": str(getattr(ti, "try_number", "?")),
        "run_id": run_id,
        "run_type": run_kind(getattr(dag_run, "run_type", None)),
        "trigger": describe_trigger(
            getattr(dag_run, "run_type", None),
            run_id,
            getattr(dag_run, "triggering_user_name", None),
            cli_user(),
        ),
        "run_after": run_after.isoformat() if run_after else "?",
        "logical_date": logical.isoformat() if logical else "none",
        "error": error or "see the task log",  # e-mail: 12 lines; Slack: the first 6
        "log_url": str(getattr(ti, "log_url", "") or ""),
    }


def compose_failure(pipeline: str, channel: str, context: Any) -> dict[str, Any]:
    """The failure message for ``channel``: Slack ``text``, or an e-mail ``subject`` and ``html_content``."""
    f = run_facts(context)
    if channel == "slack":
        return {
            "text": (
                f":red_circle: mlcycle pipeline *{pipeline}* failed\n"
                f"DAG: {f['dag_id']} | task: {f['task_id']} | try {f['try_number']}\n"
                f"Run: {f['run_id']} ({f['run_type']}; triggered by: {f['trigger']})\n"
                f"Run after: {f['run_after']} | logical date: {f['logical_date']}\n"
                f"Error: {error_head(f['error'])}\n"
                f"Log: {f['log_url'] or '-'}"
            )
        }
    e = {k: escape(v) for k, v in f.items()}
    return {
        "subject": f"[mlcycle] {f['dag_id']} failed: task {f['task_id']} ({f['trigger']})"[:250],
        "html_content": (
            f"<p>mlcycle pipeline <b>{escape(pipeline)}</b> failed.</p>"
            f"<ul><li>DAG: {e['dag_id']}</li><li>Task: {e['task_id']} (try {e['try_number']})</li>"
            f"<li>Run: {e['run_id']} ({e['run_type']})</li><li>Triggered by: {e['trigger']}</li>"
            f"<li>Run after: {e['run_after']}</li><li>Logical date: {e['logical_date']}</li></ul>"
            f"<pre>{e['error']}</pre>"
            + (f'<p><a href="{e["log_url"]}">Task log</a></p>' if f["log_url"] else "")
        ),
    }


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
                partial(compose_failure, pipe.name, "slack"),
                slack_webhook_conn_id=notes.slack_conn_id,
            )
        )
    if notes.email:
        notifiers.append(
            DeferredNotifier(
                "email",
                partial(compose_failure, pipe.name, "email"),
                to=list(notes.email),
                smtp_conn_id=notes.smtp_conn_id,
            )
        )
    return notifiers


def cli_user() -> str | None:
    """The OS user of the ``mlcycle`` command running ``dag.test`` in this process (devrun sets it)."""
    return os.environ.get(CLI_USER_ENV) or None


def _run_context() -> tuple[Any, datetime]:
    from mlcycle.steps.context import RunContext

    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
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
        trigger=run_facts(context)["trigger"],
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


# an emoji name starts with a letter and stands alone: the ":00:" of "T00:00:00" is a time, not an emoji
_SLACK_EMOJI = re.compile(r"(?<![\w:]):[a-z][a-z0-9_+-]*:(?![\w:])\s*")
_SLACK_BOLD = re.compile(r"(?<!\w)\*([^*\n]+)\*(?!\w)")


def plain_text(text: str) -> str:
    """Slack markup (``:emoji:``, ``*bold*``) out: e-mail subjects and bodies are plain text."""
    return _SLACK_BOLD.sub(r"\1", _SLACK_EMOJI.sub("", text))


def _drift_alert(pipe: Pipeline, context: Any, text: str) -> dict[str, str]:
    """Deliver an alert (drift, fallback serving) on every configured channel; return the channels that failed."""
    notes = pipe.config.notifications
    failures: dict[str, str] = {}
    if notes.slack_conn_id:
        failed = send("slack", context, slack_webhook_conn_id=notes.slack_conn_id, text=text)
        if failed:
            failures["slack"] = failed
    if notes.email:
        plain = plain_text(text)
        failed = send(
            "email",
            context,
            to=list(notes.email),
            subject=f"[mlcycle] {pipe.name}: {plain.splitlines()[0][:150]}",
            html_content=f"<pre>{escape(plain)}</pre>",
            smtp_conn_id=notes.smtp_conn_id,
        )
        if failed:
            failures["email"] = failed
    return failures


def alert_sender(pipe: Pipeline, context: Any) -> Callable[[str], dict[str, str]]:
    """``send(text)`` for a step: the alert on every configured channel, returning the ones that failed."""
    return lambda text: _drift_alert(pipe, context, text)


def _report_link(dag_id: str, run_id: str, name: str) -> str | None:
    from mlcycle.airflow.links import airflow_base_url, record_url

    base = airflow_base_url()
    return record_url(dag_id, run_id, name, base) if base else None


def airflow_actor() -> str:
    """Who started the current Airflow run: its triggering user (the OS user for the CLI), else the scheduler."""
    try:
        from airflow.sdk import get_current_context

        user = getattr(get_current_context()["dag_run"], "triggering_user_name", None)
    except Exception:  # outside a task (tests calling the stages directly): no Airflow context
        return "unknown (no Airflow context)"
    return describe_actor(user, cli_user())

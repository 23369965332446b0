"""Failure callbacks that build Airflow's provider notifiers when a task fails, not when a DAG is parsed.

Importing the Slack provider pulls in slack_sdk and aiohttp, which would slow every parse of the DAG
folder and every task's start (a worker parses the DAG file before it runs a task). A
:class:`DeferredNotifier` holds the notifier's arguments and imports the provider class on the call.

Messages are composed in Python from what every run has and handed to the provider's ``notify`` as
final text: no Jinja rendering, so a field a run lacks (``logical_date`` of a REST run triggered with
``null``, of a retrain the monitor triggers) can never stop a message, and braces in an error text are
sent as they are. Imported at DAG parse time: standard library only.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# channel -> (module, class): the notifier classes Airflow's providers ship (Slack behind our URL guard)
NOTIFIER_CLASSES: dict[str, tuple[str, str]] = {
    "slack": ("mlcycle.airflow.slack", "GuardedSlackWebhookNotifier"),
    "email": ("airflow.providers.smtp.notifications.smtp", "SmtpNotifier"),
}
# channel -> the kwarg naming its Airflow connection (named in the log when the channel fails)
CONN_KWARG = {"slack": "slack_webhook_conn_id", "email": "smtp_conn_id"}
_URL = re.compile(r"\b(?:https?|smtp)://\S+|\bservices/\S+", re.IGNORECASE)


def build_notifier(channel: str, **kwargs: Any) -> Any:
    """The provider notifier for ``channel`` ("slack" or "email"), built with ``kwargs``."""
    module, name = NOTIFIER_CLASSES[channel]
    return getattr(importlib.import_module(module), name)(**kwargs)


def failure_reason(exc: BaseException) -> str:
    """Why a channel failed, in one line, with any URL (webhook URLs carry their token) left out."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {_URL.sub('<url>', first)[:300]}".rstrip(": ")


def send(channel: str, context: Any, **kwargs: Any) -> str | None:
    """Send final text on ``channel``; ``None`` when sent, else why not (logged once, at ERROR)."""
    try:
        build_notifier(channel, **kwargs).notify(context)
    except Exception as exc:  # one channel failing must neither stop the other nor fail the caller
        reason = failure_reason(exc)
        conn = kwargs.get(CONN_KWARG[channel]) or "default connection"
        log.error("mlcycle notification NOT sent via %s (connection %s): %s", channel, conn, reason)
        return reason
    return None


class DeferredNotifier:
    """A task callback: ``compose(context)`` gives the message fields, sent on ``channel`` with ``kwargs``."""

    __slots__ = ("channel", "compose", "kwargs")

    def __init__(self, channel: str, compose: Callable[[Any], dict[str, Any]], **kwargs: Any) -> None:
        if channel not in NOTIFIER_CLASSES:
            raise ValueError(f"unknown notification channel {channel!r}; known: {sorted(NOTIFIER_CLASSES)}")
        self.channel = channel
        self.compose = compose
        self.kwargs = kwargs

    @property
    def notifier_class(self) -> str:
        return NOTIFIER_CLASSES[self.channel][1]

    def __call__(self, context: Any) -> None:
        try:
            fields = self.compose(context)
        except Exception as exc:  # a message that cannot be composed is still sent, plainly
            log.error("mlcycle notification via %s: message not composed (%s)", self.channel, exc)
            fields = self.compose({})
        send(self.channel, context, **self.kwargs, **fields)

    def __repr__(self) -> str:  # never the kwargs
        return f"DeferredNotifier({self.notifier_class})"

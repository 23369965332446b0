"""Failure callbacks that build Airflow's provider notifiers when a task fails, not when a DAG is parsed.

Importing the Slack provider pulls in slack_sdk and aiohttp, which would slow every parse of the DAG
folder and every task's start (a worker parses the DAG file before it runs a task). A
:class:`DeferredNotifier` holds the notifier's arguments and imports the provider class on the call.
Imported at DAG parse time: standard library only.
"""

from __future__ import annotations

import importlib
from typing import Any

# channel -> (module, class): the notifier classes Airflow's providers ship (Slack behind our URL guard)
NOTIFIER_CLASSES: dict[str, tuple[str, str]] = {
    "slack": ("mlcycle.airflow.slack", "GuardedSlackWebhookNotifier"),
    "email": ("airflow.providers.smtp.notifications.smtp", "SmtpNotifier"),
}


def build_notifier(channel: str, **kwargs: Any) -> Any:
    """The provider notifier for ``channel`` ("slack" or "email"), built with ``kwargs``."""
    module, name = NOTIFIER_CLASSES[channel]
    return getattr(importlib.import_module(module), name)(**kwargs)


class DeferredNotifier:
    """A task callback that builds ``NOTIFIER_CLASSES[channel](**kwargs)`` and calls it with the context."""

    __slots__ = ("channel", "kwargs")

    def __init__(self, channel: str, **kwargs: Any) -> None:
        if channel not in NOTIFIER_CLASSES:
            raise ValueError(f"unknown notification channel {channel!r}; known: {sorted(NOTIFIER_CLASSES)}")
        self.channel = channel
        self.kwargs = kwargs

    @property
    def notifier_class(self) -> str:
        return NOTIFIER_CLASSES[self.channel][1]

    def __call__(self, context: Any) -> None:
        build_notifier(self.channel, **self.kwargs)(context)

    def __repr__(self) -> str:  # Airflow logs the callback when it fails; never the kwargs (templates only)
        return f"DeferredNotifier({self.notifier_class})"

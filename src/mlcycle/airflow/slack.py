"""Slack webhook notifier that refuses metadata and link-local endpoints before anything is sent.

The webhook URL lives in an Airflow connection (a secret), not in YAML, so the check runs when the
connection is resolved: after the lookup and before the first request.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook
from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

from mlcycle.config.guards import url_problem
from mlcycle.errors import ConfigError


class GuardedSlackWebhookHook(SlackWebhookHook):
    """SlackWebhookHook whose resolved URL must pass :func:`mlcycle.config.guards.url_problem`."""

    def _build_conn_params(self, conn: Any) -> dict[str, Any]:
        params: dict[str, Any] = super()._build_conn_params(conn)
        problem = url_problem(str(params["url"]))
        if problem:
            # The URL itself is a secret (it carries the token): name the connection, never the URL.
            raise ConfigError(
                f"Airflow connection {self.slack_webhook_conn_id!r}",
                [f"webhook URL (host/password) {problem}"],
            )
        return params


class GuardedSlackWebhookNotifier(SlackWebhookNotifier):
    """SlackWebhookNotifier built on :class:`GuardedSlackWebhookHook`."""

    @cached_property
    def hook(self) -> SlackWebhookHook:
        return GuardedSlackWebhookHook(
            slack_webhook_conn_id=self.slack_webhook_conn_id,
            proxy=self.proxy,
            timeout=self.timeout,
            retry_handlers=self.retry_handlers,
        )

"""Schedules: cron expressions and presets, checked as text."""

from __future__ import annotations

import re

SCHEDULE_PRESETS = (
    "@once",
    "@continuous",
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
)

CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")

SCHEDULE_CRON = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}


def _check_schedule(value: str | None) -> str | None:
    if value is None or value in SCHEDULE_PRESETS:
        return value
    fields = value.split()
    if len(fields) not in (5, 6) or not all(CRON_FIELD.match(f) for f in fields):
        raise ValueError(
            f"{value!r} is neither a cron expression (5 fields) nor a preset ({', '.join(SCHEDULE_PRESETS)})"
        )
    return value

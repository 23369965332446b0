"""Alias-move records: what moved, why, by whom, via what (appended to the registry's history)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mlcycle.core.names import CHAMPION, Tag

REASONS_KEPT = 20


def alias_event(
    action: str, reason: str, by: str, via: str, reasons: list[str] | None = None, forced: bool = False
) -> dict[str, Any]:
    """An alias-move record; ``promote``/``set_challenger`` add the alias and the versions."""
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "action": action,
        "reason": reason[:1000],
        "reasons": [r[:300] for r in (reasons or [])[:REASONS_KEPT]],
        "by": by[:200],
        "via": via[:300],
        "forced": forced,
    }


def recorded_reasons(tags: dict[str, str]) -> list[str]:
    """The gate's reasons from the version tag (cut at MLflow's tag length, so maybe not JSON)."""
    text = tags.get(Tag.VALIDATION_REASONS, "[]")
    try:
        return [str(r) for r in json.loads(text)]
    except ValueError:
        return [text]


def is_validated(tags: dict[str, str]) -> bool:
    """Passed the validation gate on its own (a forced promotion did not)."""
    return tags.get(Tag.VALIDATION) == "passed" and tags.get(Tag.FORCED) != "true"


def champion_at(events: list[dict[str, Any]], at: datetime) -> dict[str, Any] | None:
    """The last champion move at or before ``at`` (its ``to_version`` is the champion then; None
    when the alias had been removed), or None when the champion had not been set yet."""
    moves = [e for e in events if e.get("alias") == CHAMPION and e.get("at")]
    before = [e for e in moves if datetime.fromisoformat(e["at"]) <= at]
    # the latest by time, whatever order the events were listed in
    return max(before, key=lambda e: datetime.fromisoformat(e["at"])) if before else None

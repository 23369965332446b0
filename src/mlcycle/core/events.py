"""Alias-move records: what moved, why, by whom, via what (appended to the registry's history)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mlcycle.core.names import Tag

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

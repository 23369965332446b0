"""The alias history of a model: every move, oldest first."""

from __future__ import annotations

from typing import Any

from mlcycle.config.loader import Pipeline
from mlcycle.config.settings import Settings
from mlcycle.ops.moves import _registry


def history(pipe: Pipeline, settings: Settings) -> list[dict[str, Any]]:
    return _registry(pipe, settings).history()


def render_history(model: str, events: list[dict[str, Any]]) -> str:
    if not events:
        return f"{model}: no alias moves recorded"
    lines = [f"{model}: {len(events)} alias move(s), oldest first"]
    for e in events:
        to = f"v{e['to_version']}" if e.get("to_version") else "(removed)"
        move = f"{e.get('alias')}: v{e.get('from_version') or '-'} -> {to}"
        forced = " FORCED" if e.get("forced") else ""
        lines.append(f"#{e.get('seq')} {e.get('at')}  {e.get('action')}{forced}  {move}")
        lines.append(f"    why: {e.get('reason')}")
        lines.extend(f"      - {r}" for r in e.get("reasons") or [])
        lines.append(f"    by: {e.get('by')} via {e.get('via')}")
    return "\n".join(lines)

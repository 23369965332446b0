"""The alias history of a model: every move, oldest first; and what was live at an instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlcycle.adapters.ledger import MonitorLedger
from mlcycle.adapters.wiring import open_store
from mlcycle.config.loader import Pipeline
from mlcycle.config.settings import Settings
from mlcycle.core.events import champion_at
from mlcycle.ops.moves import _registry


def history(pipe: Pipeline, settings: Settings) -> list[dict[str, Any]]:
    return _registry(pipe, settings).history()


def live_at(pipe: Pipeline, settings: Settings, at: datetime) -> dict[str, Any]:
    """The champion at ``at`` (from the alias history) and the monitored windows around that instant
    with what served each (the champion's version, or the fallback), from the monitor's ledger."""
    move = champion_at(history(pipe, settings), at)
    windows = [
        {
            k: w.get(k)
            for k in ("window_key", "window_start", "window_end", "model_version", "served_by", "status")
        }
        for w in MonitorLedger(open_store(settings), pipe.name).verdicts()
        if datetime.fromisoformat(w["window_start"]) <= at < datetime.fromisoformat(w["window_end"])
    ]
    return {
        "model": pipe.model_name,
        "at": at.isoformat(),
        "champion": move.get("to_version") if move else None,
        "since": move,
        "windows": windows,
    }


def render_live_at(live: dict[str, Any]) -> str:
    move = live["since"]
    if move is None:
        head = (
            f"{live['model']} at {live['at']}: no champion yet (no champion move at or before that instant)"
        )
    elif live["champion"] is None:
        head = f"{live['model']} at {live['at']}: no champion (the alias was removed at {move['at']})"
    else:
        head = (
            f"{live['model']} at {live['at']}: champion v{live['champion']} "
            f"(since {move['at']}: #{move.get('seq')} {move.get('action')} by {move.get('by')})"
        )
    lines = [head]
    for w in live["windows"]:
        served = "the fallback" if w.get("served_by") == "fallback" else f"v{w.get('model_version')}"
        if w.get("served_by") is None:
            served += " (served_by not recorded)"
        lines.append(f"  window {w['window_key']}: scored by {served}; verdict {w.get('status')}")
    return "\n".join(lines)


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

"""A racing process for test_versioning_services. It connects once, then for each stdin line
``register|promote ARG EXPECTED GO_FILE`` prints ``ready``, waits until GO_FILE exists (the start
line shared by every racer), does it, and prints one JSON line: what it did or why it was refused.

Usage: python race_worker.py TRACKING_URI MODEL
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mlcycle.adapters.registry import MlflowRegistry, promote
from mlcycle.core.events import alias_event
from mlcycle.errors import PromotionError


def run(registry: MlflowRegistry, mode: str, arg: str, expected: str) -> dict[str, object]:
    if mode == "register":
        ref = registry.register(arg, f"runs:/{arg}/model", {"mlcycle.race": "yes"})
        return {"run_id": arg, "version": ref.version}
    event = alias_event("promote", "race test", "race_worker", f"process for v{arg}")
    try:
        promote(registry, arg, None if expected == "-" else expected, event)
    except PromotionError as exc:
        return {"version": arg, "won": False, "error": str(exc)}
    return {"version": arg, "won": True}


def main(url: str, model: str) -> None:
    registry = MlflowRegistry(model, url)
    registry.get_alias("champion")  # connect and import everything before any start line
    for line in sys.stdin:
        mode, arg, expected, go_file = line.split()
        print("ready", flush=True)
        while not Path(go_file).exists():
            time.sleep(0.001)
        print(json.dumps(run(registry, mode, arg, expected)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

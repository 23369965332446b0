"""OpenLineage events on disk: the transport that writes them under ``$MLCYCLE_HOME``, and the reader
that parses them back into the ``openlineage-python`` client's generated event classes."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from openlineage.client.generated.base import (
    BaseFacet,
    DatasetFacet,
    EventType,
    InputDataset,
    Job,
    JobFacet,
    OutputDataset,
    Run,
    RunEvent,
    RunFacet,
)
from openlineage.client.serde import Serde
from openlineage.client.transport.transport import Config, Transport

from mlcycle.config.settings import load_settings
from mlcycle.errors import MlcycleError


class HomeFileConfig(Config):
    """No options: the file is always ``Settings.lineage_events`` of the emitting process."""


class HomeFileTransport(Transport):
    """Append each event as one JSON line to ``$MLCYCLE_HOME/lineage/events.jsonl``.

    The path is read from the settings at every emit (not when the client is built), so one worker
    process serving several homes, as the tests do, writes each event where its run lives.
    """

    kind = "mlcycle_home_file"
    config_class = HomeFileConfig

    def __init__(self, config: HomeFileConfig) -> None:
        self.config = config

    def emit(self, event: Any) -> None:
        path = load_settings().lineage_events
        path.parent.mkdir(parents=True, exist_ok=True)
        line = Serde.to_json(event) + "\n"
        with path.open("a", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # tasks of parallel runs append to the same file
            f.write(line)
            f.flush()


def read_event_dicts(path: Path) -> Iterator[dict[str, Any]]:
    """Every event in a JSON-lines file, oldest first; a line that is not JSON names its place."""
    if not path.exists():
        raise MlcycleError(
            f"{path}: no OpenLineage events; run a DAG with the file transport "
            "(the embedded default) or pass --events FILE"
        )
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as exc:
                raise MlcycleError(f"{path}:{n}: not a JSON event ({exc}); remove the line") from exc


def _facet(cls: type[BaseFacet], data: Mapping[str, Any]) -> BaseFacet:
    """``data`` as an instance of ``cls`` keeping every field, and its ``_schemaURL`` (required)."""
    if not data.get("_schemaURL") or not data.get("_producer"):
        raise MlcycleError(f"facet {dict(data)!r} has no _schemaURL or _producer (the spec requires both)")
    extra = {k: v for k, v in data.items() if not k.startswith("_")}
    facet = cls(producer=data["_producer"])
    facet = facet.with_additional_properties(**extra) if extra else facet
    facet._schemaURL = data["_schemaURL"]
    return facet


def _facets(cls: type[BaseFacet], data: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: _facet(cls, v) for k, v in (data or {}).items()}


def to_input(data: Mapping[str, Any]) -> InputDataset:
    return InputDataset(
        namespace=data["namespace"], name=data["name"], facets=_facets(DatasetFacet, data.get("facets"))
    )


def to_output(data: Mapping[str, Any]) -> OutputDataset:
    return OutputDataset(
        namespace=data["namespace"], name=data["name"], facets=_facets(DatasetFacet, data.get("facets"))
    )


def to_run_facets(data: Mapping[str, Any]) -> dict[str, Any]:
    return _facets(RunFacet, data)


def parse_event(data: Mapping[str, Any]) -> RunEvent:
    """A JSON event as the client's ``RunEvent`` (its validators check times, ids and URLs)."""
    run, job = data["run"], data["job"]
    event = RunEvent(
        eventTime=data["eventTime"],
        producer=data["producer"],
        eventType=EventType(data["eventType"]) if data.get("eventType") else None,
        run=Run(runId=run["runId"], facets=to_run_facets(run.get("facets") or {})),
        job=Job(namespace=job["namespace"], name=job["name"], facets=_facets(JobFacet, job.get("facets"))),
        inputs=[to_input(d) for d in data.get("inputs") or []],
        outputs=[to_output(d) for d in data.get("outputs") or []],
    )
    if data.get("schemaURL"):
        event.schemaURL = data["schemaURL"]
    return event

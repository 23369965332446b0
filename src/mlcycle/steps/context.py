"""What every step gets: the pipeline, settings, artifact store and the Airflow run it serves."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mlcycle.adapters.store import ArtifactStore
from mlcycle.adapters.wiring import open_registry, open_store, open_tracking
from mlcycle.config.loader import Pipeline, load_pipeline
from mlcycle.config.settings import Settings, load_settings
from mlcycle.core.names import Tag, record_key
from mlcycle.core.records import StepRecord

if TYPE_CHECKING:
    from mlcycle.adapters.registry import MlflowRegistry
    from mlcycle.adapters.tracking import Tracking


@dataclass(frozen=True)
class RunContext:
    """Where a stage runs: the Airflow run that asked for it."""

    dag_id: str
    run_id: str
    logical_date: str
    try_number: int = 1
    # who started the run (its triggering user, else the scheduler): recorded with every alias move
    actor: str = "unknown (no Airflow context)"
    # what triggered the run (core/triggers.describe_trigger): schedule, backfill, a user, a drift retrain
    trigger: str = "unknown"

    def tags(self) -> dict[str, str]:
        return {
            Tag.AIRFLOW_DAG_ID: self.dag_id,
            Tag.AIRFLOW_RUN_ID: self.run_id,
            Tag.AIRFLOW_LOGICAL_DATE: self.logical_date,
            Tag.AIRFLOW_TRY_NUMBER: str(self.try_number),
            Tag.TRIGGER: self.trigger[:250],
        }


@dataclass(frozen=True)
class Env:
    """A step's pipeline, settings and run, with the adapters the settings choose (built on first use)."""

    pipe: Pipeline
    settings: Settings
    store: ArtifactStore
    ctx: RunContext

    @cached_property
    def tracking(self) -> Tracking:
        return open_tracking(self.settings)

    @cached_property
    def registry(self) -> MlflowRegistry:
        return open_registry(self.settings, self.pipe.model_name)

    def record_key(self, name: str) -> str:
        return record_key(self.ctx.dag_id, self.ctx.run_id, name)

    def publish_record(self, record: StepRecord) -> str:
        """Publish a step's record as its ``NAME`` under this run's records; return its URI."""
        return self.publish_json(record.NAME, record.to_xcom())

    def publish_json(self, name: str, payload: Any) -> str:
        data = json.dumps(payload, indent=2, sort_keys=True, default=str).encode()
        return self.store.publish_bytes(data, self.record_key(name))


def open_env(config_path: str, ctx: RunContext) -> Env:
    settings = load_settings()
    return Env(load_pipeline(config_path), settings, open_store(settings), ctx)

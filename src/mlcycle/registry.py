"""The model registry behind a small interface, implemented on MLflow's registry and aliases."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from mlcycle.errors import PromotionError

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class VersionRef:
    name: str
    version: str
    run_id: str | None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


class ModelRegistry(Protocol):
    def get_alias(self, alias: str) -> VersionRef | None: ...
    def register(self, run_id: str, model_uri: str, tags: dict[str, str]) -> VersionRef: ...
    def tag_version(self, version: str, tags: dict[str, str]) -> None: ...
    def move_alias(self, alias: str, version: str) -> None: ...


class MlflowRegistry:
    def __init__(self, name: str, tracking_uri: str) -> None:
        from mlflow import MlflowClient

        self.name = name
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def _ensure_model(self) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.name)
        except MlflowException:
            try:
                self.client.create_registered_model(self.name, tags={"mlcycle.managed": "true"})
            except MlflowException:
                self.client.get_registered_model(self.name)  # created concurrently: fine if it exists now

    def get_alias(self, alias: str) -> VersionRef | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(self.name, alias)
        except MlflowException as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc).lower():
                return None
            raise
        return VersionRef(self.name, str(mv.version), mv.run_id)

    def version_for_run(self, run_id: str) -> VersionRef | None:
        found = self.client.search_model_versions(f"name = '{self.name}' and run_id = '{run_id}'")
        if not found:
            return None
        mv = min(found, key=lambda v: int(v.version))
        return VersionRef(self.name, str(mv.version), mv.run_id)

    def register(self, run_id: str, model_uri: str, tags: dict[str, str]) -> VersionRef:
        """Register the run's logged model once: a retried task finds the version it made before."""
        self._ensure_model()
        existing = self.version_for_run(run_id)
        if existing is not None:
            self.tag_version(existing.version, tags)
            return existing
        model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
        source = self.client.get_logged_model(model_id).artifact_location if model_id else model_uri
        mv = self.client.create_model_version(
            self.name, source=source, run_id=run_id, tags=tags, model_id=model_id
        )
        return VersionRef(self.name, str(mv.version), run_id)

    def tag_version(self, version: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, version, key, value)

    def move_alias(self, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(self.name, alias, version)

    def version_tags(self, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(self.name, version).tags)


def promote(registry: ModelRegistry, version: str, expected_champion: str | None) -> VersionRef | None:
    """Point challenger, then champion, at ``version`` if the champion is still ``expected_champion``.

    Returns the champion that was replaced (None if there was none). Raises PromotionError when the
    champion moved since the candidate was validated against it (compare-and-set).
    """
    current = registry.get_alias(CHAMPION)
    current_version = current.version if current else None
    if current_version != expected_champion:
        raise PromotionError(
            f"champion of {getattr(registry, 'name', 'the model')!r} moved from "
            f"v{expected_champion} to v{current_version} since this candidate was validated; "
            "not promoting. Re-run the DAG to compare against the new champion."
        )
    registry.move_alias(CHALLENGER, version)
    registry.move_alias(CHAMPION, version)
    return current


def decision_tags(decision: dict[str, Any], metrics: dict[str, Any], primary: str) -> dict[str, str]:
    tags = {
        "mlcycle.validation": decision["verdict"],
        "mlcycle.validation_reasons": json.dumps(list(decision["reasons"]))[:4900],
        "mlcycle.compared_to_champion": str(decision.get("champion_version") or "none"),
        "mlcycle.forced": str(bool(decision.get("forced"))).lower(),
    }
    value = metrics.get(primary)
    if value is not None:
        tags[f"mlcycle.metric.{primary}"] = f"{value:.6f}"
    return tags

"""The one place that chooses each adapter from the settings: artifact store, tracking, registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlcycle.adapters.store import ArtifactStore
from mlcycle.adapters.store import open_store as _store_at

if TYPE_CHECKING:
    from mlcycle.adapters.registry import MlflowRegistry
    from mlcycle.adapters.tracking import Tracking
    from mlcycle.config.settings import Settings


def open_store(settings: Settings) -> ArtifactStore:
    """Local disk, or S3 when ``MLCYCLE_ARTIFACT_ROOT`` is an ``s3://`` URI."""
    return _store_at(settings.artifact_root)


def open_tracking(settings: Settings) -> Tracking:
    from mlcycle.adapters.tracking import Tracking

    return Tracking(settings.tracking_uri, settings.mlflow_artifact_root)


def open_registry(settings: Settings, model_name: str) -> MlflowRegistry:
    """The registry of ``model_name``; its versions' ``models:/`` URIs then load through the same server."""
    from mlcycle.adapters.registry import MlflowRegistry
    from mlcycle.adapters.tracking import use_tracking_uri

    use_tracking_uri(settings.tracking_uri)
    return MlflowRegistry(model_name, settings.tracking_uri)

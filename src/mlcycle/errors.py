"""The package's exceptions: each names the thing, the place and the fix."""

from __future__ import annotations


class MlcycleError(Exception):
    """Base class for every error mlcycle raises on purpose."""


class ConfigError(MlcycleError):
    """A pipeline YAML is invalid; ``problems`` holds one line per dotted key."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


class DataSourceError(MlcycleError):
    """The input data cannot be read, is empty, or lacks a configured column."""


class DataCheckError(MlcycleError):
    """Great Expectations found the snapshot unfit for training."""


class TrainingError(MlcycleError):
    """The model could not be fitted on the snapshot."""


class PromotionError(MlcycleError):
    """The registry refused or lost a race for an alias move."""


class StorageError(MlcycleError):
    """The artifact store could not read or publish an object."""


class ModelIntegrityError(MlcycleError):
    """A model artifact differs from what was registered, or is not a skops file of trusted types."""


class FallbackError(MlcycleError):
    """The champion cannot serve and no usable fallback was registered with it."""

"""The model registry behind a small interface, implemented on MLflow's registry and aliases."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mlcycle.core.names import CHALLENGER, CHAMPION, Tag
from mlcycle.errors import PromotionError

LOCK_SUFFIX = ".mlcycle-lock"


LOCK_TTL = timedelta(minutes=2)

LOCK_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class VersionRef:
    name: str
    version: str
    run_id: str | None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class VersionInfo:
    """A registered version as ops read it back."""

    name: str
    version: str
    run_id: str | None
    tags: dict[str, str]
    source: str | None
    created_ms: int | None


def _version_info(mv: Any) -> VersionInfo:
    return VersionInfo(mv.name, str(mv.version), mv.run_id, dict(mv.tags), mv.source, mv.creation_timestamp)


class ModelRegistry(Protocol):
    def get_alias(self, alias: str) -> VersionRef | None: ...
    def register(self, run_id: str, model_uri: str, tags: dict[str, str]) -> VersionRef: ...
    def tag_version(self, version: str, tags: dict[str, str]) -> None: ...
    def move_alias(self, alias: str, version: str) -> None: ...
    def delete_alias(self, alias: str) -> None: ...
    def locked(self, owner: str, wait_seconds: float = ...) -> Any: ...
    def append_event(self, event: dict[str, Any]) -> int: ...


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
                self.client.create_registered_model(self.name, tags={Tag.MANAGED: "true"})
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

    def delete_alias(self, alias: str) -> None:
        self.client.delete_registered_model_alias(self.name, alias)

    def version_tags(self, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(self.name, version).tags)

    def version_info(self, version: str) -> VersionInfo | None:
        """The version, or None when the model has no such version (or the registry cannot find it)."""
        from mlflow.exceptions import MlflowException

        try:
            return _version_info(self.client.get_model_version(self.name, version))
        except MlflowException:
            return None

    def versions_of_run(self, run_id: str) -> list[VersionInfo]:
        """Every registered version (of any model) made from ``run_id``."""
        return [_version_info(mv) for mv in self.client.search_model_versions(f"run_id = '{run_id}'")]

    @contextmanager
    def locked(self, owner: str, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
        """Hold this model's alias lock (see ``RegistryLock``) for the ``with`` block."""
        lock = RegistryLock(self.client, self.name + LOCK_SUFFIX, owner)
        lock.acquire(wait_seconds)
        try:
            yield
        finally:
            lock.release()

    def history(self) -> list[dict[str, Any]]:
        """Every recorded alias move, oldest first (the ``mlcycle.history.*`` registered-model tags)."""
        from mlflow.exceptions import MlflowException

        try:
            tags = self.client.get_registered_model(self.name).tags
        except MlflowException as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code):
                return []
            raise
        return [json.loads(tags[k]) for k in sorted(tags) if k.startswith(Tag.HISTORY_PREFIX)]

    def append_event(self, event: dict[str, Any]) -> int:
        """Append ``event`` to the history as the next numbered tag; call it while ``locked``."""
        self._ensure_model()
        seq = len(self.history()) + 1
        record = {"seq": seq, **event}
        self.client.set_registered_model_tag(
            self.name, f"{Tag.HISTORY_PREFIX}{seq:06d}", json.dumps(record, sort_keys=True, default=str)
        )
        return seq


class RegistryLock:
    """A mutex kept by the MLflow backend store: it is held while a registered model named
    ``<model>.mlcycle-lock`` exists.

    Creating a registered model is unique by name in every MLflow store (a primary key in SQL),
    so of N processes racing to create it exactly one succeeds; the others wait and retry. The
    lock carries its owner and an expiry; a lock past its expiry (its holder died) is broken by
    whoever first creates ``<lock>.broken-<token>``, which is unique per stale lock.
    """

    def __init__(self, client: Any, lock_name: str, owner: str, ttl: timedelta = LOCK_TTL) -> None:
        self.client, self.lock_name, self.owner, self.ttl = client, lock_name, owner, ttl
        self.token = uuid.uuid4().hex

    def _create(self, name: str, tags: dict[str, str]) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(
                name, tags=tags, description="mlcycle alias lock: deleted when released"
            )
        except MlflowException as exc:
            # On a unique-key clash the server reads the existing model back to word its error; when
            # the holder released it in between, that read fails with RESOURCE_DOES_NOT_EXIST: lost too.
            if str(exc.error_code) in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
                return False
            raise
        return True

    def _holder(self) -> dict[str, str] | None:
        """The lock's tags, with its expiry: tagged, else (tags not visible yet) creation + ttl."""
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(self.lock_name)
        except MlflowException as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code):
                return None
            raise
        tags = dict(model.tags)
        if Tag.LOCK_EXPIRES_AT not in tags:
            created = datetime.fromtimestamp((model.creation_timestamp or 0) / 1000, UTC)
            tags[Tag.LOCK_EXPIRES_AT] = (created + self.ttl).isoformat()
        return tags

    def _delete_if_token(self, token: str) -> None:
        from mlflow.exceptions import MlflowException

        holder = self._holder()
        if holder is not None and holder.get(Tag.LOCK_TOKEN) == token:
            try:
                self.client.delete_registered_model(self.lock_name)
            except MlflowException as exc:
                if "RESOURCE_DOES_NOT_EXIST" not in str(exc.error_code):
                    raise

    def acquire(self, wait_seconds: float) -> None:
        deadline = time.monotonic() + wait_seconds
        while True:
            now = datetime.now(UTC)
            tags = {
                Tag.LOCK_OWNER: self.owner[:500],
                Tag.LOCK_TOKEN: self.token,
                Tag.LOCK_ACQUIRED_AT: now.isoformat(),
                Tag.LOCK_EXPIRES_AT: (now + self.ttl).isoformat(),
            }
            if self._create(self.lock_name, tags):
                return
            holder = self._holder()
            if holder is not None and datetime.fromisoformat(holder[Tag.LOCK_EXPIRES_AT]) < now:
                stale = holder.get(Tag.LOCK_TOKEN, "untagged")
                if self._create(f"{self.lock_name}.broken-{stale}", {Tag.LOCK_BROKEN_BY: self.owner}):
                    self._delete_if_token(stale)
                continue
            if time.monotonic() >= deadline:
                who = (holder or {}).get(Tag.LOCK_OWNER, "a process that just released it")
                until = (holder or {}).get(Tag.LOCK_EXPIRES_AT, "?")
                raise PromotionError(
                    f"registered model {self.lock_name!r} (the alias lock) is held by {who} until {until}; "
                    f"gave up after {wait_seconds:.0f}s. Retry later; if its holder died, the lock "
                    "expires by itself."
                )
            time.sleep(0.05 + (uuid.uuid4().int % 100) / 1000)

    def release(self) -> None:
        self._delete_if_token(self.token)


def promote(
    registry: ModelRegistry,
    version: str,
    expected_champion: str | None,
    event: dict[str, Any] | None = None,
    move_challenger: bool = True,
    lock_wait: float = LOCK_WAIT_SECONDS,
) -> VersionRef | None:
    """Point challenger, then champion, at ``version`` if the champion is still ``expected_champion``.

    The read, the check and the moves happen under the model's alias lock, so of several processes
    promoting against the same champion exactly one wins. ``event`` (why, by whom, via what) is
    appended to the history with the versions filled in. Returns the champion that was replaced
    (None if there was none). Raises PromotionError when the champion moved since the candidate was
    validated against it (compare-and-set).
    """
    event = event or {"action": "promote"}
    with registry.locked(str(event.get("via") or "mlcycle"), lock_wait):
        current = registry.get_alias(CHAMPION)
        current_version = current.version if current else None
        if current_version != expected_champion:

            def label(v: str | None) -> str:
                return f"v{v}" if v else "no champion"

            raise PromotionError(
                f"champion of {getattr(registry, 'name', 'the model')!r} moved from "
                f"{label(expected_champion)} to {label(current_version)} since v{version} was validated "
                "against it; "
                "not promoting. Re-run the DAG to compare against the new champion."
            )
        if move_challenger:
            registry.move_alias(CHALLENGER, version)
        registry.move_alias(CHAMPION, version)
        registry.append_event(
            {"alias": CHAMPION, "from_version": current_version, "to_version": version, **event}
        )
    return current


def set_challenger(registry: ModelRegistry, version: str, event: dict[str, Any]) -> str | None:
    """Point ``challenger`` at ``version`` and record it; returns the previous challenger."""
    with registry.locked(str(event.get("via") or "mlcycle")):
        previous = registry.get_alias(CHALLENGER)
        registry.move_alias(CHALLENGER, version)
        registry.append_event(
            {
                "alias": CHALLENGER,
                "from_version": previous.version if previous else None,
                "to_version": version,
                **event,
            }
        )
    return previous.version if previous else None


def clear_challenger(registry: ModelRegistry, version: str, event: dict[str, Any]) -> bool:
    """Remove ``challenger`` if it still points at ``version``, and record it; False if it moved on."""
    with registry.locked(str(event.get("via") or "mlcycle")):
        current = registry.get_alias(CHALLENGER)
        if current is None or current.version != version:
            return False
        registry.delete_alias(CHALLENGER)
        registry.append_event({"alias": CHALLENGER, "from_version": version, "to_version": None, **event})
    return True

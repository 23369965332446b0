"""Alias history, rollback, approval and the alias lock on a real SQLite MLflow store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlcycle.adapters.registry import LOCK_SUFFIX, MlflowRegistry, RegistryLock, promote, set_challenger
from mlcycle.config.loader import Pipeline
from mlcycle.config.schema import RegistryConfig
from mlcycle.config.settings import Settings
from mlcycle.core.decisions.promotion import decision_tags
from mlcycle.core.events import alias_event
from mlcycle.core.names import CHALLENGER, CHAMPION
from mlcycle.errors import PromotionError
from mlcycle.ops.history import history, render_history
from mlcycle.ops.moves import approve, rollback
from tests.integration.adapters.test_registry import Store, store  # noqa: F401  (module fixture: three trained runs)

PASSED = {"verdict": "passed", "reasons": ["roc_auc ok"], "champion_version": None}


@pytest.fixture
def model(store: Store, demo_pipeline: Pipeline, tmp_path: Path) -> tuple[MlflowRegistry, Pipeline, Settings]:  # noqa: F811
    """A fresh model name with v1..v3 registered; v1 and v2 passed the gate, v3 was rejected."""
    name = f"vers-{uuid.uuid4().hex[:8]}"
    registry = MlflowRegistry(name, store.tracking_uri)
    for i, run in enumerate(store.runs):
        verdict = "rejected" if i == 2 else "passed"
        champion = None if i == 0 else str(i)
        tags = decision_tags(
            {**PASSED, "verdict": verdict, "champion_version": champion}, {"roc_auc": 0.7}, "roc_auc"
        )
        registry.register(run.run_id, run.model_uri, tags)
    cfg = demo_pipeline.config.model_copy(update={"registry": RegistryConfig(model_name=name)})
    pipe = demo_pipeline.model_copy(update={"config": cfg})
    settings = Settings(tmp_path, str(tmp_path / "artifacts"), store.tracking_uri, str(tmp_path / "mlruns"))
    return registry, pipe, settings


def _champion(registry: MlflowRegistry) -> str | None:
    ref = registry.get_alias(CHAMPION)
    return ref.version if ref else None


def _promote(registry: MlflowRegistry, version: str, expected: str | None) -> None:
    promote(
        registry,
        version,
        expected,
        alias_event("promote", "passed the gate", "airflow", f"DAG t run {version}"),
    )


def test_history_after_promotions_and_a_rollback(model) -> None:
    registry, pipe, settings = model
    _promote(registry, "1", None)
    _promote(registry, "2", "1")
    done = rollback(
        pipe, settings, to=None, reason="v2 mislabels west", by="alice", via="CLI: mlcycle rollback"
    )
    assert done == {"model": registry.name, "from_version": "2", "to_version": "1", "forced": False}
    assert _champion(registry) == "1"

    events = history(pipe, settings)
    assert [(e["seq"], e["action"], e["from_version"], e["to_version"]) for e in events] == [
        (1, "promote", None, "1"),
        (2, "promote", "1", "2"),
        (3, "rollback", "2", "1"),
    ]
    last = events[-1]
    assert last["alias"] == CHAMPION and last["by"] == "alice" and last["via"] == "CLI: mlcycle rollback"
    assert last["reason"] == "v2 mislabels west" and last["forced"] is False
    datetime.fromisoformat(last["at"])
    text = render_history(registry.name, events)
    assert "#3" in text and "rollback" in text and "champion: v2 -> v1" in text and "by: alice" in text
    # the history lives in MLflow: a new client (a restarted process) reads the same events
    assert MlflowRegistry(registry.name, settings.tracking_uri).history() == events


def test_rollback_round_trip_and_repeated_rollbacks_walk_back(model) -> None:
    registry, pipe, settings = model
    _promote(registry, "1", None)
    _promote(registry, "2", "1")
    rollback(pipe, settings, to=None, reason="bad", by="a", via="cli")
    assert _champion(registry) == "1"
    rollback(pipe, settings, to="2", reason="fixed upstream data", by="a", via="cli")
    assert _champion(registry) == "2"
    # v2's own promotion replaced v1: rolling back again goes to v1, not to whatever rolled back last
    rollback(pipe, settings, to=None, reason="again", by="a", via="cli")
    assert _champion(registry) == "1"
    with pytest.raises(PromotionError, match="replaced no earlier version; name one with --to"):
        rollback(pipe, settings, to=None, reason="", by="a", via="cli")
    with pytest.raises(PromotionError, match="v1 is already the champion"):
        rollback(pipe, settings, to="1", reason="", by="a", via="cli")
    with pytest.raises(PromotionError, match="has no version '9'"):
        rollback(pipe, settings, to="9", reason="", by="a", via="cli")


def test_rollback_refuses_a_version_that_never_passed_unless_forced(model) -> None:
    registry, pipe, settings = model
    _promote(registry, "1", None)
    with pytest.raises(PromotionError) as info:
        rollback(pipe, settings, to="3", reason="", by="a", via="cli")
    assert "v3" in str(info.value) and "never passed the validation gate" in str(info.value)
    assert "--force" in str(info.value)
    assert _champion(registry) == "1" and len(registry.history()) == 1
    done = rollback(pipe, settings, to="3", reason="emergency", by="a", via="cli", force=True)
    assert done["forced"] is True and _champion(registry) == "3"
    assert registry.history()[-1]["forced"] is True


def test_rollback_with_no_champion_is_refused(model) -> None:
    _, pipe, settings = model
    with pytest.raises(PromotionError, match="has no champion"):
        rollback(pipe, settings, to="1", reason="", by="a", via="cli")


def test_manual_approval_promotes_the_waiting_challenger(model) -> None:
    registry, pipe, settings = model
    _promote(registry, "1", None)
    set_challenger(registry, "2", alias_event("challenger", "awaiting approval", "airflow", "DAG t run 2"))
    assert _champion(registry) == "1"
    with pytest.raises(PromotionError, match="needs a reason"):
        approve(pipe, settings, version=None, reason=" ", by="bob", via="cli")
    done = approve(pipe, settings, version=None, reason="reviewed the slices", by="bob", via="cli")
    assert done == {"model": registry.name, "version": "2", "replaced": "1"}
    assert _champion(registry) == "2" and registry.get_alias(CHALLENGER).version == "2"
    assert registry.version_tags("2")["mlcycle.replaced"] == "1"
    events = registry.history()
    assert [(e["action"], e["alias"], e["to_version"]) for e in events] == [
        ("promote", CHAMPION, "1"),
        ("challenger", CHALLENGER, "2"),
        ("approve", CHAMPION, "2"),
    ]
    assert events[-1]["by"] == "bob" and events[-1]["reason"] == "reviewed the slices"
    assert events[-1]["reasons"] == ["roc_auc ok"]  # the gate's reasons, as recorded at training


def test_approval_refuses_when_champion_moved_or_version_rejected(model) -> None:
    registry, pipe, settings = model
    _promote(registry, "1", None)
    with pytest.raises(PromotionError, match="did not pass the validation gate"):
        approve(pipe, settings, version="3", reason="ok", by="bob", via="cli")
    # v2 was validated against v1; meanwhile someone force-promoted v3
    promote(registry, "3", "1", alias_event("force_promote", "forced", "x", "cli", forced=True))
    with pytest.raises(PromotionError, match="moved from v1 to v3"):
        approve(pipe, settings, version="2", reason="ok", by="bob", via="cli")
    assert _champion(registry) == "3"
    registry.client.delete_registered_model_alias(registry.name, CHALLENGER)
    with pytest.raises(PromotionError, match="no challenger waiting"):
        approve(pipe, settings, version=None, reason="ok", by="bob", via="cli")


def test_a_held_lock_blocks_others_and_is_released(model) -> None:
    registry, _, _ = model
    first = RegistryLock(registry.client, registry.name + LOCK_SUFFIX, "DAG a run 1")
    first.acquire(1)
    second = RegistryLock(registry.client, registry.name + LOCK_SUFFIX, "CLI b")
    with pytest.raises(PromotionError) as info:
        second.acquire(0.3)
    assert "held by DAG a run 1" in str(info.value) and "expires by itself" in str(info.value)
    with pytest.raises(PromotionError, match="alias lock"):
        promote(registry, "1", None, alias_event("promote", "", "x", "y"), lock_wait=0.3)
    assert _champion(registry) is None
    first.release()
    second.acquire(1)
    second.release()
    assert registry.client.search_registered_models(f"name = '{registry.name}{LOCK_SUFFIX}'") == []


def test_a_stale_lock_is_broken(model) -> None:
    registry, _, _ = model
    dead = RegistryLock(
        registry.client, registry.name + LOCK_SUFFIX, "a crashed run", ttl=timedelta(seconds=-1)
    )
    dead.acquire(1)  # expired the moment it was taken: its holder "died"
    live = RegistryLock(registry.client, registry.name + LOCK_SUFFIX, "CLI")
    started = datetime.now(UTC)
    live.acquire(5)
    assert datetime.now(UTC) - started < timedelta(seconds=5)
    holder = registry.client.get_registered_model(registry.name + LOCK_SUFFIX).tags
    assert holder["mlcycle.lock.token"] == live.token
    dead.release()  # the dead holder waking up must not release the new holder's lock
    assert (
        registry.client.get_registered_model(registry.name + LOCK_SUFFIX).tags["mlcycle.lock.token"]
        == live.token
    )
    live.release()

"""The MLflow registry adapter on a real SQLite tracking store: idempotent register, compare-and-set promote."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pandas as pd
import pytest

from mlcycle.adapters.registry import MlflowRegistry, VersionRef, clear_challenger, promote, set_challenger
from mlcycle.config.loader import Pipeline
from mlcycle.core.decisions.promotion import decision_tags
from mlcycle.core.features import feature_frame
from mlcycle.core.names import CHALLENGER, CHAMPION
from mlcycle.core.records import TrainResult
from mlcycle.errors import PromotionError
from mlcycle.steps.context import RunContext
from mlcycle.steps.train import train_model
from tests.integration.conftest import MlflowStore, snapshot_record

CTX = RunContext("churn__train", "scheduled__2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00")


@dataclass(frozen=True)
class Store:
    tracking_uri: str
    runs: tuple[TrainResult, ...]


@pytest.fixture(scope="module")
def store(demo_pipeline: Pipeline, churn_frame: pd.DataFrame, mlflow_store: MlflowStore) -> Store:
    """Three real training runs, each with a logged model, in the SQLite tracking store."""
    runs = []
    for i in range(3):
        frame = churn_frame.iloc[i * 400 : (i + 1) * 400]
        snapshot = snapshot_record(f"/snap/{i}.parquet", f"{i}" * 64, len(frame))
        runs.append(
            train_model(
                demo_pipeline,
                frame,
                snapshot,
                CTX,
                mlflow_store.tracking(),
            )
        )
    return Store(mlflow_store.tracking_uri, tuple(runs))


@pytest.fixture
def registry(store: Store) -> MlflowRegistry:
    """A registry for a fresh model name, so tests do not see each other's versions."""
    return MlflowRegistry(f"churn-{uuid.uuid4().hex[:8]}", store.tracking_uri)


def _aliases(registry: MlflowRegistry) -> dict[str, str]:
    return {k: str(v) for k, v in registry.client.get_registered_model(registry.name).aliases.items()}


def test_register_creates_a_version_with_tags(registry: MlflowRegistry, store: Store) -> None:
    run = store.runs[0]
    ref = registry.register(run.run_id, run.model_uri, {"mlcycle.pipeline": "churn", "k": "v"})
    assert ref == VersionRef(registry.name, "1", run.run_id)
    assert ref.uri == f"models:/{registry.name}/1"
    mv = registry.client.get_model_version(registry.name, "1")
    assert mv.run_id == run.run_id
    assert registry.version_tags("1")["k"] == "v"
    assert registry.client.get_registered_model(registry.name).tags["mlcycle.managed"] == "true"


def test_register_is_idempotent_per_run(registry: MlflowRegistry, store: Store) -> None:
    run = store.runs[0]
    first = registry.register(run.run_id, run.model_uri, {"try": "1"})
    second = registry.register(run.run_id, run.model_uri, {"try": "2", "extra": "x"})
    assert second == first
    versions = registry.client.search_model_versions(f"name = '{registry.name}'")
    assert [str(v.version) for v in versions] == [first.version]
    assert registry.version_tags(first.version) == {"try": "2", "extra": "x"}
    assert registry.version_for_run(run.run_id) == first


def test_each_run_gets_its_own_version(registry: MlflowRegistry, store: Store) -> None:
    refs = [registry.register(r.run_id, r.model_uri, {}) for r in store.runs]
    assert [r.version for r in refs] == ["1", "2", "3"]
    assert registry.version_for_run(store.runs[1].run_id) == refs[1]
    assert registry.version_for_run("0" * 32) is None


def test_registered_version_is_loadable(
    registry: MlflowRegistry, store: Store, demo_pipeline: Pipeline, churn_frame: pd.DataFrame
) -> None:
    import mlflow
    import mlflow.sklearn

    run = store.runs[1]
    ref = registry.register(run.run_id, run.model_uri, {})
    mlflow.set_tracking_uri(store.tracking_uri)
    model = mlflow.sklearn.load_model(ref.uri)
    X = feature_frame(demo_pipeline, churn_frame.head(5))
    assert model.predict_proba(X).shape == (5, 2)


def test_get_alias_is_none_before_any_promotion(registry: MlflowRegistry, store: Store) -> None:
    assert registry.get_alias(CHAMPION) is None  # no registered model at all yet
    run = store.runs[0]
    registry.register(run.run_id, run.model_uri, {})
    assert registry.get_alias(CHAMPION) is None  # model exists, alias does not


def test_first_promotion_sets_challenger_and_champion(registry: MlflowRegistry, store: Store) -> None:
    run = store.runs[0]
    ref = registry.register(run.run_id, run.model_uri, {})
    replaced = promote(registry, ref.version, expected_champion=None)
    assert replaced is None
    assert _aliases(registry) == {CHAMPION: "1", CHALLENGER: "1"}
    assert registry.get_alias(CHAMPION) == VersionRef(registry.name, "1", run.run_id)


def test_promote_moves_both_aliases_and_returns_the_old_champion(
    registry: MlflowRegistry, store: Store
) -> None:
    v1, v2 = (registry.register(r.run_id, r.model_uri, {}) for r in store.runs[:2])
    promote(registry, v1.version, None)
    replaced = promote(registry, v2.version, expected_champion="1")
    assert replaced == VersionRef(registry.name, "1", store.runs[0].run_id)
    assert _aliases(registry) == {CHAMPION: "2", CHALLENGER: "2"}


def test_promote_with_stale_champion_moves_nothing(registry: MlflowRegistry, store: Store) -> None:
    v1, v2, v3 = (registry.register(r.run_id, r.model_uri, {}) for r in store.runs)
    promote(registry, v1.version, None)
    promote(registry, v2.version, "1")  # another run promoted v2 meanwhile
    with pytest.raises(PromotionError) as info:
        promote(registry, v3.version, expected_champion="1")
    msg = str(info.value)
    assert f"champion of {registry.name!r} moved from v1 to v2" in msg
    assert "Re-run the DAG" in msg
    assert _aliases(registry) == {CHAMPION: "2", CHALLENGER: "2"}


def test_promote_expecting_no_champion_when_one_appeared(registry: MlflowRegistry, store: Store) -> None:
    v1, v2 = (registry.register(r.run_id, r.model_uri, {}) for r in store.runs[:2])
    promote(registry, v1.version, None)
    with pytest.raises(PromotionError, match="moved from no champion to v1"):
        promote(registry, v2.version, expected_champion=None)
    assert _aliases(registry) == {CHAMPION: "1", CHALLENGER: "1"}


def test_tag_version_and_move_alias(registry: MlflowRegistry, store: Store) -> None:
    run = store.runs[2]
    ref = registry.register(run.run_id, run.model_uri, {})
    registry.tag_version(ref.version, {"mlcycle.promotion": "skipped"})
    registry.move_alias(CHALLENGER, ref.version)
    assert registry.version_tags(ref.version)["mlcycle.promotion"] == "skipped"
    assert _aliases(registry) == {CHALLENGER: ref.version}


def test_clear_challenger_only_removes_the_version_it_names(registry: MlflowRegistry, store: Store) -> None:
    v1, v2 = (registry.register(r.run_id, r.model_uri, {}) for r in store.runs[:2])
    promote(registry, v1.version, None, move_challenger=False)
    set_challenger(registry, v2.version, {"action": "challenger"})
    assert clear_challenger(registry, "1", {"action": "shadow_reject"}) is False  # not the challenger
    assert _aliases(registry) == {CHAMPION: "1", CHALLENGER: "2"}
    assert clear_challenger(registry, "2", {"action": "shadow_reject", "reason": "shadow: worse"}) is True
    assert _aliases(registry) == {CHAMPION: "1"}
    last = registry.history()[-1]
    assert (last["action"], last["alias"], last["from_version"], last["to_version"]) == (
        "shadow_reject",
        CHALLENGER,
        "2",
        None,
    )
    assert clear_challenger(registry, "2", {"action": "shadow_reject"}) is False  # already gone
    assert len(registry.history()) == 3


def test_decision_tags_are_strings() -> None:
    decision = {"verdict": "passed", "reasons": ("a", "b"), "champion_version": "3", "forced": True}
    tags = decision_tags(decision, {"roc_auc": 0.812345678, "f1": None}, "roc_auc")
    assert tags == {
        "mlcycle.validation": "passed",
        "mlcycle.validation_reasons": json.dumps(["a", "b"]),
        "mlcycle.compared_to_champion": "3",
        "mlcycle.forced": "true",
        "mlcycle.metric.roc_auc": "0.812346",
    }


def test_decision_tags_without_champion_or_metric() -> None:
    decision = {"verdict": "rejected", "reasons": ["x" * 10_000], "champion_version": None, "forced": False}
    tags = decision_tags(decision, {"roc_auc": None}, "roc_auc")
    assert tags["mlcycle.compared_to_champion"] == "none"
    assert tags["mlcycle.forced"] == "false"
    assert "mlcycle.metric.roc_auc" not in tags
    assert len(tags["mlcycle.validation_reasons"]) <= 4900

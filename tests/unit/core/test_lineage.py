"""OpenLineage datasets and facets from step records (pure), the champion at an instant, and the
round trip through the openlineage-python client's generated classes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from openlineage.client.generated.base import RunEvent
from openlineage.client.serde import Serde

from mlcycle.adapters.lineage_events import HomeFileConfig, HomeFileTransport, parse_event, read_event_dicts
from mlcycle.core.events import champion_at
from mlcycle.core.lineage import FACETS, SCHEMA_BASE, file_dataset, mlflow_namespace, task_lineage
from mlcycle.errors import MlcycleError
from mlcycle.ops.lineage_graph import version_graph

NS = "mlflow://mlflow.internal:5000"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://mlflow.internal:5000", "mlflow://mlflow.internal:5000"),
        ("https://alice:s3cret@mlflow.example.com/", "mlflow://mlflow.example.com"),
        ("sqlite:////srv/mlcycle/mlflow.db", "mlflow://localhost/srv/mlcycle/mlflow.db"),
        ("/srv/mlruns", "mlflow://localhost/srv/mlruns"),
    ],
)
def test_the_mlflow_namespace_names_the_host_and_never_a_password(uri: str, expected: str) -> None:
    assert mlflow_namespace(uri) == expected


def test_files_and_s3_objects_are_named_as_openlineage_says_with_their_hash_as_version() -> None:
    local = file_dataset("/data/churn/a.parquet", "ab12")
    assert (local["namespace"], local["name"]) == ("file", "/data/churn/a.parquet")
    assert local["facets"]["version"]["datasetVersion"] == "ab12"
    s3 = file_dataset("s3://lake/churn/2026/a.csv", "cd34", {"x": "int64"})
    assert (s3["namespace"], s3["name"]) == ("s3://lake", "churn/2026/a.csv")
    assert s3["facets"]["schema"]["fields"] == [{"name": "x", "type": "int64"}]


def _promotion(**over: object) -> dict[str, object]:
    out = {"model_name": "churn", "version": "3", "verdict": "passed", "model_card": "m", "promoted": True}
    return {**out, "why": "promoted to champion", "champion": "3", "replaced": "2", **over}


def test_a_promotion_links_snapshot_and_run_to_the_version_and_records_the_alias_move() -> None:
    records = {
        "out": _promotion(),
        "snapshot": {"uri": "/store/snap/ff.parquet", "sha256": "ff"},
        "trained": {"run_id": "r1"},
        "decision": {"verdict": "passed", "promote": True, "forced": False, "reasons": ["f1 ok"]},
        "by": "alice",
        "via": "DAG churn__train run manual__1",
    }
    lin = task_lineage("register_and_promote", records, NS)
    assert [(d["namespace"], d["name"]) for d in lin.inputs] == [
        ("file", "/store/snap/ff.parquet"),
        (NS, "runs/r1"),
    ]
    assert [(d["namespace"], d["name"]) for d in lin.outputs] == [(NS, "models/churn/3")]
    move = lin.run_facets["mlcycle_aliasMove"]
    assert (move["alias"], move["action"], move["fromVersion"], move["toVersion"], move["by"]) == (
        "champion",
        "promote",
        "2",
        "3",
        "alice",
    )
    assert lin.run_facets["mlcycle_gate"]["reasons"] == ["f1 ok"]
    # a version that waits as challenger moves the challenger alias, not the champion
    waiting = task_lineage(
        "register_and_promote", {**records, "out": _promotion(promoted=False, in_shadow=True)}, NS
    )
    assert waiting.run_facets["mlcycle_aliasMove"]["alias"] == "challenger"
    rejected = task_lineage("register_and_promote", {**records, "out": _promotion(promoted=False)}, NS)
    assert "mlcycle_aliasMove" not in rejected.run_facets


def test_the_verdict_facet_takes_the_severity_where_there_is_one_else_the_status() -> None:
    verdict = {
        "status": "drift",
        "reasons": ["psi"],
        "window_key": "w",
        "report_uri": "/r.html",
        "model_version": "3",
    }
    assert (
        task_lineage("decide", {"out": verdict}, NS).run_facets["mlcycle_monitorVerdict"]["severity"]
        == "drift"
    )
    severe = task_lineage("decide", {"out": {**verdict, "severity": "critical"}}, NS)
    assert severe.run_facets["mlcycle_monitorVerdict"]["severity"] == "critical"


def test_every_custom_facet_carries_the_schema_url_of_its_key() -> None:
    lin = task_lineage(
        "validate_model", {"out": {"verdict": "rejected", "reasons": []}, "trained": {"run_id": "r"}}, NS
    )
    facet = lin.run_facets["mlcycle_gate"]
    assert facet["_schemaURL"] == f"{SCHEMA_BASE}{FACETS['mlcycle_gate']}.json#/$defs/MlcycleGateRunFacet"
    assert task_lineage("unknown_task", {"out": {"x": 1}}, NS).outputs == []


def _event(run_id: str, at: str, job: str, lin_inputs, lin_outputs, facets) -> dict:
    return {
        "eventTime": at,
        "eventType": "COMPLETE",
        "producer": "https://github.com/apache/airflow",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": facets},
        "job": {"namespace": "mlcycle", "name": job, "facets": {}},
        "inputs": lin_inputs,
        "outputs": lin_outputs,
    }


def test_events_round_trip_through_the_client_classes_and_the_graph_follows_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCYCLE_HOME", str(tmp_path))
    ingest = task_lineage(
        "ingest", {"out": {"uri": "/s/ff.parquet", "sha256": "ff", "source_digests": {"/d/a.csv": "aa"}}}, NS
    )
    snap = {"uri": "/s/ff.parquet", "sha256": "ff"}
    promote = task_lineage(
        "register_and_promote",
        {
            "out": _promotion(replaced=None),
            "snapshot": snap,
            "trained": {"run_id": "r1"},
            "decision": {"verdict": "passed"},
        },
        NS,
    )
    events = [
        _event(
            "01a24866-13f9-7603-b33e-399dcfc1253c",
            "2026-01-01T00:00:01+00:00",
            "p__train.ingest",
            ingest.inputs,
            ingest.outputs,
            ingest.run_facets,
        ),
        _event(
            "01a24866-13f9-7603-b33e-399dcfc1253d",
            "2026-01-01T00:00:09+00:00",
            "p__train.register_and_promote",
            promote.inputs,
            promote.outputs,
            promote.run_facets,
        ),
    ]
    transport = HomeFileTransport(HomeFileConfig())
    for data in events:
        event = parse_event(data)
        assert isinstance(event, RunEvent)
        transport.emit(event)  # appended under $MLCYCLE_HOME, resolved at emit time
    back = list(read_event_dicts(tmp_path / "lineage" / "events.jsonl"))
    assert [Serde.to_dict(parse_event(e)) for e in back] == [Serde.to_dict(parse_event(e)) for e in events]
    assert back[1]["run"]["facets"]["mlcycle_aliasMove"]["toVersion"] == "3"
    graph = version_graph(back, "churn", "3")
    assert graph["sources"] == [{"uri": "/d/a.csv", "sha256": "aa"}]
    assert graph["snapshot"]["sha256"] == "ff" and graph["mlflow_run"] == "r1"
    assert [(m["action"], m["toVersion"]) for m in graph["moves"]] == [("promote", "3")]
    with pytest.raises(MlcycleError, match="no OpenLineage event registered models/churn/4"):
        version_graph(back, "churn", "4")


def test_a_line_that_is_not_json_names_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"eventTime": "x"}\nnot json\n')
    with pytest.raises(MlcycleError, match=r"events.jsonl:2: not a JSON event"):
        list(read_event_dicts(path))


def test_the_champion_at_an_instant_is_the_last_champion_move_at_or_before_it() -> None:
    events = [
        {"alias": "champion", "at": "2026-01-01T00:00:00+00:00", "to_version": "1"},
        {"alias": "challenger", "at": "2026-01-05T00:00:00+00:00", "to_version": "2"},
        {"alias": "champion", "at": "2026-01-10T00:00:00+00:00", "to_version": "2", "from_version": "1"},
        {"alias": "champion", "at": "2026-01-20T00:00:00+00:00", "to_version": "1", "from_version": "2"},
    ]
    at = lambda text: datetime.fromisoformat(text).replace(tzinfo=UTC)  # noqa: E731
    assert champion_at(events, at("2025-12-31T23:59:59")) is None
    assert champion_at(events, at("2026-01-07T00:00:00"))["to_version"] == "1"  # type: ignore[index]
    assert champion_at(events, at("2026-01-10T00:00:00"))["to_version"] == "2"  # type: ignore[index]
    assert champion_at(events, at("2026-02-01T00:00:00"))["to_version"] == "1"  # type: ignore[index]


def test_shadow_scoring_reads_the_challenger_and_the_guard_links_verdict_to_action() -> None:
    window = {"uri": "/w/aa.parquet", "sha256": "aa"}
    shadow = {"active": True, "challenger_version": "4", "predictions_uri": "/p/shadow.parquet"}
    lin = task_lineage("shadow_score", {"out": shadow, "window": window, "model": "churn"}, NS)
    assert [d["name"] for d in lin.inputs] == ["/w/aa.parquet", "models/churn/4"]
    assert [d["name"] for d in lin.outputs] == ["/p/shadow.parquet"]
    assert task_lineage("shadow_score", {"out": {"active": False}, "model": "churn"}, NS).inputs == []
    act = task_lineage(
        "act", {"out": {"action_uri": "/r/action.json"}, "verdict": {"decision_uri": "/r/d.json"}}, NS
    )
    assert ([d["name"] for d in act.inputs], [d["name"] for d in act.outputs]) == (
        ["/r/d.json"],
        ["/r/action.json"],
    )

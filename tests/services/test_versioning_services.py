"""Concurrent promotions and registrations as separate processes against a real ``mlflow server``
on PostgreSQL: the alias lock makes compare-and-set promotion atomic across processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlcycle.adapters.registry import LOCK_SUFFIX, MlflowRegistry
from mlcycle.config.loader import load_pipeline
from mlcycle.config.schema import RegistryConfig
from mlcycle.config.settings import Settings
from mlcycle.core.decisions.promotion import decision_tags
from mlcycle.core.names import CHAMPION
from mlcycle.errors import PromotionError
from mlcycle.ops.history import history
from mlcycle.ops.moves import rollback

WORKER = Path(__file__).with_name("race_worker.py")
ROOT = Path(__file__).resolve().parents[2]


class Racers:
    """Long-lived worker processes (importing MLflow costs seconds each: pay it once)."""

    def __init__(self, url: str, model: str, count: int, tmp: Path) -> None:
        self.tmp = tmp
        self.procs = [
            subprocess.Popen(
                [sys.executable, str(WORKER), url, model],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            for _ in range(count)
        ]

    def _line(self, proc: subprocess.Popen[str]) -> str:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=30)
            raise AssertionError(f"race worker exited {proc.returncode}: {proc.stderr.read()[-3000:]}")  # type: ignore[union-attr]
        return line

    def race(self, mode: str, args: list[str], expected: str = "-") -> list[dict]:
        """Give worker i the job ``args[i]``; start them all at once; return their results."""
        go = self.tmp / f"go-{time.monotonic_ns()}"
        procs = self.procs[: len(args)]
        for proc, arg in zip(procs, args, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(f"{mode} {arg} {expected} {go}\n")
            proc.stdin.flush()
        for proc in procs:
            assert self._line(proc).strip() == "ready"
        go.touch()
        return [json.loads(self._line(proc)) for proc in procs]

    def close(self) -> None:
        for proc in self.procs:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=30)


@pytest.fixture
def racers(tmp_path: Path, postgres_database, mlflow_server) -> Iterator[tuple[Racers, str]]:
    server = mlflow_server(postgres_database.sqlalchemy_url, str(tmp_path / "artifacts"), workers=2)
    pool = Racers(server.url, MODEL, 10, tmp_path)
    try:
        yield pool, server.url
    finally:
        pool.close()


MODEL = "race_model"


def test_racing_processes_one_promotion_wins_and_registrations_get_distinct_versions(
    racers, tmp_path: Path
) -> None:
    pool, url = racers
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    model = MODEL
    exp = client.create_experiment("race")
    run_ids = [client.create_run(exp).info.run_id for _ in range(10)]

    registered = pool.race("register", run_ids)
    versions = sorted(int(r["version"]) for r in registered)
    assert versions == list(range(1, 11)), registered
    assert {r["run_id"]: r["version"] for r in registered} == {
        v.run_id: v.version for v in client.search_model_versions(f"name = '{model}'")
    }

    # two processes, no champion yet: exactly one moves the alias
    first = pool.race("promote", ["1", "2"])
    [winner] = [r["version"] for r in first if r["won"]]
    [loser] = [r for r in first if not r["won"]]
    assert f"moved from no champion to v{winner}" in loser["error"], loser
    assert "Re-run the DAG" in loser["error"]
    assert client.get_model_version_by_alias(model, CHAMPION).version == winner

    # six processes all validated against that champion: again exactly one wins
    contenders = ["3", "4", "5", "6", "7", "8"]
    second = pool.race("promote", contenders, winner)
    winners = [r["version"] for r in second if r["won"]]
    assert len(winners) == 1, second
    for r in second:
        if not r["won"]:
            assert f"moved from v{winner} to v{winners[0]}" in r["error"], r
    assert client.get_model_version_by_alias(model, CHAMPION).version == winners[0]

    events = MlflowRegistry(model, url).history()
    assert [(e["from_version"], e["to_version"]) for e in events] == [(None, winner), (winner, winners[0])]
    assert client.search_registered_models(f"name = '{model}{LOCK_SUFFIX}'") == []  # every lock released

    # rollback on the same server: refused for a version that never passed the gate, then done once it
    # has; recorded in the history that a new client reads back
    demo = load_pipeline(ROOT / "config" / "pipelines" / "churn.yaml")
    pipe = demo.model_copy(
        update={"config": demo.config.model_copy(update={"registry": RegistryConfig(model_name=model)})}
    )
    settings = Settings(tmp_path, str(tmp_path / "records"), url, str(tmp_path / "mlruns"))
    with pytest.raises(PromotionError, match=rf"v{winner} of '{model}' never passed the validation gate"):
        rollback(pipe, settings, to=None, reason="bad night", by="test", via="pytest")
    assert client.get_model_version_by_alias(model, CHAMPION).version == winners[0]
    passed = {"verdict": "passed", "reasons": ["roc_auc ok"], "champion_version": None}
    MlflowRegistry(model, url).tag_version(winner, decision_tags(passed, {"roc_auc": 0.7}, "roc_auc"))
    moved = rollback(pipe, settings, to=None, reason="bad night", by="test", via="pytest")
    assert (moved["from_version"], moved["to_version"], moved["forced"]) == (winners[0], winner, False)
    assert client.get_model_version_by_alias(model, CHAMPION).version == winner
    last = history(pipe, settings)[-1]
    assert (last["action"], last["from_version"], last["to_version"]) == ("rollback", winners[0], winner)
    assert (last["reason"], last["by"], last["via"]) == ("bad night", "test", "pytest")

"""The same logical date triggered twice, concurrently, in two processes (issue 6, scenario 15).

Two processes, each a ``dag.test()`` of the training DAG, start together for one data window on a model with
no champion yet, sharing the Airflow metadata DB, the MLflow registry and the S3 artifact store. Whichever
order they reach each step in: one snapshot (content-addressed), both versions registered, exactly one alias
move. The loser either finds the winner's champion trained on the very same snapshot and config (not
promoted again) or loses the compare-and-set (a failed run, notified once).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from .conftest import LOGICAL_DATE, Sandbox, alias_moves, champion_version, versions

TWICE = "rel_twice"
# dag.test() clears the task instances of its logical date before it starts, so a second dag.test()
# for the very same logical date would kill the first (a test-harness artefact: a scheduler's manual
# run and backfill each keep theirs). The second run therefore gets a logical date one second later,
# and both pin the same data window through the data_end param, as a retrain request does.
SECOND_LOGICAL_DATE = "2026-01-01T00:00:01+00:00"


RUN = """
import sys
from mlcycle.airflow.devrun import run_training
s = run_training(sys.argv[1], logical_date=sys.argv[2], conf={"data_end": sys.argv[3]})
print(s.render())
"""


def _log(index: int) -> Path:
    logs = Path(os.environ["MLCYCLE_HOME"]) / "subprocess-logs"  # swept for the canary with the task logs
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"{TWICE}-{index}.log"


def _start(name: str, logical_date: str, index: int) -> subprocess.Popen[str]:
    """A training run for the data up to LOGICAL_DATE (the ``data_end`` param pins the window).

    Output goes to a file, never a pipe: a child blocked on a full pipe while it holds the SQLite
    metadata DB's write lock would stall the other child, and the test, for good.
    """
    argv = [sys.executable, "-c", RUN, name, logical_date, LOGICAL_DATE]
    with _log(index).open("w") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())


def _wait_for_run(dag_id: str, proc: subprocess.Popen[str], timeout: float = 600) -> bool:
    from airflow.utils.session import create_session
    from sqlalchemy import text

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with create_session() as session:
            if session.execute(text("SELECT 1 FROM dag_run WHERE dag_id = :d"), {"d": dag_id}).first():
                return True
        time.sleep(0.5)
    return False


def test_same_logical_date_twice_gives_one_snapshot_and_one_alias_move(
    champion, sandbox: Sandbox, pipeline
) -> None:
    name = pipeline(TWICE, f"s3://{sandbox.bucket}/landing/churn/*.parquet", registry={"model_name": TWICE})
    before = sandbox.notifications()
    first = _start(name, LOGICAL_DATE, 0)
    # Each `dag.test()` process writes the DAG's serialized version before creating its run; two doing
    # that at once collide in the metadata DB (in a deployment only the dag-processor writes it), so
    # the second starts once the first's run exists. Both still ingest, train and race to promote.
    assert _wait_for_run(f"{name}__train", first), (first.poll(), _log(0).read_text()[-3000:])
    procs = [first, _start(name, SECOND_LOGICAL_DATE, 1)]
    for p in procs:
        p.wait(timeout=900)
    outputs = [_log(i).read_text() for i in range(len(procs))]

    summaries = [re.search(r"^mlcycle: .*$(?:\n.*)*", out, re.MULTILINE) for out in outputs]
    assert all(summaries), [o[o.find("Traceback") :][:4000] for o in outputs]
    text = [m.group(0) for m in summaries if m]
    won = [t for t in text if "promoted to champion" in t]
    assert len(won) == 1, text
    [lost] = [t for t in text if t is not won[0]]

    assert len(sandbox.keys(f"snapshots/{name}")) == 1
    assert len(versions(TWICE)) == 2
    [move] = alias_moves(TWICE)
    assert move["alias"] == "champion" and move["to_version"] == champion_version(TWICE)
    if ": FAILED" in lost:  # it validated against "no champion" and lost the compare-and-set
        assert "register_and_promote=failed" in lost, lost
        emails = sandbox.smtp.messages[before[0] :]
        assert len(emails) == 1 and "register_and_promote" in emails[0].subject
        assert "moved" in emails[0].body, emails[0].body
    else:  # it validated against the winner, trained on the same snapshot with the same config
        assert "same snapshot with the same config" in lost, lost
        assert sandbox.notifications() == before

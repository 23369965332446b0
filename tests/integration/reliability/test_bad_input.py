"""Bad input through the real training and monitoring DAGs (issue 6, scenarios 1-6).

Every case asserts the invariants: the run fails in the task that should catch it, the error names
the file/column and the fix, the champion and the registered versions are unchanged, nothing is
published at a snapshot/prediction key for input that never became a snapshot, and exactly one
failure notification goes out per channel, although every task may retry once.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from mlcycle.adapters.store import open_store
from mlcycle.airflow.devrun import run_monitoring, run_training
from mlcycle.core.names import TRAINING_TASKS as STEPS
from mlcycle.core.names import record_key

from .conftest import (
    EXTRA_COLUMN,
    LOGICAL_DATE,
    MOSTLY,
    NULL_COLUMN,
    Sandbox,
    alias_moves,
    champion_version,
    in_window,
    versions,
)

MONITOR_STEPS = ("load_window", "score", "detect_drift", "decide", "act", "trigger_retrain")
MONITOR_END = datetime(2026, 2, 1, tzinfo=UTC)  # the window 2026-01


@dataclass(frozen=True)
class Case:
    files: list[Path]  # what was written
    source: str  # data.source / monitoring.source, relative to the data root
    task: str  # the task that must fail
    expected: list[str]  # fragments of the error; the last one must also be in the Slack text
    forbidden: tuple[str, ...] = ()  # content of the file that must never reach an error or alert


def _write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def _truncated(frame: pd.DataFrame, path: Path) -> Path:
    """A Parquet file cut in half, as a write interrupted by a crash leaves it."""
    data = _write(frame, path).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _in_window_rows(frame: pd.DataFrame, n: int) -> pd.Index:
    return frame.index[in_window(frame)][:n]


def _passwd_lines() -> tuple[str, ...]:
    """The lines of /etc/passwd (its first line is the one an ingest error once quoted)."""
    return tuple(line for line in Path("/etc/passwd").read_text().splitlines() if line.strip())


def training_case(name: str, frame: pd.DataFrame, root: Path) -> Case:
    """Build the bad input of one scenario under ``root/rel/<name>``."""
    frame = frame.copy()
    folder = root / "rel" / name
    part = folder / "part.parquet"
    rel = f"rel/{name}/*.parquet"
    if name == "truncated_parquet":
        return Case([_truncated(frame, part)], rel, "ingest", [str(part), "not a readable parquet file"])
    if name == "ragged_csv":
        path = _write(frame, folder / "part.csv")
        lines = path.read_text().splitlines()
        lines[7] += ",an extra field"
        path.write_text("\n".join(lines) + "\n")
        return Case(
            [path],
            f"rel/{name}/*.csv",
            "ingest",
            [str(path), "line 8 has 15 field(s) where the header has 14"],
            forbidden=("an extra field",),
        )
    if name == "symlink_out_of_the_root":  # passes the loader's text check; ingest resolves it
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / "part.csv"
        link.symlink_to("/etc/passwd")
        return Case(
            [link],
            f"rel/{name}/*.csv",
            "ingest",
            [f"{link} (resolves to /etc/passwd) (data.source)", "is outside the data root"],
            forbidden=_passwd_lines(),
        )
    if name == "system_file_as_csv":  # inside the root, but not data: named, never quoted
        path = folder / "part.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = tuple(line for line in _passwd_lines() if "," not in line)  # one field per line
        path.write_text("\n".join(lines) + "\n")
        return Case(
            [path],
            f"rel/{name}/*.csv",
            "ingest",
            [str(path), "first line does not look like a header of column names (not shown)"],
            forbidden=lines,
        )
    if name == "unreadable_path":
        path = folder / "never_landed.parquet"
        return Case(
            [],
            f"rel/{name}/never_landed.parquet",
            "ingest",
            [f"{path}: no such file or directory (data.source)"],
        )
    if name == "renamed_column":
        _write(frame.rename(columns={"tenure_months": "tenure_mnths"}), part)
        return Case([part], rel, "ingest", [str(part), "['tenure_months']", "did you mean 'tenure_mnths'?"])
    if name == "missing_column":
        _write(frame.drop(columns=["region"]), part)
        return Case([part], rel, "ingest", [str(part), "column(s) ['region'] named in the pipeline YAML"])
    if name == "retyped_column":
        frame["age"] = frame["age"].astype(str)
        bad_row = _in_window_rows(frame, 3)[-1]
        frame.loc[bad_row, "age"] = "unknown"
        _write(frame, part)
        row = frame.index.get_loc(bad_row) + 1
        return Case(
            [part],
            rel,
            "ingest",
            [str(part), "'age' (data.features.numeric)", f"not a number in data row {row}"],
            forbidden=("unknown",),
        )
    if name == "nulls_just_over_mostly":
        inside = frame.index[in_window(frame) & frame[NULL_COLUMN].notna()]
        frame.loc[inside[:1], NULL_COLUMN] = None
        nulls = int(frame.loc[in_window(frame), NULL_COLUMN].isna().sum())
        _write(frame, part)
        return Case(
            [part],
            rel,
            "check_data",
            ["expect_column_values_to_not_be_null", f"'{NULL_COLUMN}'", f"{nulls} unexpected values"],
        )
    if name == "sentinel_minus_one":
        frame.loc[_in_window_rows(frame, 17), "support_calls"] = -1
        _write(frame, part)
        return Case(
            [part],
            rel,
            "check_data",
            ["expect_column_values_to_be_between", "'support_calls'", "17 unexpected values"],
        )
    if name == "zero_rows":
        _write(frame.head(0), part)
        return Case([part], rel, "ingest", ["no rows in the training window"])
    if name == "zero_byte_csv":
        path = folder / "part.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        return Case([path], f"rel/{name}/*.csv", "ingest", [str(path), "not a readable csv file"])
    if name == "duplicate_keys":
        rows = frame.index[in_window(frame) & frame[NULL_COLUMN].notna()][:9]  # nulls stay under the bound
        frame = pd.concat([frame, frame.loc[rows]], ignore_index=True)
        _write(frame, part)
        return Case(
            [part],
            rel,
            "check_data",
            ["expect_column_values_to_be_unique", "'customer_id'", "18 unexpected values"],
        )
    if name == "single_class_target":
        frame["churned"] = 0
        _write(frame, part)
        return Case([part], rel, "train", ["'churned' has a single class"])
    raise AssertionError(name)


TRAINING_CASES = [
    "truncated_parquet",
    "ragged_csv",
    "symlink_out_of_the_root",
    "system_file_as_csv",
    "unreadable_path",
    "renamed_column",
    "missing_column",
    "retyped_column",
    "nulls_just_over_mostly",
    "sentinel_minus_one",
    "zero_rows",
    "zero_byte_csv",
    "duplicate_keys",
    "single_class_target",
]


def assert_one_failure_notified(sandbox: Sandbox, before: tuple[int, int], dag_id: str, case: Case) -> None:
    """Exactly one email and one Slack post for the failed run, naming the task and the error."""
    emails = sandbox.smtp.messages[before[0] :]
    posts = sandbox.slack.requests[before[1] :]
    assert len(emails) == 1, [m.subject for m in emails]
    assert len(posts) == 1, [p.body for p in posts]
    assert dag_id in emails[0].subject and case.task in emails[0].subject, emails[0].subject
    body = html.unescape(emails[0].body)
    for fragment in case.expected:
        assert fragment in body, (fragment, body)
    text = posts[0].json["text"]
    assert f"task: {case.task}" in text and case.expected[-1] in text, text
    for content in case.forbidden:
        assert content not in body and content not in text, f"alert quotes the file: {content!r}"


def assert_failed_at(state: str, task_states: dict[str, str], task: str, steps: tuple[str, ...]) -> None:
    assert state == "failed", task_states
    assert task_states[task] == "failed", task_states
    for later in steps[steps.index(task) + 1 :]:
        assert task_states[later] == "upstream_failed", task_states


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", TRAINING_CASES)
def test_bad_training_input_fails_clearly_and_moves_nothing(
    name: str,
    champion,
    sandbox: Sandbox,
    base_frame: pd.DataFrame,
    data_root: Path,
    pipeline: Callable[..., str],
) -> None:
    case = training_case(name, base_frame, data_root)
    pipe = pipeline(f"rel_{name}", case.source)
    before_champion, before_versions, before_moves = champion_version(), versions(), len(alias_moves())
    before = sandbox.notifications()

    s = run_training(pipe, logical_date=LOGICAL_DATE)

    assert_failed_at(s.state, s.task_states, case.task, STEPS)
    assert champion_version() == before_champion
    assert versions() == before_versions
    assert len(alias_moves()) == before_moves
    assert_one_failure_notified(sandbox, before, s.dag_id, case)
    store = open_store(sandbox.artifact_root)
    snapshots = sandbox.keys(f"snapshots/{pipe}")
    if case.task == "ingest":
        assert snapshots == [] and "ingest" not in s.records, snapshots
    else:  # the snapshot that was checked is published whole, under its own content hash
        [key] = snapshots
        assert (
            key == s.records["ingest"]["key"]
            and _sha256(store.read_bytes(key)) == s.records["ingest"]["sha256"]
        )
        assert EXTRA_COLUMN not in s.records["ingest"]["columns"]
    assert "promotion" not in s.records
    if case.task == "check_data":
        report = json.loads(store.read_bytes(record_key(s.dag_id, s.run_id, "data_checks.json")))
        [failure] = report["summary"]["failures"]
        assert f"{failure['unexpected_count']} unexpected values" == case.expected[-1]


def test_the_champion_run_ignores_an_extra_column_and_passes_nulls_exactly_at_mostly(
    champion, sandbox: Sandbox
) -> None:
    """Scenarios 2 (extra column: ignored) and 3 (nulls exactly at `mostly`: passes), on the champion's run."""
    snap = champion.records["ingest"]
    assert EXTRA_COLUMN not in snap["columns"] and "tenure_months" in snap["columns"]
    assert snap["rows"] % 20 == 0
    report = json.loads(
        open_store(sandbox.artifact_root).read_bytes(
            record_key(champion.dag_id, champion.run_id, "data_checks.json")
        )
    )
    assert report["summary"]["success"] is True
    [nulls] = [
        r
        for r in report["great_expectations"]["results"]
        if r["expectation_config"]["type"] == "expect_column_values_to_not_be_null"
        and r["expectation_config"]["kwargs"]["column"] == NULL_COLUMN
    ]
    assert nulls["success"] is True and nulls["expectation_config"]["kwargs"]["mostly"] == MOSTLY
    assert nulls["result"]["unexpected_count"] == snap["rows"] // 20  # 5.00%: exactly at the bound


def test_permission_denied_names_the_file(
    champion, sandbox: Sandbox, base_frame: pd.DataFrame, data_root: Path, pipeline: Callable[..., str]
) -> None:
    """chmod 000 on the only data file. Root bypasses file modes, so when the tests run as root the run
    goes to a child process without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (setpriv), where they bite."""
    part = _write(base_frame, data_root / "rel" / "permission_denied" / "part.parquet")
    part.chmod(0)
    name = pipeline("rel_permission_denied", "rel/permission_denied/*.parquet")
    case = Case([part], "", "ingest", [str(part), "Permission denied"])
    argv = [str(Path(sys.executable).with_name("mlcycle")), "run", name, "--logical-date", LOGICAL_DATE]
    if os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search"
        argv = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", *argv]
    before_champion, before_versions = champion_version(), versions()
    before = sandbox.notifications()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=os.environ.copy())
    finally:
        part.chmod(0o644)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "ingest=failed" in proc.stdout and "check_data=upstream_failed" in proc.stdout, proc.stdout[-2000:]
    assert champion_version() == before_champion and versions() == before_versions
    assert_one_failure_notified(sandbox, before, f"{name}__train", case)
    assert sandbox.keys(f"snapshots/{name}") == []
    log = Path(os.environ["MLCYCLE_HOME"]) / "subprocess-logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(out)  # swept for the canary with the other task logs


def monitor_case(name: str, frame: pd.DataFrame, root: Path) -> Case:
    window = frame[(frame["event_time"] >= "2026-01-01") & (frame["event_time"] < "2026-02-01")].copy()
    part = root / "rel" / f"mon_{name}" / "part.parquet"
    rel = f"rel/mon_{name}/*.parquet"
    if name == "truncated_parquet":
        return Case(
            [_truncated(window, part)], rel, "load_window", [str(part), "not a readable parquet file"]
        )
    if name == "retyped_column":
        window["monthly_charges"] = window["monthly_charges"].map(lambda v: f"${v:.2f}")
        _write(window, part)
        return Case(
            [part],
            rel,
            "load_window",
            [str(part), "'monthly_charges' (data.features.numeric)", "not a number in data row 1"],
            forbidden=(window["monthly_charges"].iloc[0],),
        )
    if name == "unseen_label":
        # 2026-01 is labelled (only the newest demo month is not), so its labels are whole numbers
        window["churned"] = window["churned"].astype("int64")
        window.loc[window.index[:11], "churned"] = 2
        _write(window, part)
        return Case([part], rel, "score", ["label column 'churned'", "never saw in training: {2: 11}"])
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["truncated_parquet", "retyped_column", "unseen_label"])
def test_bad_window_fails_the_monitor_clearly_and_publishes_nothing(
    name: str,
    champion,
    sandbox: Sandbox,
    base_frame: pd.DataFrame,
    data_root: Path,
    pipeline: Callable[..., str],
) -> None:
    case = monitor_case(name, base_frame, data_root)
    pipe = pipeline(
        f"rel_mon_{name}",
        "rel/unused/*.parquet",
        monitoring={"schedule": "@monthly", "source": case.source, "min_rows": 100},
    )
    before_champion, before = champion_version(), sandbox.notifications()

    [w] = run_monitoring(pipe, [MONITOR_END])

    assert_failed_at(w.state, w.task_states, case.task, MONITOR_STEPS[:-1])
    assert champion_version() == before_champion
    assert_one_failure_notified(sandbox, before, w.dag_id, case)
    assert sandbox.keys(f"predictions/{pipe}") == []
    assert sandbox.keys(f"monitor/{pipe}") == []
    if case.task == "load_window":
        assert sandbox.keys(f"windows/{pipe}") == []

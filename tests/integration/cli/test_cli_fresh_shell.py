"""`mlcycle` as a person runs it: a fresh shell (new HOME, no AIRFLOW_* or project variables).

Issue 16, measured 4: Airflow was imported before AIRFLOW_HOME was set, created ~/airflow/airflow.db
and failed with ``no such table: task_instance``. Measured 5: a logical date before start_date ran
nothing and said SUCCESS. Measured 6: the output is a progress display and a summary, Airflow's
logs go to a file, and the actor of a CLI run is the OS user, not ``dag_test``.

``MLCYCLE_HOME`` and ``MLCYCLE_DATA_ROOT`` keep the test's state and data out of the checkout; the
variables whose absence broke the CLI (``AIRFLOW_HOME``, ``AIRFLOW__*``, ``MLCYCLE_PROJECT_ROOT``,
``MLCYCLE_CONFIG_DIR``) are all unset: the checkout's own ``config/pipelines/churn.yaml`` is used.
"""

from __future__ import annotations

import getpass
import re
import subprocess  # nosec B404
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _fresh_env(tmp: Path, data_root: Path) -> dict[str, str]:
    (tmp / "home").mkdir()
    return {
        "HOME": str(tmp / "home"),
        "PATH": f"{BIN}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MLCYCLE_HOME": str(tmp / "mlcycle"),
        "MLCYCLE_DATA_ROOT": str(data_root),
    }


def _mlcycle(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # nosec B603
        [str(BIN / "mlcycle"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="module")
def fresh(
    tmp_path_factory: pytest.TempPathFactory, demo_dir: Path, data_root: Path
) -> tuple[dict[str, str], Path]:
    tmp = tmp_path_factory.mktemp("fresh-shell")
    return _fresh_env(tmp, data_root), tmp


def test_logical_date_before_start_date_is_refused_with_the_key_and_the_fix(fresh) -> None:
    env, tmp = fresh
    done = _mlcycle(env, tmp, "run", "churn", "--logical-date", "2013-03-01")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "SUCCESS" not in done.stdout
    assert re.search(
        r"churn\.yaml: start_date: --logical-date 2013-03-01T00:00:00\+00:00 is before", done.stderr
    )
    assert "Use --logical-date 2025-07-01 or later, or set start_date earlier" in done.stderr


def test_run_monitor_and_status_in_a_fresh_shell(fresh) -> None:
    env, tmp = fresh
    trained = _mlcycle(env, tmp, "run", "churn", "--logical-date", "2025-10-01")
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    monitored = _mlcycle(env, tmp, "monitor", "churn", "2025-11-01", "2025-12-01", "--no-retrain-runs")
    out = monitored.stdout
    assert monitored.returncode == 0, out[-3000:] + monitored.stderr[-3000:]
    assert not (tmp / "home" / "airflow").exists(), "Airflow must not fall back to ~/airflow"

    # the display: one line per task and per window with elapsed time, then the summary table
    assert re.search(r"ok\s+load_window\s+\d+\.\ds", out), out
    assert re.search(r"window 2025-10-01\.\.2025-11-01: \w+; .*\(\d+\.\ds\)", out), out
    assert re.search(r"window 2025-11-01\.\.2025-12-01: \w+; .*\(\d+\.\ds\)", out), out
    assert "roc_auc=" in out  # the quality column
    # Airflow's own output is in the log file the command names, not on the terminal
    [log] = re.findall(r"Airflow logs: (\S+)", out)
    assert "[DAG TEST]" in Path(log).read_text() and "[DAG TEST]" not in out
    assert len(out.splitlines()) < 40, out
    assert "Calculating Metrics" not in Path(log).read_text()  # GX's progress bar, logged at ERROR

    status = _mlcycle(env, tmp, "status", "churn")
    assert status.returncode == 0, status.stderr
    user = getpass.getuser()
    assert f"triggered by: CLI (mlcycle) by {user}" in status.stdout, status.stdout
    assert "trained on: 2024-10-01T00:00:00+00:00..2025-10-01T00:00:00+00:00" in status.stdout, status.stdout
    assert "dag_test" not in status.stdout

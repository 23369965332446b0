"""Test-session environment and shared fixtures.

Airflow reads its configuration when first imported, so the embedded test environment
(a private AIRFLOW_HOME, MLCYCLE_HOME and pipeline directory) is set here, before any test
module imports Airflow. Real loopback services come from tests/support/fixtures.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SESSION_DIR = Path(tempfile.mkdtemp(prefix="mlcycle-tests-"))

_ENV = {
    "AIRFLOW_HOME": str(SESSION_DIR / "airflow"),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "MLCYCLE_HOME": str(SESSION_DIR / "mlcycle"),
    "MLCYCLE_CONFIG_DIR": str(SESSION_DIR / "pipelines"),
    "MLCYCLE_DATA_ROOT": str(SESSION_DIR / "data"),
    "MLCYCLE_PROJECT_ROOT": str(ROOT),
    "PYTHONWARNINGS": "ignore::UserWarning",
}
for _key, _value in _ENV.items():
    os.environ[_key] = _value
for _key in ("MLFLOW_TRACKING_URI", "MLCYCLE_ARTIFACT_ROOT", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
    os.environ.pop(_key, None)
(SESSION_DIR / "pipelines").mkdir(parents=True)
shutil.copy(ROOT / "config" / "pipelines" / "churn.yaml", SESSION_DIR / "pipelines" / "churn.yaml")

pytest_plugins = ["tests.support.fixtures"]


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    shutil.rmtree(SESSION_DIR, ignore_errors=True)

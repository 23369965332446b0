"""Test-session environment, shared fixtures and the tiers.

Airflow reads its configuration when first imported, so the embedded test environment
(a private AIRFLOW_HOME, MLCYCLE_HOME and pipeline directory) is set here, before any test
module imports Airflow. Real loopback services come from tests/support/fixtures.py.

The folder decides a test's tier (docs/testing.md): every test under tests/unit, tests/integration
or tests/services gets the marker of that name, so ``-m unit``, ``-m "not services"`` and
``-m services`` select by folder. A tier mark written on a test that disagrees with its folder, or
a test outside the four folders (tests/compose: the podman stack), fails collection.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from mlcycle.airflow.lineage import openlineage_env

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
for _key, _value in openlineage_env().items():  # the embedded file transport under MLCYCLE_HOME
    os.environ.setdefault(_key, _value)
for _key in ("MLFLOW_TRACKING_URI", "MLCYCLE_ARTIFACT_ROOT", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
    os.environ.pop(_key, None)
(SESSION_DIR / "pipelines").mkdir(parents=True)
shutil.copy(ROOT / "config" / "pipelines" / "churn.yaml", SESSION_DIR / "pipelines" / "churn.yaml")

pytest_plugins = ["tests.support.fixtures"]


TIERS = (
    "unit",
    "integration",
    "services",
    "compose",
)  # cheapest first: `make test-unit`, `make test`, `make test-services`, `make test-compose`


def _tier_folder(path: Path) -> str | None:
    """``unit``, ``integration``, ``services`` or ``compose`` for a test file under that folder, else None."""
    try:
        parts = path.resolve().relative_to(ROOT / "tests").parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


@pytest.hookimpl(tryfirst=True)  # before -m deselects by the markers added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = []
    for item in items:
        tier = _tier_folder(item.path)
        if tier is None:
            problems.append(
                f"{item.nodeid}: lives outside the tier folders "
                "(tests/unit, tests/integration, tests/services, tests/compose); move it to the folder of its tier"
            )
            continue
        marked = sorted({mark.name for mark in item.iter_markers()} & set(TIERS) - {tier})
        if marked:
            problems.append(
                f"{item.nodeid}: marked {', '.join(marked)} but lives in tests/{tier}; "
                f"the folder decides the tier: move the test to tests/{marked[0]} or drop the mark"
            )
        item.add_marker(getattr(pytest.mark, tier))
    if problems:
        raise pytest.UsageError("tier markers and folders disagree:\n  " + "\n  ".join(problems))


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    shutil.rmtree(SESSION_DIR, ignore_errors=True)

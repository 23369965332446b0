"""`mlcycle up` (airflow standalone): the generated admin password lands in a file only its owner reads."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mlcycle.airflow.devrun import private_password_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_airflow_writes_the_generated_password_into_a_0600_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    path = private_password_file(tmp_path / "airflow")
    assert _mode(path) == 0o600
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(path))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    SimpleAuthManager().init()  # what the api-server does at start: generates and writes the password
    assert set(json.loads(path.read_text())) == {"admin"}
    assert _mode(path) == 0o600


def test_a_readable_password_file_from_an_earlier_run_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "simple_auth_manager_passwords.json.generated"
    path.write_text('{"admin": "kept"}\n')
    path.chmod(0o644)
    assert private_password_file(tmp_path) == path
    assert _mode(path) == 0o600 and json.loads(path.read_text()) == {"admin": "kept"}

"""docker-compose.yml's airflow-init script, run natively against a real PostgreSQL with .env.example's values:
it refuses the placeholders and short secrets, then a bad Fernet key, then initialises.

No Docker engine runs here, so the script the init container would run (as `docker-compose config`
resolves it) runs in bash with this checkout's Airflow, pointed at a fresh database on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.deploy.test_compose import ENV_EXAMPLE, compose_config
from tests.support.fixtures import PostgresDatabase

VENV_BIN = Path(sys.executable).parent
# .env variables airflow-init refuses while they hold .env.example's placeholders
WEAK_CHECKED = (
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_ADMIN_PASSWORD",
    "POSTGRES_PASSWORD",
    "MLFLOW_DB_PASSWORD",
    "MLFLOW_PASSWORD",
    "MLFLOW_SECRET_KEY",
    "MLCYCLE_S3_SECRET_KEY",
)
# the same secrets as the init container receives them
CONTAINER_VARS = (
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW_ADMIN_PASSWORD",
    "POSTGRES_PASSWORD",
    "MLFLOW_DB_PASSWORD",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_SECRET_KEY",
    "AWS_SECRET_ACCESS_KEY",
)


def _init_service(tmp_path: Path) -> dict[str, Any]:
    import yaml

    env_file = tmp_path / ".env"
    shutil.copy(ENV_EXAMPLE, env_file)
    proc = compose_config(env_file)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return yaml.safe_load(proc.stdout)["services"]["airflow-init"]


def _run_init(init: dict[str, Any], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert init["entrypoint"] in ("/bin/bash", ["/bin/bash"]) and init["command"][0] == "-c"
    script = init["command"][1].replace("$$", "$")  # compose's escape, as the container receives it
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_init_migrates_sets_the_admin_password_and_checks_connections(
    tmp_path: Path, postgres_database: PostgresDatabase
) -> None:
    from cryptography.fernet import Fernet

    init = _init_service(tmp_path)
    passwords = tmp_path / "auth" / "passwords.json"
    passwords.parent.mkdir()
    env = {
        **{k: str(v) for k, v in init["environment"].items()},
        # the container's paths and hosts, mapped to this machine
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_database.sqlalchemy_url,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "PYTHONWARNINGS": "ignore::UserWarning",
    }
    placeholder = _run_init(init, env)  # .env.example's placeholders, not replaced yet
    assert placeholder.returncode != 0
    for name in WEAK_CHECKED:
        assert f"{name} in .env still holds a placeholder" in placeholder.stderr, placeholder.stderr[-2000:]
    assert "change-me" not in placeholder.stderr  # named, never printed
    assert not passwords.exists()

    strong = {var: secrets.token_urlsafe(32) for var in CONTAINER_VARS}
    short = _run_init(init, {**env, **strong, "AIRFLOW__API_AUTH__JWT_SECRET": "sixteen-chars-ok"})
    assert short.returncode != 0
    assert "AIRFLOW_JWT_SECRET in .env is shorter than 32 characters" in short.stderr, short.stderr[-2000:]
    assert "sixteen-chars-ok" not in short.stderr + short.stdout
    env |= strong

    fernet = _run_init(init, env)  # the Fernet key is still .env.example's placeholder
    assert fernet.returncode != 0
    assert "AIRFLOW_FERNET_KEY in .env is not a Fernet key" in fernet.stderr, fernet.stderr[-2000:]
    assert not passwords.exists()

    env["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()  # as the user generates it
    done = _run_init(init, env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "3.3.2" in done.stdout.splitlines()[-1]  # `airflow version`, the script's last step
    assert json.loads(passwords.read_text()) == {"admin": strong["AIRFLOW_ADMIN_PASSWORD"]}
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    import psycopg

    with psycopg.connect(postgres_database.url) as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)

    broken = _run_init(init, {**env, "AIRFLOW_CONN_SMTP_DEFAULT": '{"conn_type": "smtp", "host": '})
    assert broken.returncode != 0
    assert "connection smtp_default does not parse: fix AIRFLOW_CONN_SMTP_DEFAULT in .env" in broken.stderr

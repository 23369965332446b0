"""airflow-init's secret check: placeholders, well-known defaults and short secrets are refused by name."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

from mlcycle.config.deploy_secrets import SECRETS, secret_problems

ROOT = Path(__file__).resolve().parents[3]


def _example_values() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[key] = value
    return values


def _strong() -> dict[str, str]:
    return {s.env: secrets.token_urlsafe(32) for s in SECRETS}


def test_every_placeholder_of_env_example_is_refused_by_its_env_name() -> None:
    example = _example_values()
    env = {s.env: example[s.dotenv] for s in SECRETS}  # as compose hands .env.example to airflow-init
    problems = secret_problems(env)
    assert problems == [
        f"{s.dotenv} in .env still holds a placeholder or a well-known default" for s in SECRETS
    ]


def test_generated_secrets_pass_and_short_or_default_ones_do_not() -> None:
    env = _strong()
    assert secret_problems(env) == []
    jwt, admin = SECRETS[0], SECRETS[2]
    assert secret_problems({**env, jwt.env: "a" * 31}) == [
        f"{jwt.dotenv} in .env is shorter than 32 characters"
    ]
    assert secret_problems({**env, admin.env: "Admin"}) == [
        f"{admin.dotenv} in .env still holds a placeholder or a well-known default"
    ]
    assert secret_problems({k: v for k, v in env.items() if k != admin.env}) == [
        f"{admin.dotenv} in .env is not set"
    ]


def test_the_module_exits_non_zero_naming_variables_never_values() -> None:
    env = {**_strong(), "AIRFLOW__API__SECRET_KEY": "change-me-api-secret-key", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "mlcycle.config.deploy_secrets"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "AIRFLOW_API_SECRET_KEY in .env still holds a placeholder" in proc.stderr
    assert all(v not in proc.stderr + proc.stdout for v in env.values() if len(v) > 20)
    ok = subprocess.run(
        [sys.executable, "-m", "mlcycle.config.deploy_secrets"],
        env={**_strong(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr

"""The compose stack's secrets, refused while they are placeholders or too short (run by airflow-init).

``python -m mlcycle.config.deploy_secrets`` reads the init container's environment and exits non-zero
naming each .env variable to replace; it never prints a value.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

# Fragments of the placeholders .env.example ships and of the usual defaults (lowercase).
PLACEHOLDERS = ("change-me", "changeme", "change_me", "xxxxxxxx", "placeholder", "example")
WEAK_VALUES = frozenset({"admin", "airflow", "password", "secret", "minioadmin", "mlflow", "postgres"})
GENERATE = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


@dataclass(frozen=True)
class Secret:
    env: str  # the variable in the init container
    dotenv: str  # the variable in .env the user edits
    min_length: int


SECRETS = (
    Secret("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_JWT_SECRET", 32),
    Secret("AIRFLOW__API__SECRET_KEY", "AIRFLOW_API_SECRET_KEY", 32),
    Secret("AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_ADMIN_PASSWORD", 16),
    Secret("POSTGRES_PASSWORD", "POSTGRES_PASSWORD", 16),
    Secret("MLFLOW_DB_PASSWORD", "MLFLOW_DB_PASSWORD", 16),
    Secret("MLFLOW_TRACKING_PASSWORD", "MLFLOW_PASSWORD", 16),
    Secret("MLFLOW_SECRET_KEY", "MLFLOW_SECRET_KEY", 32),
    Secret("AWS_SECRET_ACCESS_KEY", "MLCYCLE_S3_SECRET_KEY", 16),
)


def secret_problems(env: Mapping[str, str], secrets: tuple[Secret, ...] = SECRETS) -> list[str]:
    """One line per secret that is missing, a placeholder, a well-known default or too short."""
    problems = []
    for s in secrets:
        value = env.get(s.env, "")
        low = value.lower()
        if not value:
            why = "is not set"
        elif any(p in low for p in PLACEHOLDERS) or low in WEAK_VALUES:
            why = "still holds a placeholder or a well-known default"
        elif len(value) < s.min_length:
            why = f"is shorter than {s.min_length} characters"
        else:
            continue
        problems.append(f"{s.dotenv} in .env {why}")
    return problems


def main() -> int:
    problems = secret_problems(os.environ)
    if not problems:
        return 0
    lines = "\n".join(f"  - {p}" for p in problems)
    sys.stderr.write(
        f"refusing to initialise with weak secrets:\n{lines}\n"
        f"Replace each in .env with a generated value, e.g. {GENERATE}\n"
    )
    return 1


if __name__ == "__main__":
    raise SystemExit(main())

"""docker-compose.yml, Dockerfile and .env.example: validated with a real compose parser, against the lockfile.

No Docker engine runs here, so the stack itself is not started; Debian's `docker-compose` (v1.29, the
Compose-spec parser) resolves the file with `.env.example` as env file, and the checks read its output.
The same topology runs natively in the service-backed suite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
LOCK = ROOT / "requirements.lock"

AIRFLOW_SERVICES = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
]
ONE_SHOT = ["airflow-init", "minio-create-buckets"]
LONG_RUNNING = ["postgres", "redis", "minio", "mlflow", *AIRFLOW_SERVICES]
# Keys whose value is a credential (or carries one): in the file they may only be ${VAR:?...} references.
SECRET_KEY = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|SQL_ALCHEMY_CONN|RESULT_BACKEND|^AIRFLOW_CONN_")
VAR_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
INSTALL_HINT = (
    "the compose validator `docker-compose` is not installed: run "
    "`DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose` "
    "(.ci/run does this when the binary is missing)"
)


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_canonical(name)] = version.strip()
    return pins


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("[", 1)[0]).lower().strip()


def compose_config(env_file: Path | None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(INSTALL_HINT)
    args = [binary, "--project-directory", str(ROOT), "-f", str(COMPOSE)]
    if env_file is not None:
        args += ["--env-file", str(env_file)]
    # A clean environment: variables of the shell running the tests must not fill in for .env.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([*args, "config"], capture_output=True, text=True, env=env, timeout=60, check=False)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    shutil.copy(ENV_EXAMPLE, env_file)
    proc = compose_config(env_file)
    assert proc.returncode == 0, f"docker-compose config failed:\n{proc.stderr[-3000:]}"
    return yaml.safe_load(proc.stdout)


@pytest.fixture(scope="module")
def services(config: dict[str, Any]) -> dict[str, Any]:
    return config["services"]


def test_every_service_of_the_topology_is_present(services: dict[str, Any]) -> None:
    needed = {"postgres", "redis", "minio", "mlflow", *AIRFLOW_SERVICES, *ONE_SHOT}
    assert needed <= set(services), f"missing services: {sorted(needed - set(services))}"


def test_long_running_services_have_healthchecks_and_one_shots_do_not_restart(
    services: dict[str, Any],
) -> None:
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck") or {}
        assert check.get("test"), f"{name}: no healthcheck"
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        assert services[name].get("restart") == "always", f"{name}: should restart"
    for name in ONE_SHOT:
        assert services[name].get("restart") == "no", f"{name}: a one-shot must not restart"


def test_depends_on_conditions_bring_the_stack_up_in_order(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            condition = spec.get("condition")
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep} to be healthy: no check"
            elif condition == "service_completed_successfully":
                assert dep in ONE_SHOT, f"{name} waits for {dep} to complete, but {dep} is not a one-shot"
            else:
                pytest.fail(f"{name} -> {dep}: condition {condition!r}, want healthy/completed")

    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    for name in AIRFLOW_SERVICES:
        deps = conditions(name)
        assert deps["postgres"] == "service_healthy", name
        assert deps["redis"] == "service_healthy", name
        assert deps["airflow-init"] == "service_completed_successfully", name
        assert deps["minio-create-buckets"] == "service_completed_successfully", name
    worker = conditions("airflow-worker")
    assert worker["airflow-apiserver"] == "service_healthy"  # the Task SDK talks to its execution API
    assert worker["mlflow"] == "service_healthy"
    assert conditions("airflow-init") == {"postgres": "service_healthy", "redis": "service_healthy"}
    assert conditions("mlflow") == {
        "postgres": "service_healthy",
        "minio-create-buckets": "service_completed_successfully",
    }
    assert conditions("minio-create-buckets") == {"minio": "service_healthy"}


def test_worker_is_a_scalable_celery_worker_on_the_project_image(services: dict[str, Any]) -> None:
    worker = services["airflow-worker"]
    assert worker["command"] in ("celery worker", ["celery", "worker"])
    assert "container_name" not in worker and not worker.get("ports"), "--scale needs no fixed name/port"
    image = services["airflow-apiserver"]["image"]
    for name in [*AIRFLOW_SERVICES, "airflow-init", "mlflow"]:
        svc = services[name]
        assert svc["image"] == image, f"{name} runs {svc['image']}, not the project image {image}"
        assert Path(svc["build"]["context"]).resolve() == ROOT, f"{name} is not built from ./Dockerfile"
        if name != "mlflow":
            env = svc["environment"]
            assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
            assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379"), name
            assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://"), name
            assert (
                env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
            )


def test_every_image_is_pinned(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        image = svc["image"]
        tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
        assert tag and tag != "latest", f"{name}: image {image!r} is not pinned to a version"


def test_mlflow_serves_postgres_backend_and_proxies_s3_artifacts(services: dict[str, Any]) -> None:
    mlflow = services["mlflow"]
    script = " ".join(mlflow["command"])
    assert "exec mlflow server --app-name basic-auth" in script, script
    assert "--no-serve-artifacts" not in script and "--backend-store-uri" not in script
    opts = mlflow["environment"]  # `mlflow server` reads its options from these
    assert re.fullmatch(
        r"postgresql\+psycopg2://mlflow:[^@]+@postgres/mlflow", opts["MLFLOW_BACKEND_STORE_URI"]
    )
    assert opts["MLFLOW_ARTIFACTS_DESTINATION"].startswith("s3://"), "artifacts must be proxied to S3"
    assert opts["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    # both buckets the stack writes to are created before anyone uses them
    mc = " ".join(services["minio-create-buckets"]["command"])
    env = services["airflow-worker"]["environment"]
    for uri in (opts["MLFLOW_ARTIFACTS_DESTINATION"], env["MLCYCLE_ARTIFACT_ROOT"]):
        bucket = uri.removeprefix("s3://").split("/", 1)[0]
        assert f"local/{bucket}" in mc, f"bucket {bucket} of {uri} is not created by minio-create-buckets"
    # the mlflow database is created by the init script the postgres service mounts
    mounts = [
        v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in services["postgres"]["volumes"]
    ]
    init = [m for m in mounts if "/docker-entrypoint-initdb.d/" in m]
    assert init, "postgres mounts no init script for the mlflow database"
    script = Path(init[0].split(":", 1)[0])
    script = script if script.is_absolute() else ROOT / script
    assert "CREATE DATABASE mlflow" in script.read_text()


def test_settings_read_from_the_compose_environment_point_at_the_stack(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcycle.config.settings import load_settings

    env = services["airflow-worker"]["environment"]
    for key in [k for k in os.environ if k.startswith(("MLCYCLE_", "MLFLOW_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    settings = load_settings()
    assert settings.artifact_root == "s3://mlcycle/artifacts" and settings.artifacts_on_s3
    assert settings.tracking_uri == "http://mlflow:5000"
    assert _host_and_target(services["mlflow"]["ports"][0]) == ("127.0.0.1", 5000)
    assert env["MLFLOW_TRACKING_USERNAME"] and env["MLFLOW_TRACKING_PASSWORD"]  # MLflow's basic-auth app
    # boto3 reads these; the S3 endpoint is the minio service
    assert env["AWS_ENDPOINT_URL_S3"] == "http://minio:9000"
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]


def test_the_file_holds_no_secret_values() -> None:
    raw = yaml.safe_load(COMPOSE.read_text())
    checked = 0
    for name, svc in raw["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if not SECRET_KEY.search(key) or key.endswith("_FILE"):  # a path, not a secret
                continue
            refs = VAR_REF.findall(str(value))
            assert refs, f"{name}.{key} holds a literal value; take it from .env as ${{VAR:?...}}"
            for var, op, _ in refs:
                if re.search(r"PASSWORD|SECRET|FERNET|MINIO_ROOT|AIRFLOW_CONN", var):
                    assert op == ":?", (
                        f"{name}.{key}: ${{{var}}} needs no default: use ${{{var}:?set it in .env}}"
                    )
                    checked += 1
    assert checked >= 10
    # no credential-looking literal anywhere (URL userinfo with a literal password, Slack webhooks, AWS keys)
    text = COMPOSE.read_text()
    assert not re.search(r"://[^/\s:@]+:(?!\$\{)[^@\s/]+@", text), "a URL with a literal password"
    assert not re.search(r"hooks\.slack\.com/services/T|AKIA[0-9A-Z]{12}", text)


def _host_and_target(port: dict[str, Any] | str) -> tuple[str, int]:
    """docker-compose 1.29 prints a port with a host address in the short form `IP:PUBLISHED:TARGET/tcp`."""
    if isinstance(port, str):
        parts = port.split("/")[0].split(":")
        return (parts[0] if len(parts) == 3 else "0.0.0.0", int(parts[-1]))  # nosec B104
    return port.get("host_ip", "0.0.0.0"), int(port["target"])  # nosec B104


def test_only_the_ui_listens_on_every_interface(services: dict[str, Any]) -> None:
    published = {
        name: [_host_and_target(p) for p in svc.get("ports", [])]
        for name, svc in services.items()
        if svc.get("ports")
    }
    assert published == {
        "airflow-apiserver": [("0.0.0.0", 8080)],  # nosec B104 - the UI, on purpose
        "mlflow": [("127.0.0.1", 5000)],
    }, published


def test_mlflow_requires_a_login_the_tasks_have(services: dict[str, Any]) -> None:
    mlflow = services["mlflow"]
    assert "--app-name basic-auth" in " ".join(mlflow["command"])
    assert mlflow["environment"]["MLFLOW_AUTH_ADMIN_USERNAME"] == "mlcycle"
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["MLFLOW_TRACKING_USERNAME"] == mlflow["environment"]["MLFLOW_AUTH_ADMIN_USERNAME"], name
        assert env["MLFLOW_TRACKING_PASSWORD"] == mlflow["environment"]["MLFLOW_AUTH_ADMIN_PASSWORD"], name


def test_the_s3_root_pair_stays_with_minio_and_the_bucket_job(services: dict[str, Any]) -> None:
    root_password = "change-me-minio"  # .env.example's MINIO_ROOT_PASSWORD
    holders = {name for name, svc in services.items() if root_password in json.dumps(svc.get("environment"))}
    assert holders == {"minio", "minio-create-buckets"}, holders
    for name in [*AIRFLOW_SERVICES, "airflow-init", "mlflow"]:
        env = services[name]["environment"]
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
            "mlcycle-tasks",
            "change-me-s3-tasks",
        )
    job = " ".join(services["minio-create-buckets"]["command"])
    assert 'mc admin user add local "$MLCYCLE_S3_ACCESS_KEY"' in job.replace("$$", "$")
    assert "mc admin policy attach local mlcycle-tasks" in job
    policy = json.loads((ROOT / "deploy" / "s3" / "tasks-policy.json").read_text())
    resources = {r for st in policy["Statement"] for r in st["Resource"]}
    assert resources == {
        "arn:aws:s3:::mlcycle",
        "arn:aws:s3:::mlflow",
        "arn:aws:s3:::mlcycle/*",
        "arn:aws:s3:::mlflow/*",
    }
    assert not any(a == "*" or a.endswith(":*") for st in policy["Statement"] for a in st["Action"])


def test_compose_refuses_to_start_without_the_secrets() -> None:
    proc = compose_config(None)
    assert proc.returncode != 0
    assert "in .env" in proc.stderr, proc.stderr[-2000:]


def test_env_example_covers_every_variable_and_holds_placeholders_only() -> None:
    lines = [line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#")]
    wanted = {m[0] for m in VAR_REF.findall("\n".join(lines))}
    example = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            example[key.strip()] = value.strip()
    assert wanted - set(example) == set(), f".env.example lacks {sorted(wanted - set(example))}"
    assert set(example) - wanted == set(), f".env.example sets unused {sorted(set(example) - wanted)}"
    for key, value in example.items():
        if re.search(r"PASSWORD|SECRET|FERNET", key):
            assert value.startswith("change-me"), f".env.example {key}: use a change-me placeholder"
    assert '"password": "change-me-smtp"' in example["AIRFLOW_CONN_SMTP_DEFAULT"]
    assert "XXXXXXXX" in example["AIRFLOW_CONN_SLACK_DEFAULT"]
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored, ".env (real secrets) must be gitignored"
    dockerignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in dockerignore and ".git" in dockerignore and ".venv" in dockerignore


def test_dockerfile_base_image_and_pins_match_the_lockfile() -> None:
    pins = lock_pins()
    text = DOCKERFILE.read_text()
    base = re.findall(r"^ARG BASE_IMAGE=(\S+)\nFROM \$\{BASE_IMAGE\}$", text, flags=re.M)
    assert len(base) == 1 and len(re.findall(r"^FROM ", text, flags=re.M)) == 1, base
    match = re.fullmatch(r"apache/airflow:(?P<airflow>[0-9.]+)-python(?P<python>3\.\d+)", base[0])
    assert match, f"base image {base[0]} is not apache/airflow:<version>-python<x.y>"
    assert match["airflow"] == pins["apache-airflow"], (
        f"Dockerfile base image has Airflow {match['airflow']}, requirements.lock {pins['apache-airflow']}"
    )
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert f">={match['python']}" in requires, f"image Python {match['python']} vs requires-python {requires}"
    run = " ".join(re.findall(r"^RUN\s+(.+(?:\\\n.+)*)", text, flags=re.M))
    assert "pip install --no-cache-dir --no-deps --require-hashes -r requirements-runtime.lock" in run
    assert "--no-deps ." in run, "the package must be installed without re-resolving its dependencies"
    for name, version in re.findall(r"([A-Za-z0-9][A-Za-z0-9_.\[\]-]*)==([^\s\"']+)", run):
        assert pins.get(_canonical(name)) == version, (
            f"Dockerfile pins {name}=={version}, lock has {pins.get(_canonical(name))}"
        )
    for copied in re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)", text, flags=re.M):
        assert (ROOT / copied).exists(), f"Dockerfile copies {copied}, which does not exist"
    assert not re.search(r"^COPY\s+(?:--\S+\s+)*requirements\.lock", text, flags=re.M), (
        "the dev lock in the image"
    )
    env = dict(re.findall(r"(MLCYCLE_[A-Z_]+|AIRFLOW__[A-Z_]+)=(\S+)", text))
    for key in ("AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER", "MLCYCLE_CONFIG_DIR"):
        inside = env[key].removeprefix("/opt/mlcycle/")
        assert (ROOT / inside).is_dir(), f"{key}={env[key]} names no copied folder"

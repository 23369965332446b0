"""The compose stack, built and run for real with podman (docs/compose-test.md).

One session fixture does it all: the local images (deploy/compose-test/build-images.sh), the project
image from the Dockerfile on the stand-in base, a .env with generated secrets, podman's Docker API
socket for Debian's docker-compose, a health-check loop (podman has no systemd here to schedule
them), `docker-compose up`, and `docker-compose down -v` afterwards, whatever happened.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "deploy" / "compose-test"
PROJECT = "mlcyclect"
DEMO_DATA = ROOT / "data" / "demo" / "churn"
SERVICES = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
]
IMAGE = "localhost/mlcycle:compose-test"
UP_TIMEOUT = 600
HINT = "run `make test-compose` (deploy/compose-test/run.sh installs podman and docker-compose)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*args: str, env: dict[str, str] | None = None, timeout: int = 1800, check: bool = True) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args[:6])} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc.stdout


@dataclass
class Stack:
    env_file: Path
    env: dict[str, str]  # the environment docker-compose runs with (DOCKER_HOST, image names)
    dotenv: dict[str, str]
    ui_port: int
    mlflow_port: int
    timings: dict[str, float] = field(default_factory=dict)

    def compose(self, *args: str, check: bool = True, timeout: int = 900) -> str:
        files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(KIT / "compose.test.yml")]
        base = ["docker-compose", "--project-directory", str(ROOT), "-p", PROJECT, *files]
        return _run(
            *base, "--env-file", str(self.env_file), *args, env=self.env, check=check, timeout=timeout
        )

    def container(self, service: str) -> str:
        return f"{PROJECT}_{service}_1"

    def exec(self, service: str, *cmd: str, check: bool = True) -> str:
        return _run("podman", "exec", self.container(service), *cmd, check=check, timeout=300)

    def inspect(self, service: str) -> dict[str, Any]:
        return dict(json.loads(_run("podman", "inspect", self.container(service)))[0])

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The api-server's REST API, as an admin with a token from /auth/token."""
        return _http(method, f"http://127.0.0.1:{self.ui_port}/api/v2{path}", body, bearer=self.token())

    def token(self) -> str:
        url = f"http://127.0.0.1:{self.ui_port}/auth/token"
        body = {"username": "admin", "password": self.dotenv["AIRFLOW_ADMIN_PASSWORD"]}
        return str(_http("POST", url, body)["access_token"])

    def mlflow(self, path: str, auth: bool = True) -> tuple[int, Any]:
        user = (self.dotenv["MLFLOW_USERNAME"], self.dotenv["MLFLOW_PASSWORD"]) if auth else None
        url = f"http://127.0.0.1:{self.mlflow_port}{path}"
        try:
            return 200, _http("GET", url, basic=user)
        except urllib.error.HTTPError as exc:
            return exc.code, None

    def logs(self, *services: str) -> str:
        return "\n".join(
            f"--- {s}\n" + _run("podman", "logs", "--tail", "60", self.container(s), check=False)
            for s in services
        )


def _http(
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    bearer: str | None = None,
    basic: tuple[str, str] | None = None,
) -> Any:
    import base64

    headers = {"Content-Type": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(basic).encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=60) as resp:  # nosec B310 - loopback URL built here
        text = resp.read().decode()
    try:
        return json.loads(text) if text else None
    except ValueError:  # /health answers plain text
        return text


def _dotenv(tmp: Path, ui_port: int, mlflow_port: int) -> tuple[Path, dict[str, str]]:
    """.env.example with every placeholder replaced by a generated secret, as a user would."""
    from cryptography.fernet import Fernet

    values: dict[str, str] = {}
    lines = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            if "change-me" in value:
                value = secrets.token_urlsafe(32)
            values[key] = value
            lines.append(f"{key}={value}")
    values |= {
        "AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW_UI_PORT": str(ui_port),
        "MLFLOW_PORT": str(mlflow_port),
        "MLCYCLE_IMAGE": IMAGE,
        "AIRFLOW_BASE_URL": f"http://localhost:{ui_port}",
        "AIRFLOW_PARALLELISM": "4",
        "AIRFLOW_WORKER_CONCURRENCY": "2",
    }
    env_file = tmp / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    env_file.chmod(0o600)
    return env_file, values


def _healthchecks(stop: threading.Event) -> None:
    """podman schedules health checks with systemd timers; there is no systemd here, so run them.

    Each container's check runs at its own interval, as Docker would: running it more often would
    spend the retries a slow start is allowed before the container counts as unhealthy.
    """
    due: dict[str, float] = {}
    running: dict[str, subprocess.Popen[bytes]] = {}  # one check per container at a time, side by side
    while not stop.is_set():
        listing = ["podman", "ps", "--filter", f"label=com.docker.compose.project={PROJECT}", "--format"]
        for name in _run(*listing, "{{.Names}}", check=False).split():
            if time.monotonic() < due.get(name, 0.0) or (name in running and running[name].poll() is None):
                continue
            interval = _run(
                "podman", "inspect", "--format", "{{.Config.Healthcheck.Interval}}", name, check=False
            )
            due[name] = time.monotonic() + max(_go_duration(interval.strip()) or 10.0, 1.0)
            running[name] = subprocess.Popen(
                ["podman", "healthcheck", "run", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        stop.wait(1)
    for proc in running.values():
        proc.wait(timeout=120)


def _go_duration(text: str) -> float:
    """Seconds in a Go duration as podman prints it (`15s`, `1m30s`, `500ms`)."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)(ms|us|µs|ns|h|m|s)", text))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    for tool in ("podman", "docker-compose"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: {HINT}")
    tmp = tmp_path_factory.mktemp("compose")
    started = time.monotonic()
    images = dict(
        line.split("=", 1) for line in _run(str(KIT / "build-images.sh")).splitlines() if "=" in line
    )
    _run(
        "podman", "build", "--layers", "-t", IMAGE,
        "--build-arg", f"BASE_IMAGE={images['MLCYCLE_TEST_BASE']}",
        "--build-arg", f"MLCYCLE_GIT_COMMIT={_git_commit()}",
        str(ROOT),
    )  # fmt: skip
    build_s = time.monotonic() - started
    # into ./data, which docker-compose.yml mounts (the session's MLCYCLE_DATA_ROOT is elsewhere)
    _run(str(ROOT / ".venv" / "bin" / "mlcycle"), "demo-data", "--rows", "12000", "--out", str(DEMO_DATA))

    ui_port, mlflow_port = _free_port(), _free_port()
    env_file, dotenv = _dotenv(tmp, ui_port, mlflow_port)
    sock = tmp / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "-t", "0", f"unix://{sock}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C of the test must not take the API away before teardown
    )
    stop = threading.Event()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "DOCKER_HOST": f"unix://{sock}",
        "COMPOSE_HTTP_TIMEOUT": "600",
        "MLCYCLE_TEST_SERVICES": images["MLCYCLE_TEST_SERVICES"],
    }
    stack = Stack(env_file, env, dotenv, ui_port, mlflow_port)
    stack.timings["build_s"] = build_s
    try:
        for _ in range(50):
            if sock.exists():
                break
            time.sleep(0.2)
        stack.compose("down", "-v", "--remove-orphans", check=False)  # leftovers of an interrupted run
        _remove_leftovers()
        threading.Thread(target=_healthchecks, args=(stop,), daemon=True).start()
        up = time.monotonic()
        try:
            stack.compose("up", "-d", "--no-build", timeout=UP_TIMEOUT)
        except pytest.fail.Exception as exc:  # the logs go before `down` removes the containers
            pytest.fail(f"{exc}\n{stack.logs('airflow-init', 'mlflow', *SERVICES)}")
        _wait_healthy(stack)
        stack.timings["up_s"] = time.monotonic() - up
        yield stack
    finally:
        stop.set()
        stack.compose("down", "-v", "--remove-orphans", check=False)
        _remove_leftovers()
        service.terminate()
        service.wait(timeout=30)
        print(f"\ncompose timings: {stack.timings}")


def _remove_leftovers() -> None:
    """What `down` left (it needs the API socket): the project's containers, volumes and network."""
    label = f"label=com.docker.compose.project={PROJECT}"
    for kind, listing in (
        ("container", ["podman", "ps", "-a", "--filter", label, "--format", "{{.Names}}"]),
        ("volume", ["podman", "volume", "ls", "--filter", label, "--format", "{{.Name}}"]),
        ("network", ["podman", "network", "ls", "--filter", label, "--format", "{{.Name}}"]),
    ):
        names = _run(*listing, check=False).split()
        if names:
            _run("podman", kind, "rm", "-f", *names, check=False)


def _wait_healthy(stack: Stack) -> None:
    wanted = [*SERVICES, "mlflow"]
    deadline = time.monotonic() + UP_TIMEOUT
    while True:
        states = {s: stack.inspect(s)["State"].get("Health", {}).get("Status", "") for s in wanted}
        if all(v == "healthy" for v in states.values()):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the stack did not become healthy: {states}\n{stack.logs(*wanted)}")
        time.sleep(3)


def _git_commit() -> str:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or "unknown"

"""requirements-runtime.lock, the image's lock: requirements.lock's runtime part, with hashes, no dev tool.

It is generated (`make runtime-lock`) from pyproject's dependencies within requirements.lock's pins;
the dev-only packages are pyproject's `dev` extra and whatever only they pull in. This test fails
while the two locks disagree (regenerate after every change to requirements.lock).
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

from .test_compose import ROOT, _canonical, lock_pins

RUNTIME_LOCK = ROOT / "requirements-runtime.lock"
# the image's oldest Python: Debian bookworm's (the compose test's base), as `make runtime-lock` resolves
PYTHON = {"python_version": "3.11", "python_full_version": "3.11.2"}
REGENERATE = "regenerate it: make runtime-lock"


def runtime_pins() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of each entry of the runtime lock."""
    text = RUNTIME_LOCK.read_text().replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("--hash") else line
        if m := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(.*)", line.strip()):
            pins[_canonical(m[1])] = (m[2], re.findall(r"--hash=sha256:([0-9a-f]{64})", m[3]))
    return pins


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def runtime_closure() -> set[str]:
    """Every distribution pyproject's dependencies need, from the installed packages' metadata."""
    env = {**default_environment(), **PYTHON}
    extras_seen: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in _pyproject()["dependencies"]]
    while todo:
        req = todo.pop()
        name = _canonical(req.name)
        if name in extras_seen and set(req.extras) <= extras_seen[name]:
            continue
        extras = extras_seen.setdefault(name, set())
        extras |= set(req.extras)
        for text in metadata.requires(name) or []:
            dep = Requirement(text)
            if dep.marker is None or any(dep.marker.evaluate({**env, "extra": e}) for e in {"", *extras}):
                todo.append(dep)
    return set(extras_seen)


def test_every_entry_is_pinned_like_the_dev_lock_and_hashed() -> None:
    dev, runtime = lock_pins(), runtime_pins()
    assert len(runtime) > 100, f"{RUNTIME_LOCK.name} holds {len(runtime)} entries"
    wrong = {n: (v, dev.get(n)) for n, (v, _) in runtime.items() if dev.get(n) != v}
    assert wrong == {}, (
        f"runtime pins that differ from requirements.lock (runtime, dev): {wrong}; {REGENERATE}"
    )
    unhashed = sorted(n for n, (_, hashes) in runtime.items() if not hashes)
    assert unhashed == [], f"entries without --hash: {unhashed}"


def test_it_is_exactly_the_runtime_closure_of_pyproject() -> None:
    runtime, closure = set(runtime_pins()), runtime_closure()
    assert closure - runtime == set(), (
        f"needed at runtime but missing: {sorted(closure - runtime)}; {REGENERATE}"
    )
    assert runtime - closure == set(), (
        f"in the runtime lock but not needed: {sorted(runtime - closure)}; {REGENERATE}"
    )


def test_no_dev_tool_and_nothing_only_a_dev_tool_needs() -> None:
    dev_tools = {_canonical(Requirement(r).name) for r in _pyproject()["optional-dependencies"]["dev"]}
    runtime = set(runtime_pins())
    assert runtime & dev_tools == set(), sorted(runtime & dev_tools)
    # the dev lock minus the runtime lock: the dev tools and what only they pull in
    dev_only = set(lock_pins()) - runtime
    assert dev_tools <= dev_only and {"pluggy", "iniconfig"} & runtime == {"pluggy"}  # pluggy: Airflow's too
    assert "iniconfig" in dev_only  # pytest's alone


def test_the_image_installs_the_runtime_lock_with_hashes() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY --chown=airflow:0 requirements-runtime.lock ./" in dockerfile
    assert "pip install --no-cache-dir --no-deps --require-hashes -r requirements-runtime.lock" in dockerfile
    assert "make runtime-lock" in RUNTIME_LOCK.read_text().splitlines()[1]
    assert Path(ROOT / "Makefile").read_text().count("requirements-runtime.lock") >= 1

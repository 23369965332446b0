"""Load pipeline YAML files: parse safely, validate, and word every problem as file: key: fix."""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from mlcycle.config.estimators import ESTIMATORS
from mlcycle.config.guards import yaml_shape_problem
from mlcycle.config.rules import _all_rule_problems
from mlcycle.config.schema import PipelineConfig
from mlcycle.errors import ConfigError

PIPELINE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

# libyaml's safe loader is much faster than the pure-Python one, and every DAG parse loads every YAML
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Pipeline(BaseModel):
    """A validated pipeline: its name (the file stem), where it came from, and its config."""

    model_config = ConfigDict(frozen=True)

    name: str
    path: str
    config: PipelineConfig
    config_sha256: str
    source_text: str

    @property
    def model_name(self) -> str:
        return self.config.registry.model_name or self.name

    @property
    def train_dag_id(self) -> str:
        return f"{self.name}__train"

    @property
    def monitor_dag_id(self) -> str:
        return f"{self.name}__monitor"

    @property
    def rollback_dag_id(self) -> str:
        return f"{self.name}__rollback"

    @property
    def approve_dag_id(self) -> str:
        return f"{self.name}__approve"


def _suggest(word: str, choices: list[str]) -> list[str]:
    """Closest choice, case-insensitively ('c' suggests 'C')."""
    by_lower = {c.lower(): c for c in choices}
    return [by_lower[m] for m in difflib.get_close_matches(word.lower(), list(by_lower), n=1)]


def _describe(err: Any, allowed_keys: list[str] | None) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        hint = _suggest(key, allowed_keys or [])
        msg = "unknown key"
        if hint:
            msg += f"; did you mean {hint[0]!r}?"
        if allowed_keys:
            msg += f" (allowed: {', '.join(allowed_keys)})"
        return msg
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {err.get('input')!r}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    return f"{err['msg'].lower()} (got {err.get('input')!r})"


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Field names of the model that owns ``loc[:-1]``, for 'did you mean' hints."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        current = None
        for candidate in (ann, *getattr(ann, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                current = candidate
    return sorted(current.model_fields) if current is not None else None


def _problems(exc: ValidationError, model: type[BaseModel], prefix: tuple[Any, ...] = ()) -> list[str]:
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        full = (*prefix, *loc)
        key = ".".join(str(p) for p in full) or "(top level)"
        out.append(f"{key}: {_describe(err, _allowed_keys(model, loc))}")
    return out


def _param_problems(cfg: PipelineConfig) -> list[str]:
    spec = ESTIMATORS[cfg.model.estimator]
    try:
        spec.params.model_validate(cfg.model.params)
    except ValidationError as exc:
        return _problems(exc, spec.params, ("model", "params"))
    return []


def _path_problems(cfg: PipelineConfig) -> list[str]:
    """Sources that escape the data root or ``$MLCYCLE_ALLOWED_SOURCES`` (text only, no I/O)."""
    from mlcycle.config.guards import allowed_sources, source_problem

    data_root = Path(os.environ.get("MLCYCLE_DATA_ROOT") or project_root())
    roots = allowed_sources()
    out = []
    for key, source in (("data.source", cfg.data.source), ("monitoring.source", cfg.monitoring.source)):
        problem = source_problem(source, data_root, roots) if source else None
        if problem:
            out.append(f"{key}: {source!r} {problem}")
    return out


def parse_pipeline(text: str, path: str, name: str | None = None) -> Pipeline:
    """Validate one pipeline's YAML text; raise ConfigError naming ``path`` and each dotted key."""
    name = name if name is not None else Path(path).stem
    if not PIPELINE_NAME.match(name):
        raise ConfigError(
            path, [f"file name {name!r}: use lowercase letters, digits and '_' (it becomes the DAG id)"]
        )
    try:
        shape = yaml_shape_problem(text, SAFE_LOADER)
        if shape:
            raise ConfigError(path, [f"not valid YAML: {shape}"])
        raw = yaml.load(text, Loader=SAFE_LOADER)  # nosec B506  # SAFE_LOADER is yaml's (C)SafeLoader
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML (only plain YAML is accepted, no tags): {exc}"]) from exc
    except RecursionError as exc:
        raise ConfigError(path, ["not valid YAML: nested too deeply; flatten the file"]) from exc
    except ValueError as exc:  # PyYAML builds dates and ints itself: '2025-02-30', 5000-digit numbers
        raise ConfigError(
            path, [f"not valid YAML: a value cannot be read ({exc}); quote it or fix it"]
        ) from exc
    if not isinstance(raw, dict):
        raise ConfigError(path, ["the file must hold a mapping with keys data, model, evaluation, ..."])
    try:
        cfg = PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, _problems(exc, PipelineConfig)) from exc
    except RecursionError as exc:
        raise ConfigError(path, ["a value is nested too deeply; flatten the file"]) from exc
    params = _param_problems(cfg) + _path_problems(cfg) + _all_rule_problems(cfg)
    if params:
        raise ConfigError(path, params)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return Pipeline(name=name, path=path, config=cfg, config_sha256=digest, source_text=text)


def load_pipeline(path: str | os.PathLike[str]) -> Pipeline:
    """Read and validate one pipeline YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read the file: {exc.strerror or exc}"]) from exc
    return parse_pipeline(text, str(p))


def config_dir() -> Path:
    """The pipeline directory: ``$MLCYCLE_CONFIG_DIR`` or ``config/pipelines`` of this project."""
    env = os.environ.get("MLCYCLE_CONFIG_DIR")
    if env:
        return Path(env)
    return project_root() / "config" / "pipelines"


def project_root() -> Path:
    """The project directory: ``$MLCYCLE_PROJECT_ROOT``, else the checkout holding this package."""
    env = os.environ.get("MLCYCLE_PROJECT_ROOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "config").is_dir():
            return parent
    return Path.cwd()


def pipeline_files(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    d = Path(directory) if directory is not None else config_dir()
    return sorted([*d.glob("*.yaml"), *d.glob("*.yml")])


def load_all(directory: str | os.PathLike[str] | None = None) -> tuple[list[Pipeline], list[ConfigError]]:
    """Load every pipeline in ``directory``; return the valid ones and the errors of the rest."""
    good: list[Pipeline] = []
    bad: list[ConfigError] = []
    names: dict[str, str] = {}
    for path in pipeline_files(directory):
        try:
            pipe = load_pipeline(path)
        except ConfigError as exc:
            bad.append(exc)
            continue
        if pipe.name in names:
            bad.append(
                ConfigError(str(path), [f"pipeline name {pipe.name!r} also used by {names[pipe.name]}"])
            )
            continue
        names[pipe.name] = str(path)
        good.append(pipe)
    return good, bad


def find_pipeline(name: str, directory: str | os.PathLike[str] | None = None) -> Pipeline:
    for path in pipeline_files(directory):
        if path.stem == name:
            return load_pipeline(path)
    d = Path(directory) if directory is not None else config_dir()
    known = [p.stem for p in pipeline_files(d)]
    raise ConfigError(str(d), [f"no pipeline named {name!r}; known: {', '.join(known) or 'none'}"])

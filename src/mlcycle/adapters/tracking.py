"""MLflow tracking behind one small interface: experiments, runs and what they log, artifacts read back.

``Tracking`` is the only object that talks to MLflow's tracking API; it points MLflow at the
configured server once, when it is built (``adapters.wiring.open_tracking``). A step writes into a run
through the ``TrackedRun`` that ``Tracking.run`` yields.
"""

from __future__ import annotations

import os
import subprocess  # nosec B404  # only `git rev-parse HEAD` (fixed argv, no shell)
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcycle.config.loader import project_root
from mlcycle.core.names import Tag
from mlcycle.errors import StorageError


@dataclass(frozen=True)
class RunInfo:
    """What ops read back from a tracked run."""

    run_id: str
    experiment_id: str
    start_time: int | None
    status: str
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def _run_info(run: Any) -> RunInfo:
    return RunInfo(
        run_id=run.info.run_id,
        experiment_id=str(run.info.experiment_id),
        start_time=run.info.start_time,
        status=run.info.status,
        tags=dict(run.data.tags),
        metrics=dict(run.data.metrics),
    )


class TrackedRun:
    """The active MLflow run of a ``with Tracking.run(...)`` block."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def log_params(self, params: dict[str, Any]) -> None:
        import mlflow

        mlflow.log_params(params)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        import mlflow

        mlflow.log_metrics(metrics)

    def log_metric(self, name: str, value: float) -> None:
        import mlflow

        mlflow.log_metric(name, value)

    def set_tags(self, tags: dict[str, Any]) -> None:
        import mlflow

        mlflow.set_tags(tags)

    def log_text(self, text: str, artifact_file: str) -> None:
        import mlflow

        mlflow.log_text(text, artifact_file)

    def log_dict(self, payload: Any, artifact_file: str) -> None:
        import mlflow

        mlflow.log_dict(payload, artifact_file)

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> None:
        import mlflow

        mlflow.log_artifact(str(local_path), artifact_path)

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        import mlflow

        mlflow.log_artifacts(str(local_dir), artifact_path)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        import mlflow

        mlflow.log_figure(figure, artifact_file)


def use_tracking_uri(tracking_uri: str) -> None:
    """Point MLflow's client at ``tracking_uri``: runs, and the ``models:/`` URIs model files load from."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bars in task logs


class Tracking:
    """MLflow tracking at ``tracking_uri``; experiments keep artifacts under ``artifact_root`` unless
    the tracking URI is a server (which then chooses)."""

    def __init__(self, tracking_uri: str, artifact_root: str) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        use_tracking_uri(tracking_uri)

    @property
    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self, pipeline: str, kind: str | None = None) -> str:
        """The pipeline's experiment (``mlcycle/<name>``, or ``mlcycle/<name>/<kind>``), created once."""
        import mlflow

        name = f"mlcycle/{pipeline}" + (f"/{kind}" if kind else "")
        existing = mlflow.get_experiment_by_name(name)
        if existing is not None:
            return str(existing.experiment_id)
        folder = pipeline + (f"-{kind}" if kind else "")
        server = self.tracking_uri.startswith(("http://", "https://"))
        location = None if server else f"{self.artifact_root}/{folder}"
        try:
            return str(
                mlflow.create_experiment(name, artifact_location=location, tags={Tag.PIPELINE: pipeline})
            )
        except Exception:
            # Another task created it between our lookup and create; use theirs.
            again = mlflow.get_experiment_by_name(name)
            if again is None:
                raise
            return str(again.experiment_id)

    @contextmanager
    def run(
        self,
        run_id: str | None = None,
        *,
        experiment_id: str | None = None,
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> Iterator[TrackedRun]:
        """Resume ``run_id``, or start a new run in ``experiment_id``; everything logged goes there."""
        import mlflow

        with mlflow.start_run(
            run_id=run_id, experiment_id=experiment_id, run_name=run_name, tags=tags
        ) as active:
            yield TrackedRun(active.info.run_id)

    def run_tags(self, run_id: str) -> dict[str, str]:
        import mlflow

        return dict(mlflow.get_run(run_id).data.tags)

    def run_info(self, run_id: str) -> RunInfo:
        return _run_info(self.client.get_run(run_id))

    def latest_runs(self, experiment_name: str, count: int = 1) -> list[RunInfo]:
        """The newest runs of an experiment, newest first (none if it does not exist)."""
        client = self.client
        exp = client.get_experiment_by_name(experiment_name)
        if exp is None:
            return []
        runs = client.search_runs(
            [exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=count
        )
        return [_run_info(r) for r in runs]

    def download(
        self,
        dst: str | Path,
        *,
        run_id: str | None = None,
        artifact_path: str | None = None,
        artifact_uri: str | None = None,
    ) -> Path:
        """A local copy of a run's artifact (or of ``artifact_uri``) under ``dst``; StorageError if it cannot be had."""
        import mlflow

        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=artifact_path, artifact_uri=artifact_uri, dst_path=str(dst)
            )
        except mlflow.exceptions.MlflowException as exc:
            raise StorageError(str(exc)) from exc
        return Path(local)

    def artifact_text(self, run_id: str, path: str) -> str | None:
        """A run's text artifact, or None when it was not logged (or cannot be read)."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                return self.download(tmp, run_id=run_id, artifact_path=path).read_text()
            except (StorageError, OSError):
                return None


def git_commit_info() -> tuple[str, str]:
    """The commit the code was trained from, and where it came from (or why it is ``unknown``)."""
    env = os.environ.get("MLCYCLE_GIT_COMMIT")
    if env:
        return env, "from MLCYCLE_GIT_COMMIT"
    root = project_root()
    try:
        out = subprocess.run(  # nosec B603 B607  # fixed argv; git from PATH on purpose; failure tolerated
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except OSError as exc:
        return "unknown", f"git could not run in {root} ({type(exc).__name__}); set MLCYCLE_GIT_COMMIT"
    except subprocess.CalledProcessError as exc:
        why = (exc.stderr or "").strip().splitlines()[:1] or [f"exit {exc.returncode}"]
        return "unknown", f"{root} is not a git checkout ({why[0][:200]}); set MLCYCLE_GIT_COMMIT"
    except subprocess.SubprocessError as exc:
        return "unknown", f"git rev-parse failed in {root} ({type(exc).__name__}); set MLCYCLE_GIT_COMMIT"
    commit = out.stdout.strip()
    if not commit:
        return "unknown", f"git rev-parse HEAD printed nothing in {root}; set MLCYCLE_GIT_COMMIT"
    return commit, f"git rev-parse HEAD in {root}"


def package_versions() -> dict[str, str]:
    from importlib.metadata import version

    names = [
        "mlcycle",
        "scikit-learn",
        "pandas",
        "numpy",
        "pyarrow",
        "mlflow",
        "great-expectations",
        "apache-airflow",
    ]
    return {n: version(n) for n in names}

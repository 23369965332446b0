"""MLflow tracking: experiments, lineage of the code version, plots."""

from __future__ import annotations

import os
import subprocess  # nosec B404  # only `git rev-parse HEAD` (fixed argv, no shell)
from typing import TYPE_CHECKING

from mlcycle.config.loader import Pipeline, project_root
from mlcycle.core.metrics import Predictions

if TYPE_CHECKING:
    import pandas as pd


def experiment_id(pipe: Pipeline, tracking_uri: str, artifact_root: str, kind: str | None = None) -> str:
    """The pipeline's MLflow experiment (``mlcycle/<name>``, or ``mlcycle/<name>/<kind>``), created once."""
    import mlflow

    name = f"mlcycle/{pipe.name}" + (f"/{kind}" if kind else "")
    mlflow.set_tracking_uri(tracking_uri)
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    folder = pipe.name + (f"-{kind}" if kind else "")
    location = None if tracking_uri.startswith(("http://", "https://")) else f"{artifact_root}/{folder}"
    try:
        return str(
            mlflow.create_experiment(name, artifact_location=location, tags={"mlcycle.pipeline": pipe.name})
        )
    except Exception:
        # Another task created it between our lookup and create; use theirs.
        again = mlflow.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)

def git_commit() -> str:
    return git_commit_info()[0]

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


def log_plots(pipe: Pipeline, scored: Predictions, y: pd.Series) -> list[str]:
    """Confusion matrix and ROC curve (classification) or residuals (regression) into the active run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    names = []
    if pipe.config.model.is_classification:
        fig, ax = plt.subplots(figsize=(5, 4))
        ConfusionMatrixDisplay.from_predictions(y, scored.values, ax=ax, colorbar=False)
        ax.set_title(f"{pipe.name}: confusion matrix (holdout)")
        mlflow.log_figure(fig, "plots/confusion_matrix.png")
        plt.close(fig)
        names.append("plots/confusion_matrix.png")
        if pipe.config.model.task == "binary_classification" and y.nunique() == 2 and scored.proba is not None:
            fig, ax = plt.subplots(figsize=(5, 4))
            pos = scored.positive
            RocCurveDisplay.from_predictions(
                y, scored.proba[:, list(scored.classes).index(pos)], ax=ax, pos_label=pos
            )
            ax.set_title(f"{pipe.name}: ROC (holdout)")
            mlflow.log_figure(fig, "plots/roc_curve.png")
            plt.close(fig)
            names.append("plots/roc_curve.png")
    else:
        pred = scored.values
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(pred, y - pred, s=4, alpha=0.4)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("residual")
        ax.set_title(f"{pipe.name}: residuals (holdout)")
        mlflow.log_figure(fig, "plots/residuals.png")
        plt.close(fig)
        names.append("plots/residuals.png")
    return names

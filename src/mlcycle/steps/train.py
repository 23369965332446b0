"""Training: the configured scikit-learn pipeline, fitted on the train split, logged to MLflow."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlcycle.adapters.model_files import log_sklearn_model
from mlcycle.adapters.sources import load_snapshot, release_freed_memory
from mlcycle.adapters.tracking import TrackedRun, Tracking, git_commit_info, package_versions
from mlcycle.config.estimators import ESTIMATORS, make_estimator
from mlcycle.config.loader import Pipeline
from mlcycle.core.features import (
    categorical_encoding,
    feature_frame,
    split_indices,
    target_values,
)
from mlcycle.core.names import Artifact, Tag, config_artifact
from mlcycle.core.records import DataChecks, Snapshot, TrainResult
from mlcycle.errors import TrainingError
from mlcycle.steps.context import Env, RunContext

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


NATIVE_MAX_CATEGORIES = 255  # HistGradientBoosting's categorical limit (max_bins)


def build_pipeline(pipe: Pipeline) -> Any:
    """Preprocessing for numeric and categorical features followed by the estimator."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline as SkPipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    features = pipe.config.data.features
    model = pipe.config.model
    spec = ESTIMATORS[model.estimator]
    estimator = make_estimator(model.estimator, model.params, model.split.seed)
    transformers: list[tuple[str, Any, list[str]]] = []
    if spec.native_categorical:
        # NaNs stay NaN and each category one code (rare ones pooled, at most HistGradientBoosting's
        # 255 bins); a category unseen in training is coded NaN, i.e. treated as missing.
        if features.numeric:
            transformers.append(("numeric", "passthrough", features.numeric))
        if features.categorical:
            encoder = OrdinalEncoder(
                handle_unknown="use_encoded_value",
                unknown_value=np.nan,
                encoded_missing_value=np.nan,
                min_frequency=5,
                max_categories=NATIVE_MAX_CATEGORIES,
            )
            transformers.append(("categorical", encoder, features.categorical))
        mask = [False] * len(features.numeric) + [True] * len(features.categorical)
        estimator.set_params(categorical_features=mask if features.categorical else None)
    else:
        numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        if spec.scale_numeric:
            numeric_steps.append(("scale", StandardScaler()))
        if features.numeric:
            transformers.append(("numeric", SkPipeline(numeric_steps), features.numeric))
        if features.categorical:
            categorical = SkPipeline(
                [
                    ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
                    ("onehot", OneHotEncoder(handle_unknown="ignore", min_frequency=5, sparse_output=False)),
                ]
            )
            transformers.append(("categorical", categorical, features.categorical))
    pre = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    return SkPipeline([("preprocess", pre), ("estimator", estimator)])


@dataclass
class TrainingData:
    """What the fit needs from a snapshot: the training rows' features and target, the split sizes and,
    when monitored, the drift reference's inputs. Holding this instead of the snapshot frame lets the
    frame be freed before the fit (the frame alone is about the data's Arrow size)."""

    X_train: pd.DataFrame | None
    y_train: pd.Series
    train_rows: int
    test_rows: int
    reference: Any  # monitoring.ReferenceInputs | None

    def take_features(self) -> pd.DataFrame:
        """Hand over the training features (once): the fit frees them after preprocessing."""
        X, self.X_train = self.X_train, None
        if X is None:
            raise RuntimeError("the training features were already handed to a fit")
        return X

    def head(self, rows: int = 5) -> pd.DataFrame:
        """The first training rows (the model's signature and input example), before the fit takes them."""
        if self.X_train is None:
            raise RuntimeError("the training features were already handed to a fit")
        return self.X_train.head(rows).copy()


def prepare_training(pipe: Pipeline, frame: pd.DataFrame) -> TrainingData:
    """Split ``frame`` and take the training rows' features and target (and the drift reference's inputs).

    The caller should not keep ``frame``: it is dropped here as soon as the features are built.
    """
    train_pos, test_pos = split_indices(pipe, frame)
    y = target_values(pipe, frame)
    X = feature_frame(pipe, frame)
    del frame  # the last reference when the caller passed it straight in (stages.train)
    y_train = y.iloc[train_pos]
    if pipe.config.model.is_classification and y_train.nunique() < 2:
        raise TrainingError(
            f"target column {pipe.config.data.target!r} has a single class "
            f"({y_train.unique().tolist()}) in the training split; a classifier needs at least two"
        )
    reference = None
    if pipe.config.monitoring_enabled:
        from mlcycle.steps.reference import reference_inputs

        reference = reference_inputs(pipe, X)  # every row's feature statistics: the monitor's reference
    return TrainingData(X.iloc[train_pos], y_train, len(train_pos), len(test_pos), reference)


def train_model(
    pipe: Pipeline,
    frame: pd.DataFrame | TrainingData,
    snapshot: Snapshot,
    ctx: RunContext,
    tracking: Tracking,
) -> TrainResult:
    """Fit on the train split and log params, lineage tags and the model to a new MLflow run.

    ``frame`` is the snapshot, or what ``prepare_training`` took from it (the snapshot already freed).
    """
    model_cfg = pipe.config.model
    data = frame if isinstance(frame, TrainingData) else prepare_training(pipe, frame)
    del frame
    y_train = data.y_train
    example = data.head(5)  # the signature's and input example's rows
    exp_id = tracking.experiment_id(pipe.name)
    estimator = build_pipeline(pipe)
    commit, commit_source = git_commit_info()
    tags = {
        Tag.PIPELINE: pipe.name,
        Tag.CONFIG_PATH: pipe.path,
        Tag.CONFIG_SHA256: pipe.config_sha256,
        Tag.SNAPSHOT_URI: snapshot.uri,
        Tag.SNAPSHOT_SHA256: snapshot.sha256,
        Tag.SNAPSHOT_ROWS: str(snapshot.rows),
        Tag.WINDOW: f"{snapshot.window_start}..{snapshot.window_end}",
        Tag.GIT_COMMIT: commit,
        Tag.GIT_COMMIT_SOURCE: commit_source,
        **ctx.tags(),
    }
    params = {
        "estimator": model_cfg.estimator,
        "task": model_cfg.task,
        **{f"param.{k}": v for k, v in _resolved_params(pipe).items()},
        "split.strategy": model_cfg.split.strategy,
        "split.test_size": model_cfg.split.test_size,
        "split.seed": model_cfg.split.seed,
        "features.numeric": ",".join(pipe.config.data.features.numeric),
        "features.categorical": ",".join(pipe.config.data.features.categorical),
        "features.categorical_encoding": categorical_encoding(pipe),
        "target": pipe.config.data.target,
        "train_rows": data.train_rows,
        "test_rows": data.test_rows,
    }
    with tracking.run(experiment_id=exp_id, run_name=f"{ctx.run_id}", tags=tags) as run:
        run.log_params(params)
        run.log_text(pipe.source_text, config_artifact(pipe.name))
        run.log_dict(snapshot.to_xcom(), Artifact.SNAPSHOT)
        run.log_dict(package_versions(), Artifact.PACKAGES)
        try:
            fit_pipeline(estimator, data)
        except (ValueError, TypeError) as exc:
            raise TrainingError(
                f"{model_cfg.estimator} could not be fitted on {snapshot.uri}: {exc}"
            ) from exc
        model_uri = log_sklearn_model(estimator, example)
        if data.reference is not None:
            from mlcycle.steps.reference import complete_reference, log_reference

            log_reference(run, *complete_reference(pipe, estimator, data.reference))  # stored with the model
        registration = _log_serving_companions(pipe, y_train, model_uri, run, tracking)
        run.set_tags({k: v for k, v in registration.items() if k != Tag.MODEL_FILES})
        return TrainResult(
            run_id=run.run_id,
            model_uri=model_uri,
            experiment_id=exp_id,
            train_rows=data.train_rows,
            test_rows=data.test_rows,
            registration_tags=registration,
        )


def fit_pipeline(model: Any, data: TrainingData) -> Any:
    """``model.fit(X_train, y_train)`` for a scikit-learn Pipeline, step by step, each step's input
    dropped once it is transformed: what ``Pipeline.fit`` does, without the training frame alive
    through the estimator's fit. Takes the features from ``data``."""
    X, y = data.take_features(), data.y_train
    for _, step in model.steps[:-1]:
        X = step.fit_transform(X, y)  # rebinding releases the previous input
    model.steps[-1][1].fit(X, y)
    return model


def _log_serving_companions(
    pipe: Pipeline, y_train: pd.Series, model_uri: str, run: TrackedRun, tracking: Tracking
) -> dict[str, str]:
    """Log the fallback and the postprocess rules as JSON next to the model, and checksum all three."""
    from mlcycle.adapters.model_files import checksum_tags, dump_json
    from mlcycle.core.fallback import fit_fallback

    fallback_text, fallback_sha = dump_json(fit_fallback(pipe, y_train))
    rules_text, rules_sha = dump_json([r.model_dump() for r in pipe.config.postprocess.rules])
    run.log_text(fallback_text, Artifact.FALLBACK)
    run.log_text(rules_text, Artifact.RULES)
    with tempfile.TemporaryDirectory(prefix="mlcycle-sum-") as tmp:
        tags = checksum_tags(tracking.download(tmp, artifact_uri=model_uri))
    return {
        **tags,
        Tag.FALLBACK_SHA256: fallback_sha,
        Tag.FALLBACK_KIND: pipe.config.fallback_kind,
        Tag.RULES_SHA256: rules_sha,
    }


def _resolved_params(pipe: Pipeline) -> dict[str, Any]:
    """The estimator's params with defaults filled in, as trained."""
    model = pipe.config.model
    return ESTIMATORS[model.estimator].params.model_validate(model.params).model_dump()


def train(env: Env, snapshot: Snapshot, checks: DataChecks) -> TrainResult:
    """Fit the model on the snapshot that passed ``checks`` (the check_data record); record both in MLflow."""
    from mlcycle.core.features import training_columns
    from mlcycle.steps.threads import compute_threads

    # the snapshot frame lives only inside prepare_training: freed before the fit
    data = prepare_training(env.pipe, load_snapshot(env.store, snapshot.key, training_columns(env.pipe)))
    release_freed_memory()
    with compute_threads():
        result = train_model(env.pipe, data, snapshot, env.ctx, env.tracking)
    log.info("trained %s in MLflow run %s", env.pipe.config.model.estimator, result.run_id)
    record_data_checks(env, result.run_id, checks)
    return result


def record_data_checks(env: Env, run_id: str, checks: DataChecks) -> None:
    """Copy this run's data-check result (the check_data record) into the MLflow run, for lineage."""
    summary = checks.result
    with env.tracking.run(run_id) as run:
        run.set_tags(
            {
                Tag.DATA_CHECKS: "passed" if summary["success"] else "failed",
                Tag.DATA_CHECKS_SUMMARY: (
                    f"{summary['evaluated'] - len(summary['failures'])}/{summary['evaluated']} "
                    f"expectations passed on {summary['rows']} rows"
                ),
                Tag.DATA_CHECKS_URI: checks.report_uri,
            }
        )
        run.log_dict(summary, Artifact.DATA_CHECKS)

"""Training: the configured scikit-learn pipeline, fitted on the train split, logged to MLflow."""

from __future__ import annotations

import os
import subprocess  # nosec B404  # only `git rev-parse HEAD` (fixed argv, no shell)
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mlcycle.columns import category_labels
from mlcycle.config import Pipeline, project_root
from mlcycle.errors import TrainingError
from mlcycle.estimators import ESTIMATORS, make_estimator
from mlcycle.integrity import MODEL_FILES_TAG, foreign_types

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MODEL_ARTIFACT = "model"
NATIVE_MAX_CATEGORIES = 255  # HistGradientBoosting's categorical limit (max_bins)


@dataclass(frozen=True)
class RunContext:
    """Where a stage runs: the Airflow run that asked for it."""

    dag_id: str
    run_id: str
    logical_date: str
    try_number: int = 1

    def tags(self) -> dict[str, str]:
        return {
            "airflow.dag_id": self.dag_id,
            "airflow.run_id": self.run_id,
            "airflow.logical_date": self.logical_date,
            "airflow.try_number": str(self.try_number),
        }


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_uri: str
    experiment_id: str
    train_rows: int
    test_rows: int
    # checksums of the model files, the fallback and the postprocess rules, tagged on the version
    registration_tags: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def categorical_encoding(pipe: Pipeline) -> str:
    """How the model sees categorical features (an MLflow param: models differ by it)."""
    return "ordinal, native" if ESTIMATORS[pipe.config.model.estimator].native_categorical else "one-hot"


def feature_frame(pipe: Pipeline, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns, categoricals as strings (stable across CSV and Parquet).

    One copy of the data: the numeric features as one float64 block, each categorical as an object
    column whose rows share one string per category (``columns.category_labels``).
    """
    import numpy as np
    import pandas as pd

    features = pipe.config.data.features
    numeric = frame[features.numeric].to_numpy(dtype="float64", na_value=np.nan) if features.numeric else None
    out = pd.DataFrame(numeric, index=frame.index, columns=list(features.numeric), copy=False)
    for col in features.categorical:
        out[col] = category_labels(frame[col])  # 1 and 1.0 (a CSV with a null) are one category
    return out


def sortable(values: pd.Series) -> Any:
    """A column as a numpy array that sorts natively: tz-aware timestamps as UTC datetime64, not objects.

    ``to_numpy()`` of a tz-aware column is an object array of Timestamps: sorting it took 1.3 s for
    240k rows against 0.01 s for datetime64 (the time split of a 300k-row snapshot, twice per run).
    """
    import pandas as pd

    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    return values.to_numpy()


def split_indices(pipe: Pipeline, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train/test row positions: random (seeded, stratified) or by time."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    split = pipe.config.model.split
    positions = np.arange(len(frame))
    if split.strategy == "time":
        ts_col = pipe.config.data.timestamp_column
        order = np.argsort(sortable(frame[ts_col]), kind="stable")
        cut = int(round(len(frame) * (1 - split.test_size)))
        return np.sort(order[:cut]), np.sort(order[cut:])
    stratify = None
    if pipe.config.model.is_classification and split.stratify:
        y = frame[pipe.config.data.target]
        if y.value_counts().min() >= 2:
            stratify = y.to_numpy()
    train, test = train_test_split(
        positions, test_size=split.test_size, random_state=split.seed, stratify=stratify
    )
    return np.sort(train), np.sort(test)


def target_values(pipe: Pipeline, frame: pd.DataFrame) -> pd.Series:
    y = frame[pipe.config.data.target]
    if pipe.config.model.is_classification:
        if y.isna().any():
            raise TrainingError(
                f"target column {pipe.config.data.target!r} has {int(y.isna().sum())} nulls; "
                "add expect_column_values_to_not_be_null for it under checks.expectations"
            )
        return y
    return y.astype("float64")


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


def trusted_types(model: Any) -> list[str]:
    """The skops types of ``model``; refuse any outside scikit-learn, numpy and scipy."""
    import skops.io as sio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skops probes module attributes; Airflow warns on each probe
        types = sio.get_untrusted_types(data=sio.dumps(model))
    foreign = foreign_types(types)
    if foreign:
        raise TrainingError(f"the fitted model contains types skops should not trust: {foreign}")
    return types


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


@dataclass
class TrainingData:
    """What the fit needs from a snapshot: the training rows' features and target, the split sizes and,
    when monitored, the drift reference's inputs. Holding this instead of the snapshot frame lets the
    frame be freed before the fit (at 10M rows the frame alone is ~1x the data's Arrow size)."""

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


def training_columns(pipe: Pipeline) -> list[str]:
    """The snapshot columns training reads: features, target and the time split's timestamp."""
    data = pipe.config.data
    wanted = [*data.features.all, data.target, data.timestamp_column]
    return list(dict.fromkeys(c for c in wanted if c))


def evaluation_columns(pipe: Pipeline) -> list[str]:
    """The snapshot columns evaluation reads: training's, and the slice and fairness columns."""
    ev = pipe.config.evaluation
    wanted = [*training_columns(pipe), *ev.slices, *([ev.fairness.sensitive] if ev.fairness else [])]
    return list(dict.fromkeys(wanted))


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
        from mlcycle.monitoring import reference_inputs

        reference = reference_inputs(pipe, X)  # every row's feature statistics: the monitor's reference
    return TrainingData(X.iloc[train_pos], y_train, len(train_pos), len(test_pos), reference)


def train_model(
    pipe: Pipeline,
    frame: pd.DataFrame | TrainingData,
    snapshot: dict[str, Any],
    ctx: RunContext,
    tracking_uri: str,
    artifact_root: str,
) -> TrainResult:
    """Fit on the train split and log params, lineage tags and the model to a new MLflow run.

    ``frame`` is the snapshot, or what ``prepare_training`` took from it (the snapshot already freed).
    """
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    model_cfg = pipe.config.model
    data = frame if isinstance(frame, TrainingData) else prepare_training(pipe, frame)
    del frame
    y_train = data.y_train
    example = data.head(5)  # the signature's and input example's rows
    exp_id = experiment_id(pipe, tracking_uri, artifact_root)
    estimator = build_pipeline(pipe)
    commit, commit_source = git_commit_info()
    tags = {
        "mlcycle.pipeline": pipe.name,
        "mlcycle.config_path": pipe.path,
        "mlcycle.config_sha256": pipe.config_sha256,
        "mlcycle.snapshot_uri": snapshot["uri"],
        "mlcycle.snapshot_sha256": snapshot["sha256"],
        "mlcycle.snapshot_rows": str(snapshot["rows"]),
        "mlcycle.window": f"{snapshot.get('window_start')}..{snapshot.get('window_end')}",
        "mlcycle.git_commit": commit,
        "mlcycle.git_commit_source": commit_source,
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
    with mlflow.start_run(experiment_id=exp_id, run_name=f"{ctx.run_id}", tags=tags) as run:
        mlflow.log_params(params)
        mlflow.log_text(pipe.source_text, f"config/{pipe.name}.yaml")
        mlflow.log_dict(snapshot, "lineage/snapshot.json")
        mlflow.log_dict(package_versions(), "lineage/packages.json")
        try:
            fit_pipeline(estimator, data)
        except (ValueError, TypeError) as exc:
            raise TrainingError(
                f"{model_cfg.estimator} could not be fitted on {snapshot['uri']}: {exc}"
            ) from exc
        signature = infer_signature(example, estimator.predict(example))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = _log_model(estimator, signature, example)
        if data.reference is not None:
            from mlcycle.monitoring import complete_reference, log_reference

            log_reference(*complete_reference(pipe, estimator, data.reference))  # stored with the model
        registration = _log_serving_companions(pipe, y_train, info.model_uri)
        mlflow.set_tags({k: v for k, v in registration.items() if k != MODEL_FILES_TAG})
        return TrainResult(
            run_id=run.info.run_id,
            model_uri=info.model_uri,
            experiment_id=exp_id,
            train_rows=data.train_rows,
            test_rows=data.test_rows,
            registration_tags=registration,
        )


def fit_pipeline(model: Any, data: TrainingData) -> Any:
    """``model.fit(X_train, y_train)`` for a scikit-learn Pipeline, step by step, each step's input
    dropped once it is transformed: what ``Pipeline.fit`` does, without the training frame alive
    through the estimator's fit (1.3 GB at 8M rows x 20 features). Takes the features from ``data``."""
    X, y = data.take_features(), data.y_train
    for _, step in model.steps[:-1]:
        X = step.fit_transform(X, y)  # rebinding releases the previous input
    model.steps[-1][1].fit(X, y)
    return model


def _log_serving_companions(pipe: Pipeline, y_train: pd.Series, model_uri: str) -> dict[str, str]:
    """Log the fallback and the postprocess rules as JSON next to the model, and checksum all three."""
    import tempfile
    from pathlib import Path

    import mlflow

    from mlcycle.fallback import (
        FALLBACK_ARTIFACT,
        FALLBACK_KIND_TAG,
        FALLBACK_SHA256_TAG,
        RULES_ARTIFACT,
        RULES_SHA256_TAG,
        fit_fallback,
    )
    from mlcycle.integrity import checksum_tags, dump_json

    fallback_text, fallback_sha = dump_json(fit_fallback(pipe, y_train))
    rules_text, rules_sha = dump_json([r.model_dump() for r in pipe.config.postprocess.rules])
    mlflow.log_text(fallback_text, FALLBACK_ARTIFACT)
    mlflow.log_text(rules_text, RULES_ARTIFACT)
    with tempfile.TemporaryDirectory(prefix="mlcycle-sum-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp)
        tags = checksum_tags(Path(local))
    return {
        **tags,
        FALLBACK_SHA256_TAG: fallback_sha,
        FALLBACK_KIND_TAG: pipe.config.fallback_kind,
        RULES_SHA256_TAG: rules_sha,
    }


def _log_model(estimator: Any, signature: Any, example: Any) -> Any:
    import mlflow.sklearn

    return mlflow.sklearn.log_model(
        sk_model=estimator,
        name=MODEL_ARTIFACT,
        signature=signature,
        input_example=example,
        serialization_format="skops",
        skops_trusted_types=trusted_types(estimator),
        pip_requirements=_pip_requirements(),
    )


def _resolved_params(pipe: Pipeline) -> dict[str, Any]:
    """The estimator's params with defaults filled in, as trained."""
    model = pipe.config.model
    return ESTIMATORS[model.estimator].params.model_validate(model.params).model_dump()


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{n}=={version(n)}" for n in ("scikit-learn", "pandas", "numpy", "scipy", "skops", "mlflow")]

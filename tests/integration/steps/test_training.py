"""Training: the scikit-learn pipeline per estimator, deterministic splits, and a real MLflow run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlcycle.adapters.tracking import Tracking
from mlcycle.config.estimators import CLASSIFICATION, ESTIMATORS
from mlcycle.config.loader import Pipeline
from mlcycle.core.features import feature_frame, split_indices, target_values
from mlcycle.core.records import Snapshot, TrainResult
from mlcycle.errors import TrainingError
from mlcycle.steps.context import RunContext
from mlcycle.steps.train import build_pipeline, fit_pipeline, prepare_training, train_model
from tests.integration.conftest import MlflowStore, snapshot_record
from tests.unit.conftest import PipelineFactory

TINY_YAML = """
data:
  source: d.csv
  target: y
  timestamp_column: ts
  features: {{numeric: [a, b], categorical: [c]}}
model:
  task: {task}
  estimator: {estimator}
  split: {{strategy: {strategy}, test_size: 0.25, seed: {seed}}}
evaluation: {{primary_metric: {metric}}}
"""

CTX = RunContext(
    dag_id="churn__train",
    run_id="manual__2026-01-01T00:00:00+00:00",
    logical_date="2026-01-01T00:00:00+00:00",
    try_number=2,
)


def _tiny_pipeline(
    make_pipeline: PipelineFactory,
    estimator: str,
    strategy: str = "random",
    seed: int = 42,
) -> Pipeline:
    classification = ESTIMATORS[estimator].tasks == CLASSIFICATION
    text = TINY_YAML.format(
        task="binary_classification" if classification else "regression",
        estimator=estimator,
        strategy=strategy,
        seed=seed,
        metric="roc_auc" if classification else "rmse",
    )
    return make_pipeline(text, name="tiny")


def _tiny_frame(rows: int = 80, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rows)
    b = rng.normal(size=rows)
    b[::9] = np.nan
    c = rng.choice(["red", "green", "blue"], size=rows).astype(object)
    c[::11] = None
    ts = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.permutation(rows), unit="h")
    return pd.DataFrame(
        {
            "a": a,
            "b": b,
            "c": c,
            "ts": ts,
            "y_class": (a + 0.3 * rng.normal(size=rows) > 0).astype("int64"),
            "y_reg": 2 * a - np.nan_to_num(b) + 0.1 * rng.normal(size=rows),
        }
    )


def _xy(pipe: Pipeline, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    target = "y_class" if pipe.config.model.is_classification else "y_reg"
    return feature_frame(pipe, frame), frame[target].rename("y")


# --------------------------------------------------------------------------- build_pipeline


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_build_pipeline_fits_every_allow_listed_estimator(
    make_pipeline: PipelineFactory, estimator: str
) -> None:
    pipe = _tiny_pipeline(make_pipeline, estimator, seed=5)
    frame = _tiny_frame()
    X, y = _xy(pipe, frame)
    model = build_pipeline(pipe)
    assert type(model.named_steps["estimator"]).__name__ == estimator
    numeric = model.named_steps["preprocess"].transformers[0][1]
    if ESTIMATORS[estimator].native_categorical:  # NaNs and categories handled by the estimator itself
        assert numeric == "passthrough"
        assert type(model.named_steps["preprocess"].transformers[1][1]).__name__ == "OrdinalEncoder"
        assert model.named_steps["estimator"].categorical_features == [False, False, True]
    else:
        assert ("scale" in numeric.named_steps) == ESTIMATORS[estimator].scale_numeric
    if ESTIMATORS[estimator].seeded:
        assert model.named_steps["estimator"].random_state == 5

    model.fit(X, y)
    pred = model.predict(X)
    assert pred.shape == (len(frame),)
    if pipe.config.model.is_classification:
        assert set(pred) <= {0, 1}
        proba = model.predict_proba(X)
        assert proba.shape == (len(frame), 2)
        assert np.allclose(proba.sum(axis=1), 1.0)
    else:
        assert np.isfinite(pred).all()

    # Unseen categories and missing values at prediction time are handled by the preprocessing.
    odd = pd.DataFrame({"a": [np.nan], "b": [0.0], "c": ["purple"]}).astype({"c": object})
    assert model.predict(feature_frame(pipe, odd)).shape == (1,)


@pytest.mark.parametrize("estimator", ["HistGradientBoostingClassifier", "HistGradientBoostingRegressor"])
def test_native_categorical_pools_rare_and_excess_categories(
    make_pipeline: PipelineFactory, estimator: str
) -> None:
    """A categorical with more categories than HistGradientBoosting's 255 bins still trains: rare ones
    (and those past the limit) are pooled; a category never seen in training is scored as missing."""
    pipe = _tiny_pipeline(make_pipeline, estimator)
    rows = 3000
    frame = _tiny_frame(rows)
    frame["c"] = [f"k{i % 400}" for i in range(rows)]  # 400 categories of 7-8 rows each
    X, y = _xy(pipe, frame)
    model = build_pipeline(pipe).fit(X, y)
    encoder = model.named_steps["preprocess"].named_transformers_["categorical"]
    assert len(encoder.categories_[0]) == 400
    assert encoder.transform(X[["c"]]).max() <= 254  # codes fit the estimator's bins
    unseen = feature_frame(pipe, pd.DataFrame({"a": [0.1], "b": [np.nan], "c": ["never-seen"]}))
    assert np.isnan(encoder.transform(unseen[["c"]])[0, 0])
    assert model.predict(unseen).shape == (1,)


@pytest.mark.parametrize(
    "estimator", ["HistGradientBoostingClassifier", "LogisticRegression", "RandomForestRegressor"]
)
def test_fit_pipeline_fits_the_same_model_as_pipeline_fit(
    make_pipeline: PipelineFactory, estimator: str
) -> None:
    pipe = _tiny_pipeline(make_pipeline, estimator, strategy="time")
    frame = _tiny_frame(400)
    frame["y"] = frame["y_class" if pipe.config.model.is_classification else "y_reg"]
    data = prepare_training(pipe, frame)
    assert (data.train_rows, data.test_rows) == (300, 100)
    X, y = data.head(len(frame)), data.y_train
    reference = build_pipeline(pipe).fit(X, y)
    stepwise = fit_pipeline(build_pipeline(pipe), data)
    assert data.X_train is None  # handed over: nothing keeps the training frame alive through the fit
    with pytest.raises(RuntimeError, match="already handed"):
        data.take_features()
    assert list(stepwise.feature_names_in_) == list(reference.feature_names_in_)
    np.testing.assert_array_equal(stepwise.predict(X), reference.predict(X))
    if pipe.config.model.is_classification:
        np.testing.assert_allclose(stepwise.predict_proba(X), reference.predict_proba(X))


def test_build_pipeline_only_uses_configured_features(make_pipeline: PipelineFactory) -> None:
    pipe = _tiny_pipeline(make_pipeline, "LogisticRegression")
    frame = _tiny_frame()
    X, y = _xy(pipe, frame)
    model = build_pipeline(pipe).fit(X, y)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    pre = model.named_steps["preprocess"]
    assert [name for name, _, _ in pre.transformers] == ["numeric", "categorical"]


# --------------------------------------------------------------------------- features and targets


def test_feature_frame_types_are_stable(make_pipeline: PipelineFactory) -> None:
    pipe = _tiny_pipeline(make_pipeline, "LogisticRegression")
    frame = pd.DataFrame(
        {
            "c": pd.array(["x", None, "y"], dtype="string"),
            "a": pd.array([1, None, 3], dtype="Int64"),
            "b": [0.5, 1.5, 2.5],
            "other": [1, 2, 3],
        }
    )
    X = feature_frame(pipe, frame)
    assert list(X.columns) == ["a", "b", "c"]
    assert X["a"].dtype == "float64" and np.isnan(X["a"].iloc[1])
    assert X["c"].dtype == object
    assert X["c"].tolist() == ["x", None, "y"]
    assert frame["c"].dtype == "string"  # the input is not modified


def test_classification_target_with_nulls_names_column_and_count(make_pipeline: PipelineFactory) -> None:
    pipe = _tiny_pipeline(make_pipeline, "LogisticRegression")
    frame = pd.DataFrame({"y": [0.0, np.nan, 1.0, np.nan]})
    with pytest.raises(TrainingError, match=r"target column 'y' has 2 nulls; add expect_column_values"):
        target_values(pipe, frame)


def test_regression_target_is_float(make_pipeline: PipelineFactory) -> None:
    pipe = _tiny_pipeline(make_pipeline, "Ridge")
    y = target_values(pipe, pd.DataFrame({"y": [1, 2, 3]}))
    assert y.dtype == "float64"


# --------------------------------------------------------------------------- split_indices


def test_random_split_is_deterministic_and_partitions_rows(
    demo_pipeline: Pipeline, churn_frame: pd.DataFrame
) -> None:
    train, test = split_indices(demo_pipeline, churn_frame)
    train2, test2 = split_indices(demo_pipeline, churn_frame.copy())
    np.testing.assert_array_equal(train, train2)
    np.testing.assert_array_equal(test, test2)
    assert len(test) == 600 and len(train) == 2400
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(3000))
    assert (np.diff(train) > 0).all() and (np.diff(test) > 0).all()


def test_random_split_depends_on_the_seed(make_pipeline: PipelineFactory) -> None:
    frame = _tiny_frame(200)
    a = split_indices(_tiny_pipeline(make_pipeline, "Ridge", seed=1), frame)[1]
    b = split_indices(_tiny_pipeline(make_pipeline, "Ridge", seed=2), frame)[1]
    assert not np.array_equal(a, b)


def test_random_split_is_stratified(demo_pipeline: Pipeline, churn_frame: pd.DataFrame) -> None:
    model = demo_pipeline.config.model
    random_split = model.model_copy(update={"split": model.split.model_copy(update={"strategy": "random"})})
    pipe = demo_pipeline.model_copy(
        update={"config": demo_pipeline.config.model_copy(update={"model": random_split})}
    )
    train, test = split_indices(pipe, churn_frame)
    y = churn_frame["churned"]
    assert y.iloc[test].mean() == pytest.approx(y.mean(), abs=0.002)
    assert y.iloc[train].mean() == pytest.approx(y.mean(), abs=0.002)


def test_time_split_puts_the_latest_rows_in_test(make_pipeline: PipelineFactory) -> None:
    pipe = _tiny_pipeline(make_pipeline, "Ridge", strategy="time")
    frame = _tiny_frame(80)  # timestamps are a shuffled hourly sequence
    train, test = split_indices(pipe, frame)
    assert len(test) == 20 and len(train) == 60
    assert frame["ts"].iloc[train].max() < frame["ts"].iloc[test].min()
    expected_test = set(frame["ts"].sort_values().index[60:])
    assert set(test) == expected_test
    np.testing.assert_array_equal(split_indices(pipe, frame)[1], test)


# --------------------------------------------------------------------------- train_model


@dataclass(frozen=True)
class Trained:
    result: TrainResult
    tracking_uri: str
    artifact_root: str
    snapshot: Snapshot


@pytest.fixture(scope="module")
def trained(demo_pipeline: Pipeline, churn_frame: pd.DataFrame, mlflow_store: MlflowStore) -> Trained:
    snapshot = snapshot_record(
        "/data/snapshots/churn/abc.parquet", "ab" * 32, len(churn_frame), "2025-01-01T00:00:00+00:00"
    )
    tracking_uri, artifact_root = mlflow_store.tracking_uri, mlflow_store.artifact_root
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLCYCLE_GIT_COMMIT", "0123abcd")
        result = train_model(demo_pipeline, churn_frame, snapshot, CTX, Tracking(tracking_uri, artifact_root))
    return Trained(result, tracking_uri, artifact_root, snapshot)


def test_train_model_logs_lineage_tags(demo_pipeline: Pipeline, trained: Trained) -> None:
    from mlflow import MlflowClient

    run = MlflowClient(trained.tracking_uri).get_run(trained.result.run_id)
    tags = run.data.tags
    assert tags["mlcycle.snapshot_sha256"] == "ab" * 32
    assert tags["mlcycle.snapshot_uri"] == "/data/snapshots/churn/abc.parquet"
    assert tags["mlcycle.config_sha256"] == demo_pipeline.config_sha256
    assert tags["mlcycle.pipeline"] == "churn"
    assert tags["mlcycle.git_commit"] == "0123abcd"
    assert tags["mlcycle.window"] == "2025-01-01T00:00:00+00:00..2026-01-01T00:00:00+00:00"
    assert tags["airflow.run_id"] == CTX.run_id
    assert tags["airflow.dag_id"] == "churn__train"
    assert tags["airflow.try_number"] == "2"
    assert run.info.run_name == CTX.run_id
    assert run.info.status == "FINISHED"


def test_train_model_logs_params_and_sizes(trained: Trained) -> None:
    from mlflow import MlflowClient

    params = MlflowClient(trained.tracking_uri).get_run(trained.result.run_id).data.params
    assert params["estimator"] == "HistGradientBoostingClassifier"
    assert params["param.max_iter"] == "150"
    assert params["param.max_depth"] == "6"
    assert params["param.l2_regularization"] == "0.0"  # defaults are logged as trained
    assert params["split.seed"] == "42"
    assert params["target"] == "churned"
    assert (params["train_rows"], params["test_rows"]) == ("2400", "600")
    assert (trained.result.train_rows, trained.result.test_rows) == (2400, 600)


def test_train_model_logs_config_and_lineage_artifacts(demo_pipeline: Pipeline, trained: Trained) -> None:
    import mlflow

    run_id = trained.result.run_id
    mlflow.set_tracking_uri(trained.tracking_uri)
    config_text = mlflow.artifacts.load_text(f"runs:/{run_id}/config/churn.yaml")
    assert config_text == demo_pipeline.source_text
    snapshot = mlflow.artifacts.load_dict(f"runs:/{run_id}/lineage/snapshot.json")
    assert snapshot == trained.snapshot.to_xcom()
    packages = mlflow.artifacts.load_dict(f"runs:/{run_id}/lineage/packages.json")
    assert packages["scikit-learn"] == "1.9.1"


def test_train_model_experiment_lives_under_the_artifact_root(trained: Trained) -> None:
    from mlflow import MlflowClient

    exp = MlflowClient(trained.tracking_uri).get_experiment(trained.result.experiment_id)
    assert exp.name == "mlcycle/churn"
    assert exp.artifact_location.endswith(f"{Path(trained.artifact_root).name}/churn")
    assert exp.tags["mlcycle.pipeline"] == "churn"


def test_train_model_logs_a_loadable_model(
    demo_pipeline: Pipeline, churn_frame: pd.DataFrame, trained: Trained
) -> None:
    import mlflow
    import mlflow.sklearn

    mlflow.set_tracking_uri(trained.tracking_uri)
    model = mlflow.sklearn.load_model(trained.result.model_uri)
    _, test = split_indices(demo_pipeline, churn_frame)
    X = feature_frame(demo_pipeline, churn_frame.iloc[test])
    proba = model.predict_proba(X)
    assert proba.shape == (600, 2)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(churn_frame["churned"].iloc[test], proba[:, 1]) > 0.7


def test_second_training_reuses_the_experiment(
    demo_pipeline: Pipeline, churn_frame: pd.DataFrame, trained: Trained
) -> None:
    small = churn_frame.iloc[:400]
    again = train_model(
        demo_pipeline, small, trained.snapshot, CTX, Tracking(trained.tracking_uri, trained.artifact_root)
    )
    assert again.experiment_id == trained.result.experiment_id
    assert again.run_id != trained.result.run_id
    assert (again.train_rows, again.test_rows) == (320, 80)


def test_single_class_training_split_is_refused(
    demo_pipeline: Pipeline, churn_frame: pd.DataFrame, mlflow_store: MlflowStore
) -> None:
    frame = churn_frame.iloc[:200].copy()
    frame["churned"] = 0
    with pytest.raises(TrainingError, match=r"target column 'churned' has a single class \(\[0\]\)"):
        snapshot = snapshot_record("u", "s", 200)
        train_model(
            demo_pipeline,
            frame,
            snapshot,
            CTX,
            mlflow_store.tracking(),
        )


def test_run_context_tags_are_strings() -> None:
    assert CTX.tags() == {
        "airflow.dag_id": "churn__train",
        "airflow.run_id": "manual__2026-01-01T00:00:00+00:00",
        "airflow.logical_date": "2026-01-01T00:00:00+00:00",
        "airflow.try_number": "2",
        "mlcycle.trigger": "unknown",  # what started the run (core/triggers), "unknown" outside Airflow
    }
    json.dumps(CTX.tags())


def test_git_commit_outside_a_checkout_is_unknown_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlcycle.adapters.tracking import git_commit_info

    monkeypatch.delenv("MLCYCLE_GIT_COMMIT", raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.setenv("MLCYCLE_PROJECT_ROOT", str(tmp_path))
    commit, source = git_commit_info()
    assert commit == "unknown"
    assert f"{tmp_path} is not a git checkout" in source and "MLCYCLE_GIT_COMMIT" in source
    monkeypatch.setenv("MLCYCLE_PROJECT_ROOT", str(Path(__file__).resolve().parents[3]))
    commit, source = git_commit_info()
    assert len(commit) == 40 and source.startswith("git rev-parse HEAD")


def test_time_split_orders_tz_aware_timestamps_as_instants() -> None:
    from mlcycle.core.features import sortable

    # the same instants in two zones, and a null: sorted by instant, null last, like the object sort
    ts = pd.Series(
        pd.to_datetime(["2026-01-01T10:00Z", "2026-01-01T09:30Z", None, "2026-01-01T09:45Z"], utc=True)
    )
    in_paris = ts.dt.tz_convert("Europe/Paris")
    for values in (ts, in_paris):
        key = sortable(values)
        assert key.dtype.kind == "M"  # datetime64, not objects
        assert np.argsort(key, kind="stable").tolist() == [1, 3, 0, 2]

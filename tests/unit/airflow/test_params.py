"""The trigger-form Params of both DAGs: described, typed and validated as the UI's form and the API see them."""

from __future__ import annotations

import pytest
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import ParamValidationError

from mlcycle.airflow.factory import build_monitor_dag, build_training_dag
from mlcycle.config.loader import load_pipeline

from .test_integrity import ROOT

PIPE = load_pipeline(ROOT / "config" / "pipelines" / "churn.yaml")
TRAIN = build_training_dag(PIPE)
MONITOR = build_monitor_dag(PIPE)


def _resolve(params: ParamsDict, name: str, value: object) -> object:
    return params.get_param(name).resolve(value=value)


@pytest.mark.parametrize("dag", [TRAIN, MONITOR], ids=lambda d: d.dag_id)
def test_every_param_has_a_description_and_a_valid_default(dag) -> None:
    for name in dag.params:
        param = dag.params.get_param(name)
        assert len(param.description or "") > 20, f"{dag.dag_id}.{name}: no description for the form"
        param.resolve()  # the default itself validates
    dag.params.validate()


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("force_promote", [True, False], ["yes", 1, None]),
        ("skip_promotion", [True, False], ["no", 0]),
        ("lookback_days", [None, 1, 365], [0, -5, 1.5, "30"]),
        (
            "data_end",
            [None, "2026-04-01T00:00:00+00:00", "2026-04-01T00:00:00Z"],
            ["2026-04-01", "yesterday", 5],
        ),
    ],
)
def test_training_params_validate_types_ranges_and_formats(name: str, good: list, bad: list) -> None:
    for value in good:
        assert _resolve(TRAIN.params, name, value) == value
    for value in bad:
        with pytest.raises(ParamValidationError):
            _resolve(TRAIN.params, name, value)


def test_allow_retrain_is_true_false_or_empty() -> None:
    for value in (None, True, False):
        assert _resolve(MONITOR.params, "allow_retrain", value) is value
    for value in ("maybe", 1, "true"):
        with pytest.raises(ParamValidationError):
            _resolve(MONITOR.params, "allow_retrain", value)


def test_doc_md_says_what_the_pipeline_does_its_data_model_gates_and_params() -> None:
    doc = TRAIN.doc_md or ""
    for fact in (
        "data/demo/churn/*.parquet",  # data
        "target `churned`",
        "HistGradientBoostingClassifier",  # model
        "roc_auc >= 0.7",  # gate
        "may regress at most",
        "force_promote",
        "recorded as forced",
        "skip_promotion",
        "MLflow run",
    ):
        assert fact in doc, f"training doc_md lacks {fact!r}"
    mon = MONITOR.doc_md or ""
    for fact in ("champion", "Drift", "Retrain", "allow_retrain", "Window report", "at_risk"):
        assert fact in mon, f"monitor doc_md lacks {fact!r}"

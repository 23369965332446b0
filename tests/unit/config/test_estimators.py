"""The estimator allow-list: every entry instantiates, its params exist in scikit-learn."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest
from pydantic import ValidationError

from mlcycle.config.estimators import CLASSIFICATION, ESTIMATORS, REGRESSION, make_estimator


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_allow_listed_class_lives_where_the_spec_says(name: str) -> None:
    spec = ESTIMATORS[name]
    cls = getattr(importlib.import_module(spec.module), name)
    assert inspect.isclass(cls)
    assert spec.tasks in (CLASSIFICATION, REGRESSION)
    is_classifier = name.endswith("Classifier") or name == "LogisticRegression"
    assert (spec.tasks == CLASSIFICATION) == is_classifier


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_every_typed_param_is_a_real_constructor_argument(name: str) -> None:
    spec = ESTIMATORS[name]
    cls = getattr(importlib.import_module(spec.module), name)
    accepted = set(inspect.signature(cls).parameters)
    assert set(spec.params.model_fields) <= accepted, set(spec.params.model_fields) - accepted
    assert spec.seeded == ("random_state" in accepted)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_make_estimator_uses_defaults_and_seed(name: str) -> None:
    est = make_estimator(name, {}, seed=123)
    assert type(est).__name__ == name
    if ESTIMATORS[name].seeded:
        assert est.get_params()["random_state"] == 123
    defaults = ESTIMATORS[name].params().model_dump()
    params = est.get_params()
    for key, value in defaults.items():
        assert params[key] == value, key


def test_make_estimator_passes_params() -> None:
    est = make_estimator("RandomForestClassifier", {"n_estimators": 7, "max_depth": 3}, seed=1)
    assert (est.n_estimators, est.max_depth, est.random_state) == (7, 3, 1)


def test_make_estimator_rejects_unknown_param() -> None:
    with pytest.raises(ValidationError, match="n_estimator"):
        make_estimator("RandomForestClassifier", {"n_estimator": 7}, seed=1)


def test_make_estimator_rejects_out_of_range_param() -> None:
    with pytest.raises(ValidationError, match="max_depth"):
        make_estimator("DecisionTreeClassifier", {"max_depth": 0}, seed=1)


def test_make_estimator_refuses_names_outside_the_allow_list() -> None:
    with pytest.raises(KeyError):
        make_estimator("os.system", {}, seed=1)


def test_importing_estimators_and_config_does_not_import_sklearn() -> None:
    code = (
        "import sys, mlcycle.config.estimators, mlcycle.config\n"
        "heavy = sorted(m for m in ('sklearn', 'pandas', 'mlflow', 'great_expectations') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""

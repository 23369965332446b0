"""The allow-list of estimators a pipeline YAML may name, with typed parameters.

The YAML names a *kind* from this registry, never a dotted path: nothing outside this table
can be instantiated from configuration. Importing this module does not import scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TaskType = Literal["binary_classification", "multiclass_classification", "regression"]
CLASSIFICATION: tuple[TaskType, ...] = ("binary_classification", "multiclass_classification")
REGRESSION: tuple[TaskType, ...] = ("regression",)

ClassWeight = Literal["balanced"] | None
MaxFeatures = Literal["sqrt", "log2"] | float | int | None


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogisticRegressionParams(_Params):
    C: float = Field(1.0, gt=0)
    max_iter: int = Field(1000, ge=1)
    tol: float = Field(1e-4, gt=0)
    fit_intercept: bool = True
    class_weight: ClassWeight = None


class RidgeParams(_Params):
    alpha: float = Field(1.0, ge=0)
    fit_intercept: bool = True


class LinearRegressionParams(_Params):
    fit_intercept: bool = True


class _TreeParams(_Params):
    max_depth: int | None = Field(None, ge=1)
    min_samples_split: int = Field(2, ge=2)
    min_samples_leaf: int = Field(1, ge=1)
    max_features: MaxFeatures = None


class DecisionTreeClassifierParams(_TreeParams):
    criterion: Literal["gini", "entropy", "log_loss"] = "gini"
    class_weight: ClassWeight = None


class DecisionTreeRegressorParams(_TreeParams):
    criterion: Literal["squared_error", "friedman_mse", "absolute_error", "poisson"] = "squared_error"


class RandomForestClassifierParams(_TreeParams):
    n_estimators: int = Field(100, ge=1)
    max_features: MaxFeatures = "sqrt"
    class_weight: Literal["balanced", "balanced_subsample"] | None = None
    n_jobs: int | None = Field(None, ge=-1)


class RandomForestRegressorParams(_TreeParams):
    n_estimators: int = Field(100, ge=1)
    max_features: MaxFeatures = 1.0
    n_jobs: int | None = Field(None, ge=-1)


class _HistGradientBoostingParams(_Params):
    learning_rate: float = Field(0.1, gt=0)
    max_iter: int = Field(100, ge=1)
    max_depth: int | None = Field(None, ge=1)
    max_leaf_nodes: int | None = Field(31, ge=2)
    min_samples_leaf: int = Field(20, ge=1)
    l2_regularization: float = Field(0.0, ge=0)
    early_stopping: Literal["auto"] | bool = "auto"


class HistGradientBoostingClassifierParams(_HistGradientBoostingParams):
    class_weight: ClassWeight = None


class HistGradientBoostingRegressorParams(_HistGradientBoostingParams):
    loss: Literal["squared_error", "absolute_error", "poisson", "gamma"] = "squared_error"


class _GradientBoostingParams(_Params):
    n_estimators: int = Field(100, ge=1)
    learning_rate: float = Field(0.1, gt=0)
    max_depth: int | None = Field(3, ge=1)
    subsample: float = Field(1.0, gt=0, le=1)
    min_samples_leaf: int = Field(1, ge=1)


class GradientBoostingClassifierParams(_GradientBoostingParams):
    pass


class GradientBoostingRegressorParams(_GradientBoostingParams):
    pass


class DummyClassifierParams(_Params):
    strategy: Literal["most_frequent", "prior", "stratified", "uniform"] = "prior"


class DummyRegressorParams(_Params):
    strategy: Literal["mean", "median"] = "mean"


@dataclass(frozen=True)
class EstimatorSpec:
    """Where an allowed estimator lives and how it may be configured."""

    module: str
    params: type[_Params]
    tasks: tuple[TaskType, ...]
    scale_numeric: bool = False
    seeded: bool = True
    # Handles missing values and categorical features itself (HistGradientBoosting): numeric columns
    # pass through with their NaNs and each categorical becomes one ordinal-coded column the
    # estimator splits on natively, instead of a dense float64 one-hot block (the memory of a large
    # fit: benchmarks/README.md, Scale).
    native_categorical: bool = False


ESTIMATORS: dict[str, EstimatorSpec] = {
    "LogisticRegression": EstimatorSpec(
        "sklearn.linear_model", LogisticRegressionParams, CLASSIFICATION, scale_numeric=True
    ),
    "Ridge": EstimatorSpec("sklearn.linear_model", RidgeParams, REGRESSION, scale_numeric=True),
    "LinearRegression": EstimatorSpec(
        "sklearn.linear_model", LinearRegressionParams, REGRESSION, scale_numeric=True, seeded=False
    ),
    "DecisionTreeClassifier": EstimatorSpec("sklearn.tree", DecisionTreeClassifierParams, CLASSIFICATION),
    "DecisionTreeRegressor": EstimatorSpec("sklearn.tree", DecisionTreeRegressorParams, REGRESSION),
    "RandomForestClassifier": EstimatorSpec("sklearn.ensemble", RandomForestClassifierParams, CLASSIFICATION),
    "RandomForestRegressor": EstimatorSpec("sklearn.ensemble", RandomForestRegressorParams, REGRESSION),
    "HistGradientBoostingClassifier": EstimatorSpec(
        "sklearn.ensemble", HistGradientBoostingClassifierParams, CLASSIFICATION, native_categorical=True
    ),
    "HistGradientBoostingRegressor": EstimatorSpec(
        "sklearn.ensemble", HistGradientBoostingRegressorParams, REGRESSION, native_categorical=True
    ),
    "GradientBoostingClassifier": EstimatorSpec(
        "sklearn.ensemble", GradientBoostingClassifierParams, CLASSIFICATION
    ),
    "GradientBoostingRegressor": EstimatorSpec(
        "sklearn.ensemble", GradientBoostingRegressorParams, REGRESSION
    ),
    "DummyClassifier": EstimatorSpec("sklearn.dummy", DummyClassifierParams, CLASSIFICATION),
    "DummyRegressor": EstimatorSpec("sklearn.dummy", DummyRegressorParams, REGRESSION, seeded=False),
}


def make_estimator(name: str, params: dict[str, Any], seed: int) -> Any:
    """Instantiate an allow-listed estimator with validated params (imports scikit-learn)."""
    import importlib

    spec = ESTIMATORS[name]
    kwargs = spec.params.model_validate(params).model_dump()
    if spec.seeded:
        kwargs["random_state"] = seed
    cls = getattr(importlib.import_module(spec.module), name)
    return cls(**kwargs)

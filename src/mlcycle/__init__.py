"""mlcycle: config-driven MLOps pipelines on Airflow 3, Great Expectations, scikit-learn and MLflow."""

__version__ = "0.1.0"

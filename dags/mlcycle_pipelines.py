"""Airflow DAGs: one training DAG per pipeline YAML in config/pipelines (or $MLCYCLE_CONFIG_DIR)."""

from mlcycle.airflow.factory import build_dags

globals().update(build_dags())

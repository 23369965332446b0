"""Airflow DAGs: one training DAG per pipeline YAML in config/pipelines (or $MLCYCLE_CONFIG_DIR)."""

from mlcycle.dag_factory import build_dags

globals().update(build_dags())

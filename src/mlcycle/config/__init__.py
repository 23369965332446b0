"""Typed pipeline configuration: the schema, its catalogues, the loader and the guards.

Importing this package is cheap (PyYAML and Pydantic only): the DAG factory calls it at parse time.
"""

from mlcycle.config.loader import (
    Pipeline,
    config_dir,
    find_pipeline,
    load_all,
    load_pipeline,
    parse_pipeline,
    pipeline_files,
    project_root,
)
from mlcycle.config.schema import PipelineConfig

__all__ = [
    "Pipeline",
    "PipelineConfig",
    "config_dir",
    "find_pipeline",
    "load_all",
    "load_pipeline",
    "parse_pipeline",
    "pipeline_files",
    "project_root",
]

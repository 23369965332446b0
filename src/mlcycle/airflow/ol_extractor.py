"""The OpenLineage extractor of mlcycle's TaskFlow tasks, loaded by the provider's listener when a task
runs (``[openlineage] extractors``), never at DAG parse time: it imports the provider."""

from __future__ import annotations

from typing import Any

from airflow.providers.openlineage.extractors.base import BaseExtractor, OperatorLineage

from mlcycle.adapters.lineage_events import to_input, to_output, to_run_facets
from mlcycle.airflow.lineage import take_lineage


class MlcycleExtractor(BaseExtractor):
    """Hands the provider the lineage the task declared (``mlcycle.airflow.lineage.declared``).

    Other DAGs' TaskFlow tasks declare nothing and get an empty lineage, as without this extractor.
    """

    @classmethod
    def get_operator_classnames(cls) -> list[str]:
        return ["_PythonDecoratedOperator", "_ShortCircuitDecoratedOperator"]

    def _execute_extraction(self) -> OperatorLineage:
        return OperatorLineage()

    def extract_on_complete(self, task_instance: Any) -> OperatorLineage:
        lineage = take_lineage(task_instance.dag_id, task_instance.run_id, task_instance.task_id)
        if lineage is None:
            return OperatorLineage()
        return OperatorLineage(
            inputs=[to_input(d) for d in lineage.inputs],
            outputs=[to_output(d) for d in lineage.outputs],
            run_facets=to_run_facets(lineage.run_facets),
        )

    def extract_on_failure(self, task_instance: Any) -> OperatorLineage:
        take_lineage(task_instance.dag_id, task_instance.run_id, task_instance.task_id)
        return OperatorLineage()

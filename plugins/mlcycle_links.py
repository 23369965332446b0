"""Register mlcycle's operator extra links with Airflow (listed by `airflow plugins` and Admin → Plugins).

The links themselves are defined in ``mlcycle.airflow.links`` and attached to the tasks by the DAG factory:
``check_data`` → "Data checks report", ``train`` → "MLflow run", ``register_and_promote`` →
"MLflow model version" and "Model card", the monitor's ``detect_drift`` → "Evidently report" and ``decide`` →
"Window report". In Airflow 3 an operator's
own links are resolved on the worker when the task ends and stored in XCom, which the API server
reads; the link classes are not matched to operator classes here (``operators`` stays empty), so
registering them changes no other DAG's tasks.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from mlcycle.airflow.links import LINKS_BY_TASK


class MlcycleLinksPlugin(AirflowPlugin):
    name = "mlcycle_links"
    operator_extra_links = [link for links in LINKS_BY_TASK.values() for link in links]

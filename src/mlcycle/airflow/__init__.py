"""The only package that imports Airflow: DAG factory, callbacks, docs, links, placement, notifiers, dev runner."""

"""The mlcycle_reports plugin's app serving records from S3 on a real moto server
(the app on a local store: tests/unit/airflow/test_reports_plugin.py)."""

from __future__ import annotations

from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from mlcycle.core.names import record_key
from tests.support.fixtures import S3Server
from tests.unit.airflow.test_reports_plugin import DAG_ID, REPORT, RUN_ID, reports, run_url  # noqa: F401  (module fixture)


def test_records_on_s3_are_listed_with_sizes_and_served(
    reports: ModuleType,  # noqa: F811  (the imported module fixture)
    s3_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = s3_server.create_bucket()
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLCYCLE_ARTIFACT_ROOT", f"s3://{bucket}/mlcycle")
    s3 = s3_server.client()
    s3.put_object(
        Bucket=bucket, Key=f"mlcycle/{record_key(DAG_ID, RUN_ID, 'drift_report.html')}", Body=REPORT
    )
    reports.app.dependency_overrides[reports.authorize_run_read] = lambda: None
    try:
        client = TestClient(reports.app)
        index = client.get(run_url(DAG_ID, RUN_ID))
        assert index.status_code == 200, index.text
        assert f"{len(REPORT)} B" in index.text and f"s3://{bucket}/mlcycle/runs/" in index.text
        report = client.get(run_url(DAG_ID, RUN_ID, "drift_report.html"))
        assert report.status_code == 200 and report.content == REPORT
        assert report.headers["content-type"] == "text/html; charset=utf-8"
        assert client.get(run_url(DAG_ID, "manual__2030-01-01T00:00:00+00:00")).status_code == 404
    finally:
        reports.app.dependency_overrides.clear()

"""The training DAG on the production-like services: PostgreSQL for Airflow's metadata and MLflow's
backend store, a real ``mlflow server`` process, and data, snapshots and model artifacts on an S3
endpoint on loopback (moto's server mode) through boto3. Run by ``.ci/run``; fails if a service is down.
"""

from __future__ import annotations

import json
import os
import subprocess
from contextlib import ExitStack
from pathlib import Path

import psycopg
import yaml
from mlflow import MlflowClient

from mlcycle.cli.demo import write_demo_data
from tests.support.fixtures import create_database, run_module

ROOT = Path(__file__).resolve().parents[2]


def _mlcycle(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_module("mlcycle.cli", args, env, cwd)


def test_training_dag_on_postgres_mlflow_server_and_s3(tmp_path: Path, s3_server, mlflow_server) -> None:
    bucket = s3_server.create_bucket()
    s3 = s3_server.client()
    for f in write_demo_data(tmp_path / "demo", rows=12_000, seed=7):
        s3.upload_file(str(f), bucket, f"landing/churn/{f.name}")

    with ExitStack() as stack:
        airflow_db = stack.enter_context(create_database())
        mlflow_db = stack.enter_context(create_database())
        server = mlflow_server(mlflow_db.sqlalchemy_url, f"s3://{bucket}/mlflow", env=s3_server.env())

        config_dir = tmp_path / "pipelines"
        config_dir.mkdir()
        cfg = yaml.safe_load((ROOT / "config" / "pipelines" / "churn.yaml").read_text())
        cfg["data"]["source"] = f"s3://{bucket}/landing/churn/*.parquet"
        cfg["registry"] = {"model_name": "svc_churn"}
        cfg["retries"] = 0
        (config_dir / "svc_churn.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))

        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MLCYCLE_", "AIRFLOW", "MLFLOW_"))},
            **s3_server.env(),
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db.sqlalchemy_url,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "MLFLOW_TRACKING_URI": server.url,
            "MLCYCLE_ARTIFACT_ROOT": f"s3://{bucket}/artifacts",
            "MLCYCLE_CONFIG_DIR": str(config_dir),
            "MLCYCLE_HOME": str(tmp_path / "home"),
            "MLCYCLE_PROJECT_ROOT": str(ROOT),
        }
        first = _mlcycle(["run", "svc_churn", "--logical-date", "2026-01-01"], env, tmp_path)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-5000:]
        assert "svc_churn v1: promoted to champion" in first.stdout, first.stdout
        assert f"MLflow: {server.url}" in first.stdout

        client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
        champion = client.get_model_version_by_alias("svc_churn", "champion")
        assert champion.version == "1"
        snapshot_uri = client.get_run(champion.run_id).data.tags["mlcycle.snapshot_uri"]
        assert snapshot_uri.startswith(f"s3://{bucket}/artifacts/snapshots/svc_churn/")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert snapshot_uri.removeprefix(f"s3://{bucket}/") in keys
        assert any(k.startswith("mlflow/") and k.endswith("MLmodel") for k in keys), keys
        assert any(
            k.startswith("artifacts/runs/svc_churn__train/") and k.endswith("promotion.json") for k in keys
        )
        assert not any(k.endswith(".partial") for k in keys)

        with psycopg.connect(airflow_db.url) as conn:
            rows = conn.execute("SELECT dag_id, state FROM dag_run").fetchall()
        assert rows == [("svc_churn__train", "success")]

        second = _mlcycle(["run", "svc_churn", "--logical-date", "2026-01-01"], env, tmp_path)
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-5000:]
        assert "champion v1 on the same holdout" in second.stdout
        promotion = [
            k for k in s3.list_objects_v2(Bucket=bucket)["Contents"] if k["Key"].endswith("promotion.json")
        ]
        assert len(promotion) == 2
        outcomes = [json.loads(s3.get_object(Bucket=bucket, Key=p["Key"])["Body"].read()) for p in promotion]
        assert sorted(o["version"] for o in outcomes) == ["1", "2"]

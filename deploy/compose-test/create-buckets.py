"""The bucket job against moto (compose.test.yml): what docker-compose.yml's `mc` job does on MinIO.

Creates the mlcycle and mlflow buckets and the tasks' S3 user with deploy/s3/tasks-policy.json,
using the root pair, the only place it is used besides the S3 server itself.
"""

import json
import os
import sys
from pathlib import Path

import boto3

ENDPOINT = "http://minio:9000"
root = {
    "aws_access_key_id": os.environ["MINIO_ROOT_USER"],
    "aws_secret_access_key": os.environ["MINIO_ROOT_PASSWORD"],
    "region_name": "us-east-1",
    "endpoint_url": ENDPOINT,
}
s3, iam = boto3.client("s3", **root), boto3.client("iam", **root)
for bucket in ("mlcycle", "mlflow"):
    s3.create_bucket(Bucket=bucket)
user = os.environ["MLCYCLE_S3_ACCESS_KEY"]
policy = Path("/policy/tasks-policy.json")  # mounted by docker-compose.yml's bucket job
iam.create_user(UserName=user)
iam.put_user_policy(UserName=user, PolicyName="mlcycle-tasks", PolicyDocument=policy.read_text())
attached = iam.get_user_policy(UserName=user, PolicyName="mlcycle-tasks")["PolicyDocument"]
sys.stdout.write(f"buckets mlcycle, mlflow; user {user} with {json.dumps(attached)[:60]}...\n")

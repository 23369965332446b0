"""Issue 6, scenario 7: hostile YAML is refused by the config loader before any I/O.

"Before any I/O" is proved by loading with ``open``/``os.stat``/``socket`` poisoned: the loader
must reach its verdict from the text alone.
"""

from __future__ import annotations

import builtins
import json
import socket
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mlcycle.config.guards import blocked_host_reason, url_problem
from mlcycle.config.loader import Pipeline, parse_pipeline
from mlcycle.errors import ConfigError
from tests.support.fixtures import SlackReceiver
from tests.unit.config.test_schema import MINIMAL

PATH = "config/pipelines/churn.yaml"
VALID = textwrap.dedent(MINIMAL)  # the smallest valid pipeline, shared with tests/unit/config/test_schema.py


@contextmanager
def _no_io() -> Iterator[None]:
    """Any file open, stat or socket inside the block fails the test."""

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"I/O during config loading: {args!r}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builtins, "open", forbidden)
        mp.setattr(Path, "stat", forbidden)
        mp.setattr(socket, "socket", forbidden)
        mp.setattr(socket, "getaddrinfo", forbidden)
        yield


def _load(text: str) -> Pipeline:
    with _no_io():
        return parse_pipeline(text, PATH)


def _refused(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(text)
    msg = str(info.value)
    assert msg.startswith(f"{PATH}: "), msg
    return msg


def test_valid_pipeline_loads_without_io() -> None:
    assert _load(VALID).config.data.source == "data/x.csv"


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch /tmp/mlcycle-pwned']",
        "!!python/object/new:subprocess.Popen [['touch', '/tmp/mlcycle-pwned']]",
        "!!python/name:os.system",
        "!!python/module:os",
        "!!python/tuple [1, 2]",
    ],
)
def test_python_tags_are_refused_anywhere(tag: str) -> None:
    for text in (tag + "\n", VALID + f"description: {tag}\n", VALID.replace("data/x.csv", tag)):
        msg = _refused(text)
        assert "not valid YAML (only plain YAML is accepted, no tags)" in msg
    assert not Path("/tmp/mlcycle-pwned").exists()


def test_unknown_keys_are_refused_with_the_dotted_key() -> None:
    msg = _refused(VALID.replace("  target: y", "  target: y\n  loader: pickle"))
    assert "data.loader: unknown key" in msg and "allowed:" in msg


def test_estimator_outside_the_allow_list() -> None:
    for name in ("sklearn.svm.SVC", "builtins.eval", "__import__('os').system"):
        msg = _refused(VALID.replace("LogisticRegression", name))
        assert f"model.estimator: estimator {name!r} is not in the allow-list" in msg


@pytest.mark.parametrize("source", ["../../etc/passwd", "data/../../outside.csv", "./../x/*.parquet"])
def test_relative_source_escaping_the_data_root(source: str) -> None:
    msg = _refused(VALID.replace("data/x.csv", source))
    assert f"data.source: {source!r} resolves outside the data root" in msg
    assert "remove the '..' segments" in msg


def test_relative_source_inside_the_data_root_is_fine() -> None:
    assert _load(VALID.replace("data/x.csv", "a/../data/x.csv"))


def test_absolute_and_s3_sources_confined_when_roots_are_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLCYCLE_ALLOWED_SOURCES", f"{tmp_path}/data, s3://lake/churn")
    monkeypatch.setenv("MLCYCLE_DATA_ROOT", f"{tmp_path}/data")
    for ok in (f"{tmp_path}/data/x.csv", "s3://lake/churn/2025/*.parquet", "x.csv"):
        assert _load(VALID.replace("data/x.csv", ok))
    for bad in ("/etc/passwd", f"{tmp_path}/data/../secret.csv", "s3://other/x.csv", "s3://lake/churnx/a"):
        msg = _refused(VALID.replace("data/x.csv", bad))
        assert f"data.source: {bad!r}" in msg and "MLCYCLE_ALLOWED_SOURCES" in msg
    msg = _refused(VALID + "monitoring:\n  source: s3://lake/churn/../../other/{date:%Y}/\n")
    assert "monitoring.source:" in msg and "'..'" in msg
    msg = _refused(VALID.replace("data/x.csv", "http://169.254.169.254/latest/meta-data"))
    assert "must be a local path or s3://bucket/prefix" in msg


def test_webhook_url_in_yaml_is_refused() -> None:
    """The YAML names a connection id only; a URL (a secret) in YAML is an unknown key."""
    text = VALID + "notifications:\n  slack_webhook_url: http://169.254.169.254/latest/meta-data/\n"
    msg = _refused(text)
    assert "notifications.slack_webhook_url: unknown key" in msg and "slack_conn_id" in msg


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "169.254.170.2",
        "[fd00:ec2::254]",
        "[fe80::1]",
        "[::ffff:169.254.169.254]",
        "2852039166",
        "0xa9fea9fe",
        "metadata.google.internal",
        "METADATA.google.internal.",
        "100.100.100.200",
        "0.0.0.0",
    ],
)
def test_metadata_and_link_local_webhook_hosts_are_refused(host: str) -> None:
    problem = url_problem(f"https://{host}/services/T000/B000/secret-token")
    assert problem is not None and problem.startswith("points at")
    assert "secret-token" not in problem


@pytest.mark.parametrize("host", ["hooks.slack.com", "127.0.0.1", "localhost", "10.0.0.5", "[::1]"])
def test_ordinary_webhook_hosts_pass(host: str) -> None:
    assert blocked_host_reason(host.strip("[]")) is None
    assert url_problem(f"https://{host}/services/T/B/x") is None


def test_guarded_notifier_refuses_a_metadata_connection_before_sending(
    monkeypatch: pytest.MonkeyPatch, slack_receiver: SlackReceiver
) -> None:
    from mlcycle.airflow.slack import GuardedSlackWebhookNotifier

    token = "T000/B000/canary-token-31337"
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_EVIL",
        json.dumps({"conn_type": "slackwebhook", "password": f"http://169.254.169.254/{token}"}),
    )
    with pytest.raises(ConfigError) as info:
        GuardedSlackWebhookNotifier(slack_webhook_conn_id="slack_evil", text="hi").notify({})
    msg = str(info.value)
    assert "Airflow connection 'slack_evil'" in msg and "link-local" in msg
    assert token not in msg and "169.254.169.254" not in msg

    # The same notifier delivers to an ordinary endpoint (a real HTTP receiver on loopback).
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_OK",
        json.dumps({"conn_type": "slackwebhook", "password": f"{slack_receiver.url}/{token}"}),
    )
    GuardedSlackWebhookNotifier(slack_webhook_conn_id="slack_ok", text="hello").notify({})
    assert len(slack_receiver.wait_for(1)) == 1

"""`mlcycle lint`: checks a directory of pipeline YAML without Airflow running."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlcycle.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "config" / "pipelines" / "churn.yaml"


def test_lint_accepts_the_shipped_pipelines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(ROOT / "config" / "pipelines")]) == 0
    out = capsys.readouterr().out
    assert "churn.yaml -> DAGs churn__train, churn__monitor" in out and "1 valid, 0 invalid" in out


def test_lint_reports_every_bad_file_and_exits_nonzero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(DEMO, tmp_path / "good.yaml")
    (tmp_path / "bad.yaml").write_text(
        DEMO.read_text().replace("estimator: HistGradientBoostingClassifier", "estimator: eval")
    )
    assert main(["lint", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert (
        f"{tmp_path / 'bad.yaml'}: model.estimator: estimator 'eval' is not in the allow-list" in captured.err
    )
    assert "1 valid, 1 invalid" in captured.out


def test_deep_lint_builds_expectations_with_great_expectations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "typo.yaml").write_text(DEMO.read_text().replace("max_value: 120", "max_valu: 120"))
    assert main(["lint", str(tmp_path)]) == 0  # the schema cannot know GX's argument names
    capsys.readouterr()
    assert main(["lint", "--deep", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert (
        f"{tmp_path / 'typo.yaml'}: checks.expectations.2.kwargs.max_valu: expect_column_values_to_be_between"
        in err
    )


def test_lint_of_an_empty_directory_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(tmp_path)]) == 2
    assert "no *.yaml pipeline files" in capsys.readouterr().err


def test_lint_refuses_a_system_file_and_deep_lint_a_symlink_out_of_the_data_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    (root / "data" / "etc").symlink_to("/etc")
    monkeypatch.setenv("MLCYCLE_DATA_ROOT", str(root))
    monkeypatch.delenv("MLCYCLE_ALLOWED_SOURCES", raising=False)
    pipes = tmp_path / "pipes"
    pipes.mkdir()
    source = "source: data/demo/churn/*.parquet"
    (pipes / "absolute.yaml").write_text(DEMO.read_text().replace(source, "source: /etc/passwd"))
    assert main(["lint", str(pipes)]) == 1
    assert f"data.source: '/etc/passwd' is outside the data root {root}" in capsys.readouterr().err

    (pipes / "absolute.yaml").write_text(DEMO.read_text().replace(source, "source: data/etc/passwd"))
    assert main(["lint", str(pipes)]) == 0  # the text stays inside the root
    capsys.readouterr()
    assert main(["lint", "--deep", str(pipes)]) == 1
    err = capsys.readouterr().err
    assert f"data.source: {root}/data/etc/passwd (resolves to /etc/passwd) (data.source) is outside" in err


def test_lint_warns_about_a_monitor_starting_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = DEMO.read_text().replace("\nmonitoring: ", "\nmonitoring:\n  start_date: 2025-01-01 ", 1)
    (tmp_path / "early.yaml").write_text(text)
    assert main(["lint", str(tmp_path)]) == 0  # a warning, not an error
    out = capsys.readouterr().out
    assert (
        f"warn  {tmp_path / 'early.yaml'}: monitoring.start_date 2025-01-01 is before start_date 2025-07-01"
        in out
    )
    assert "set monitoring.start_date to 2025-07-01 or later" in out


def test_lint_warns_about_a_start_date_in_the_future(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "later.yaml").write_text(
        DEMO.read_text().replace("start_date: 2025-07-01", "start_date: 2999-01-01")
    )
    assert main(["lint", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"warn  {tmp_path / 'later.yaml'}: start_date 2999-01-01 is in the future" in out


def test_the_shipped_pipelines_lint_without_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(ROOT / "config" / "pipelines")]) == 0
    assert "warn" not in capsys.readouterr().out

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

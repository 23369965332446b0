"""Sources are confined to the data root by default, on the YAML's text and on each file ingest opens.

Errors name the file, line, column or row, never the content of a file that is not the expected data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from mlcycle.adapters.sources import SourceSpec, check_confined, read_file, read_source
from mlcycle.config.guards import source_problem
from mlcycle.errors import DataSourceError

END = datetime(2030, 1, 1, tzinfo=UTC)
SECRET_LINE = "root:x:0:0:root:/root:/bin/bash"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "data_root"
    root.mkdir()
    monkeypatch.setenv("MLCYCLE_DATA_ROOT", str(root))
    monkeypatch.delenv("MLCYCLE_ALLOWED_SOURCES", raising=False)
    return root


def _csv(path: Path, text: str = "x,y\n1,2\n3,4\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_absolute_sources_outside_the_data_root_are_refused_by_default(root: Path) -> None:
    problem = source_problem("/etc/passwd", root, [])
    assert (
        problem and f"outside the data root {root}" in problem and "MLCYCLE_ALLOWED_SOURCES unset" in problem
    )
    assert source_problem(str(root / "x.csv"), root, []) is None
    assert source_problem("s3://lake/x.csv", root, []) is None  # a bucket, not this machine's files


def test_allowed_sources_widen_the_data_root(root: Path, tmp_path: Path) -> None:
    extra = tmp_path / "lake"
    assert source_problem(str(extra / "x.csv"), root, [str(extra)]) is None
    assert source_problem(str(root / "x.csv"), root, [str(extra)]) is None
    assert source_problem("/etc/passwd", root, [str(extra)])


def test_a_symlink_under_the_root_pointing_out_is_refused_when_opened(root: Path, tmp_path: Path) -> None:
    outside = _csv(tmp_path / "elsewhere" / "secret.csv", f"{SECRET_LINE}\n")
    link = root / "in" / "part.csv"
    link.parent.mkdir()
    link.symlink_to(outside)
    assert source_problem("in/part.csv", root, []) is None  # the text alone looks fine
    with pytest.raises(DataSourceError) as info:
        read_source(SourceSpec("in/*.csv", "auto", ["x"]), None, END)
    msg = str(info.value)
    assert msg.startswith(f"{link} (resolves to {outside}) (data.source) is outside the data root {root}")
    assert SECRET_LINE not in msg


def test_a_symlinked_directory_out_of_the_root_is_refused(root: Path) -> None:
    (root / "etc").symlink_to("/etc")
    with pytest.raises(DataSourceError, match=r"resolves to /etc/passwd\) \(data.source\) is outside"):
        read_source(SourceSpec("etc/passwd", "csv", ["x"]), None, END)


def test_symlinks_within_the_allowed_roots_are_read(root: Path, tmp_path: Path, monkeypatch) -> None:
    lake = tmp_path / "lake"
    _csv(lake / "a.csv")
    (root / "lake").symlink_to(lake)
    with pytest.raises(DataSourceError, match="outside the data root"):
        check_confined(str(root / "lake" / "a.csv"))
    monkeypatch.setenv("MLCYCLE_ALLOWED_SOURCES", str(lake))
    table, files = read_source(SourceSpec("lake/*.csv", "auto", ["x", "y"]), None, END)
    assert files == 1 and table is not None and table.num_rows == 2


def test_a_file_that_is_not_a_csv_is_named_never_quoted(root: Path) -> None:
    path = _csv(root / "p.csv", f"{SECRET_LINE}\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    with pytest.raises(DataSourceError) as info:
        read_file(str(path), "csv", ["x"])
    msg = str(info.value)
    assert msg.startswith(f"{path}: column(s) ['x'] named in the pipeline YAML (data.*) are missing")
    assert "does not look like a header of column names (not shown)" in msg
    assert "root:x" not in msg and "daemon" not in msg


def test_a_ragged_csv_names_the_line_not_its_content(root: Path) -> None:
    path = _csv(root / "r.csv", "x,y\n1,2\n3,4\nsecret value,with,extra fields\n")
    with pytest.raises(DataSourceError) as info:
        read_file(str(path), "csv", ["x", "y"])
    msg = str(info.value)
    assert msg == (
        f"{path}: not a readable csv file (line 4 has 3 field(s) where the header has 2); fix or remove the file"
    )


def test_a_value_of_the_wrong_type_names_the_column_and_row(root: Path) -> None:
    frame = pd.DataFrame({"x": ["1", "2", "3", "hunter2"], "ts": ["2025-01-01"] * 3 + ["not a date"]})
    path = root / "t.parquet"
    frame.to_parquet(path)
    with pytest.raises(DataSourceError) as info:
        read_source(SourceSpec("t.parquet", "auto", ["x"], numeric=("x",)), None, END)
    assert (
        "column 'x' (data.features.numeric) is string with a value that is not a number in data row 4"
        in str(info.value)
    )
    assert "hunter2" not in str(info.value)
    with pytest.raises(DataSourceError) as info:
        read_source(SourceSpec("t.parquet", "auto", ["ts"], timestamp_column="ts"), None, END)
    assert "(data row 4 does not parse as one)" in str(info.value) and "not a date" not in str(info.value)

"""A batch file no table can be read from: one error line saying why, in words."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mlapp.monitor.rows import MonitorError
from tests.monitor.test_chunks import CHUNK, _monitor


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.csv", b""),
        ("blank.csv", b"\n\n\n"),
        ("empty.tsv", b""),
        ("empty.csv.gz", gzip.compress(b"", mtime=0)),
    ],
)
def test_an_empty_table_says_it_is_empty(
    name: str,
    content: bytes,
    in_project: Path,
    tmp_path: Path,
) -> None:
    """pandas' "No columns to parse from file" was the whole message."""
    (source := tmp_path / name).write_bytes(content)
    with pytest.raises(MonitorError) as caught:
        _monitor(in_project, source, tmp_path, CHUNK)
    assert str(caught.value).endswith("is empty (no header line naming its columns)")


def test_a_ragged_row_is_one_line(in_project: Path, tmp_path: Path) -> None:
    """pandas' message ends in a newline: the error was followed by a blank line; and it was
    pandas' tokenizer's ("Error tokenizing data. C error: Expected 2 fields..."), said in words."""
    (source := tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(MonitorError) as caught:
        _monitor(in_project, source, tmp_path, CHUNK)
    assert str(caught.value).endswith(
        "a row has more fields than the header names (line 3: 3 fields, the header names 2; "
        "name the extra column in the header, or quote a value holding the separator)"
    )


def test_a_short_row_is_one_line(in_project: Path, tmp_path: Path) -> None:
    """pandas padded it with missing values: a row missing its label was dropped and counted."""
    (source := tmp_path / "short.csv").write_text("a,b,c\n1,2,3\n4,5\n6,7,8\n")
    with pytest.raises(MonitorError) as caught:
        _monitor(in_project, source, tmp_path, CHUNK)
    assert str(caught.value).endswith(
        "a row has fewer fields than the header names (line 3: 2 fields, the header names 3; "
        "give each row a field for every column, an empty one (,,) for a missing value)"
    )

"""A CSV row with fewer fields than the header: pandas pads it with missing values, unsaid. The
one reader refuses it by line, in every dialect it reads (quotes, line breaks in quotes, ';',
CRLF); blank lines and a header alone stay what they were."""

from pathlib import Path

import pandas as pd
import pytest
from pandas.errors import ParserError

from mlapp.csv_fields import UNPLACED
from mlapp.tables import read_csv

FEWER = "a row has fewer fields than the header names"
FIX = "give each row a field for every column, an empty one (,,) for a missing value"
CUT = "the last line is cut short (a partial upload or copy): write the file again in full"


def _read(tmp_path: Path, content: bytes, sep: str = ",", rows: int = 2) -> pd.DataFrame:
    (source := tmp_path / "batch.csv").write_bytes(content)
    return pd.concat(read_csv(source, ["", "NA"], rows, sep))


@pytest.mark.parametrize(
    ("content", "sep", "said"),
    [
        (b"a,b,c\n1,2,3\n4,5,6\n7,8", ",", f"(line 4: 2 fields, the header names 3; {CUT})"),
        (b"a,b,c\n1,2,3\n4,5\n7,8,9\n", ",", f"(line 3: 2 fields, the header names 3; {FIX})"),
        (
            b"a;b;c\n1;2;3\n4;5\n",
            ";",
            "(line 3: 2 fields, the header names 3; give each row a field for every "
            "column, an empty one (;;) for a missing value)",
        ),
        (b"a,b,c\r\n1,2,3\r\n4,5\r\n6,7,8\r\n", ",", f"(line 3: 2 fields, the header names 3; {FIX})"),
        # Quoted separators and line breaks are values: the row after them is named by its line.
        (b'a,b,c\n1,"x\ny",3\n"4,4",5\n7,"8,8",9\n', ",", f"(line 4: 2 fields, the header names 3; {FIX})"),
        # A line holding "" is a row of one empty field, not a blank line.
        (b'a,b\n1,2\n""\n3,4\n', ",", f"(line 3: 1 field, the header names 2; {FIX})"),
        (
            b"a,b,c\n" + b"1,2\n" * 7 + b"1,2,3\n" + b"1\n",
            ",",
            f"(8 rows, lines (fields) 2 (2), 3 (2), 4 (2), 5 (2), 6 (2) and 3 more; the header names 3; "
            f"{FIX})",
        ),
    ],
    ids=["cut last line", "middle", "semicolon", "crlf", "quoted", "quoted empty line", "many"],
)
def test_a_short_row_is_refused_by_its_line(tmp_path: Path, content: bytes, sep: str, said: str) -> None:
    with pytest.raises(ParserError) as caught:
        _read(tmp_path, content, sep)
    assert str(caught.value) == f"{FEWER} {said}"


@pytest.mark.parametrize(
    ("content", "rows"),
    [
        (b"a,b,c\n", []),
        (b"a,b,c", []),
        # Blank lines, a line of spaces and a trailing empty line are no rows (pandas skips them).
        (b"a,b,c\r\n1,2,3\r\n\r\n   \r\n6,7,8\r\n\r\n", [["1", "2", "3"], ["6", "7", "8"]]),
        # The first quote (and separators inside values) only in a later chunk.
        (b'a,b,c\n1,2,3\n4,5,6\n"7,7",8,"9\n9"\n', [["1", "2", "3"], ["4", "5", "6"], ["7,7", "8", "9\n9"]]),
        # Empty fields are fields: missing values, not a short row.
        (b"a,b,c\n1,,\n,,NA\n", [["1", None, None], [None, None, None]]),
    ],
    ids=["header only", "header without line break", "blank lines", "quotes later", "empty fields"],
)
def test_whole_rows_read_as_before(tmp_path: Path, content: bytes, rows: list[list[str | None]]) -> None:
    frame = _read(tmp_path, content)
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame.astype(object).where(frame.notna(), None).values.tolist() == rows


def test_a_stream_is_refused_without_lines(tmp_path: Path) -> None:
    """A stream is not read twice: the refusal says what, not where."""
    (source := tmp_path / "batch.csv").write_bytes(b"a,b\n1,2\n3\n")
    with source.open("rb") as stream, pytest.raises(ParserError) as caught:
        list(read_csv(stream, [""], 10, ","))
    assert str(caught.value) == UNPLACED


def test_a_quoted_missing_value_holding_the_separator_reads_as_before(tmp_path: Path) -> None:
    """Its separator is not counted (the value is read as missing): the file is read again and
    holds no short row."""
    (source := tmp_path / "batch.csv").write_bytes(b'a,b\n1,"n,a"\n"n,a",2\n')
    frame = pd.concat(read_csv(source, ["n,a"], 10, ","))
    assert frame.astype(object).where(frame.notna(), None).values.tolist() == [["1", None], [None, "2"]]

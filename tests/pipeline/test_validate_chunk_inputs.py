"""Hostile tables read ``validate.chunk_rows`` rows at a time: the same exit code and report, word
for word, as the table read whole, and on success the same output bytes, whatever chunk holds the
telling value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlapp.errors import UserError
from mlapp.files import read_json
from mlapp.params import Params
from mlapp.stages import validate
from mlapp.stages.validate_rules import LEVELS_HINT
from mlapp.tables import FrameParts, parquet_batches
from tests.pipeline.test_validate_chunks import CHUNK_ROWS, PARAMS, ROWS, UNIQUE_ID, _set, _table

TIME = "event_time"


def _both(source: Path, tmp_path: Path, params: Params = PARAMS) -> tuple[int, Any]:
    """The report read whole, after checking the chunked run's code, report and output bytes equal it."""
    said = []
    for rows in (ROWS, CHUNK_ROWS):
        chunked = params.model_copy(
            update={"validate_": params.validate_.model_copy(update={"chunk_rows": rows})}
        )
        out, report = tmp_path / f"out-{rows}.parquet", tmp_path / f"report-{rows}.json"
        code = validate.run(chunked, source=source, output=out, report=report)
        said.append((code, read_json(report), out.read_bytes() if out.exists() else None))
    assert said[1] == said[0]
    return said[0][0], said[0][1]


def _csv(frame: pd.DataFrame, tmp_path: Path) -> Path:
    frame.to_csv(source := tmp_path / "raw.csv", index=False)
    return source


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cells", "hint"),
    [
        ({120: "abc", 220: "?"}, "'?' names no value"),  # the telling value in a later chunk
        ({60: "abc", 160: "1e400"}, "past int64"),
        ({row: "xy"[row % 2] for row in range(46, 69)}, None),  # a whole chunk of text, not the whole column
    ],
)
def test_a_parse_rules_hint_is_the_whole_columns_not_its_first_failing_chunks(
    cells: dict[int, str], hint: str | None, tmp_path: Path
) -> None:
    frame = _set(_table(), "tenure_months", list(cells), list(cells.values()))
    code, report = _both(_csv(frame, tmp_path), tmp_path)
    (problem,) = report["problems"]
    assert (code, problem["rows"]) == (1, sorted(cells)[:5])
    assert hint in problem["check"] if hint else LEVELS_HINT not in problem["check"]


def test_event_times_with_a_utc_offset_in_one_chunk_only_fail_as_in_the_whole_table(tmp_path: Path) -> None:
    """Each chunk chose its own fewer kind: a chunk all with offsets passed (read as UTC), next to
    chunks without, and the table passed with two kinds of times."""
    frame = _table()
    frame.loc[46:68, TIME] = frame.loc[46:68, TIME] + "Z"  # one whole chunk
    code, report = _both(_csv(frame, tmp_path), tmp_path)
    (problem,) = report["problems"]
    assert (code, problem["column"], problem["count"]) == (1, TIME, 23)
    assert (
        problem["rows"] == [46, 47, 48, 49, 50]
        and "with a UTC offset on every value or none" in problem["check"]
    )


def test_the_fewer_kind_of_event_time_is_the_whole_tables(tmp_path: Path) -> None:
    """Most times with an offset: those without fail, all of them, not only the mixed chunk's."""
    frame = _table()
    frame.loc[:180, TIME] = frame.loc[:180, TIME] + "Z"
    frame.loc[[5, 60], TIME] = ["soon", "2024-13-45T10:00Z"]  # fail either way
    code, report = _both(_csv(frame, tmp_path), tmp_path)
    (problem,) = report["problems"]
    assert (code, problem["count"], problem["rows"]) == (1, 2 + ROWS - 181, [5, 60, 181, 182, 183])


def test_whole_number_ids_with_a_gap_in_parquet_are_one_id_in_every_chunk(tmp_path: Path) -> None:
    """Another writer's int64 ids with a null: pandas read the chunk holding the null as float64,
    so id 7 was '7.0' there and '7' in a chunk without one, and its repeat went unseen."""
    frame = _table().assign(customer_id=pd.array(range(1000, 1000 + ROWS), dtype="Int64"))
    frame.loc[[10, 210], "customer_id"] = 7
    frame.loc[20, "customer_id"] = pd.NA
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, source := tmp_path / "raw.parquet", row_group_size=50)
    code, report = _both(source, tmp_path)
    unique = next(p for p in report["problems"] if p["check"] == UNIQUE_ID)
    assert (code, unique["values"], unique["rows"]) == (1, ["7", "7"], [10, 210])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_valid_table_typed_differently_per_chunk_is_written_byte_for_byte(
    kind: str, tmp_path: Path
) -> None:
    """Whole numbers in a float column's first chunks, a nullable column empty in the first chunk,
    a chunk without labels: the same rows, and the same file (one row group, not one a chunk)."""
    frame = _table()
    frame.loc[:60, "monthly_charges"] = [str(i % 50 + 20) for i in range(61)]
    frame = _set(_set(frame, "total_charges", list(range(23)), None), "churned", list(range(69, 92)), None)
    if kind == "csv":
        source = _csv(frame, tmp_path)
    else:
        frame = frame.astype({"monthly_charges": float, "total_charges": float})
        frame.to_parquet(source := tmp_path / "raw.parquet", index=False, row_group_size=40)
    code, report = _both(source, tmp_path)
    assert (code, report["dropped_missing_label"]) == (0, 23)
    assert pq.read_metadata(tmp_path / f"out-{CHUNK_ROWS}.parquet").num_row_groups == 1


def test_frame_parts_row_groups_do_not_depend_on_the_pieces(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(FrameParts, "GROUP", 100)
    frame = _table()
    for name, size in (("whole", ROWS), ("pieces", CHUNK_ROWS)):
        with FrameParts(tmp_path / f"{name}.parquet") as parts:
            for start in range(0, ROWS, size):
                parts.write(frame.iloc[start : start + size])
            parts.commit()
    whole = (tmp_path / "whole.parquet").read_bytes()
    assert (tmp_path / "pieces.parquet").read_bytes() == whole
    metadata = pq.read_metadata(tmp_path / "whole.parquet")
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [100, 100, 100]


def test_frame_parts_a_piece_of_another_type_is_one_line_and_no_file(tmp_path: Path) -> None:
    """A column typed int64 by the first piece, text in a later one: an error naming the column,
    the piece's rows and the type, not pyarrow's traceback; nothing at the path, no temporary."""
    with pytest.raises(UserError) as caught, FrameParts(tmp_path / "out.parquet") as parts:
        parts.write(pd.DataFrame({"id": [17, 18]}))
        parts.write(pd.DataFrame({"id": ["19", "A20"]}, index=[2, 3]))
    said = "column 'id' (rows 2-3) must hold one type in every row: int64 (Failed to parse string: 'A20'"
    assert said in str(caught.value), caught.value
    assert list(tmp_path.iterdir()) == []


WRONG = pd.DataFrame({"foo": [], "bar": []}, dtype=str)
ZERO_ROWS = {"its columns": _table().head(0), "wrong columns": WRONG}


@pytest.mark.parametrize("frame", ZERO_ROWS.values(), ids=ZERO_ROWS.keys())
def test_a_parquet_file_without_rows_is_reported_as_the_same_csv(frame: pd.DataFrame, tmp_path: Path) -> None:
    """``parquet_batches`` gives a file without rows as one empty chunk with its columns, as
    ``read_csv`` gives a header alone: its columns are checked (wrong ones named), not nothing read."""
    frame.to_parquet(parquet := tmp_path / "raw.parquet", index=False)
    from_parquet = _both(parquet, tmp_path / "parquet")
    from_csv = _both(_csv(frame, tmp_path), tmp_path / "csv")
    assert from_parquet[0] == from_csv[0] != 0
    assert from_parquet[1]["problems"] == from_csv[1]["problems"] != []
    assert [len(chunk) for chunk in parquet_batches(parquet, CHUNK_ROWS)] == [0]
    assert list(next(parquet_batches(parquet, CHUNK_ROWS)).columns) == list(frame.columns)

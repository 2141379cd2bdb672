"""A Parquet file's rows are numbered by their position in it, by validate, the monitor and the
batch scorer alike, whole and in chunks, whatever pandas index the file stores.

Validate kept a stored index that was not a range (a filtered table's 1, 2, 3, 5...) and the
monitor's whole read kept any (a sliced table's 1000...), while chunked reads numbered
positions: one file, three numberings. An index named as a column (``set_index('customer_id')``)
stopped validate with a traceback (``int('C0000286')``) and took the id column from the table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlapp.monitor import run as monitor
from mlapp.monitor.batch import InvalidBatch, read_batch
from mlapp.params import Params
from mlapp.sample_data import generate
from mlapp.serving import score as scorer
from mlapp.stages import validate
from tests.serving.conftest import PARAMS

BAD = [2, 50]  # positions in the file of the ages out of range
CHUNK, WHOLE = 40, 10**6  # three chunks, the bad ages in two


def batch() -> pd.DataFrame:
    """120 rows kept of 160 (a filtered table: its index 1, 2, 3, 5, ...), two ages out of range."""
    table = generate(160, 4)
    kept = table[table.index % 4 != 0].copy()
    kept.loc[kept.index[BAD], "age"] = 300
    return kept


WRITTEN: dict[str, Callable[[pd.DataFrame, Path], None]] = {
    "no index": lambda frame, path: frame.to_parquet(path, index=False),
    "a filtered index": lambda frame, path: frame.to_parquet(path),  # stored as a column
    "a range index": lambda frame, path: frame.set_axis(pd.RangeIndex(1000, 1120)).to_parquet(path),
    "the id as index": lambda frame, path: frame.set_index(PARAMS.data.id_column).to_parquet(path),
}


def chunked(rows: int) -> Params:
    return PARAMS.model_copy(
        update={
            "validate_": PARAMS.validate_.model_copy(update={"chunk_rows": rows, "min_rows": 1}),
            "monitor": PARAMS.monitor.model_copy(update={"chunk_rows": rows, "min_rows": 1}),
        }
    )


def validate_rows(source: Path, params: Params, report: Path) -> list[int]:
    assert validate.run(params, source=source, output=None, report=report) == 1
    problems = json.loads(report.read_text())["problems"]
    return next(p["rows"] for p in problems if p["column"] == "age")


def monitor_rows(source: Path, params: Params, whole: bool) -> list[int]:
    with pytest.raises(InvalidBatch) as failed:  # the first chunk fails: no model is read
        read_batch(str(source), params) if whole else monitor.checked(str(source), params, source.parent)
    return next(p.rows for p in failed.value.problems if p.column == "age")


def scorer_rows(source: Path, params: Params, models: Path, rows: int) -> list[int]:
    output, data = source.with_name(f"scored-{rows}.parquet"), params.data
    scorer.score(str(source), output, models, rows, source.parent / "none.json",
                 data.missing_values, data.csv_separator, data.decimal)  # fmt: skip
    return pq.read_table(output.with_name(f"scored-{rows}.rejects.parquet")).column("row").to_pylist()


@pytest.mark.slow
@pytest.mark.parametrize("written", WRITTEN)
def test_every_reader_numbers_a_parquet_files_rows_by_position(
    written: str, tmp_path: Path, serving_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    WRITTEN[written](batch(), source := tmp_path / "batch.parquet")
    found = {}
    for rows in (WHOLE, CHUNK):
        params = chunked(rows)
        found[f"validate {rows}"] = validate_rows(source, params, tmp_path / f"report-{rows}.json")
        found[f"monitor {rows}"] = monitor_rows(source, params, whole=rows == WHOLE)
        found[f"scorer {rows}"] = scorer_rows(source, params, serving_root / "models", rows)
    assert found == {name: BAD for name in found}
    said = "0-based data rows (positions in the file: pd.read_parquet(path).iloc[row], not a stored index)"
    assert capsys.readouterr().err.rstrip().endswith(said)

"""The batch scorer's rejects: one per failing cell and rule, in validate's words, at any chunk size.

A blank whole-number cell was three rejects (pandera's ``coerce_dtype('int64')``,
``not_nullable`` and ``dtype('int64')``, all caused by the one missing value) where validate
and the monitor say "no missing values" once.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pandera.pandas as pandera
import pyarrow.parquet as pq
import pytest

from mlapp import schema
from mlapp.problems import CHECK_WORDS
from mlapp.sample_data import generate
from mlapp.serving import rejects as checked
from mlapp.serving import score as scorer
from mlapp.stages.findings import Findings
from mlapp.stages.validate_rules import check_table
from mlapp.tables import read_csv
from tests.serving.conftest import PARAMS

CONTRACT = "isin(['month-to-month', 'one-year', 'two-year'])"
PLACEHOLDER = (
    " ('?' names no value: if it marks a missing one, add it to data.missing_values (params.yaml) "
    "and make the column nullable in FEATURES)"
)
MISSING = CHECK_WORDS["not_nullable"]


def broken(rows: int) -> pd.DataFrame:
    """A batch with blank whole numbers (3; 12, whose age is out of range too), an out-of-range
    age (5), a placeholder category (9) and a blank boolean (11)."""
    frame = generate(rows, 7).astype({"num_products": "Int64", "paperless_billing": object})
    frame.loc[[3, 12], "num_products"] = pd.NA
    frame.loc[5, "age"], frame.loc[12, "age"] = 200, 300
    frame.loc[9, "contract"] = "?"
    frame.loc[11, "paperless_billing"] = None
    return frame


EXPECTED = [
    [3, "num_products", MISSING, None],
    [5, "age", "in_range(18, 110)", "200"],
    [9, "contract", CONTRACT + PLACEHOLDER, "?"],
    [11, "paperless_billing", MISSING, None],
    [12, "age", "in_range(18, 110)", "300"],  # a row's two problems: two rejects, by column
    [12, "num_products", MISSING, None],
]


def as_read(frame: pd.DataFrame, tmp_path: Path) -> pd.DataFrame:
    """``frame`` written as a CSV and read back as the scorer and validate read one (text)."""
    frame.to_csv(path := tmp_path / "batch.csv", index=False)
    data = PARAMS.data
    return pd.concat(read_csv(path, data.missing_values, 1_000, data.csv_separator))


def test_one_reject_per_cell_in_validates_words(tmp_path: Path) -> None:
    """Every problem validate reports for a feature names the same rows as the rejects of that
    column and check: one vocabulary, one row per (row, column) problem."""
    frame = as_read(broken(200), tmp_path)
    frame.loc[8, ["tenure_months", "age"]] = ["abc", "999"]  # a value that does not parse; its row's age
    _, rejects = checked.split_valid(frame, PARAMS.data.decimal)
    assert rejects.groupby(["index", "column"]).size().max() == 1
    findings = Findings(PARAMS)
    findings.add(frame)
    said = {(p.column, p.check): p.rows for p in findings.problems() if p.column in checked.FEATURES}
    rejected = {key: list(group["index"]) for key, group in rejects.groupby(["column", "check"])}
    assert rejected == said
    assert rejected[("tenure_months", "parse as int64")] == [8]
    assert rejected[("num_products", MISSING)] == [3, 12]
    assert rejected[("age", "in_range(18, 110)")] == [5, 8, 12]  # row 8's too: it parsed


def test_a_blank_written_as_text_is_told_as_validate_tells_it(tmp_path: Path) -> None:
    """A Parquet file written after ``astype(str)`` holds the text "nan" for a blank: validate names
    data.missing_values and the fix; the rejects said a bare "parse as int64"."""
    frame = as_read(broken(200), tmp_path)
    frame.loc[3, "num_products"] = "nan"
    _, rejects = checked.split_valid(frame, PARAMS.data.decimal, PARAMS.data.missing_values)
    findings = Findings(PARAMS)
    findings.add(frame)
    (said,) = [p for p in findings.problems() if p.column == "num_products"]  # its parse problem
    assert said.rows == [3] and "('nan' is in data.missing_values" in said.check
    rejected = rejects[rejects["column"] == "num_products"]
    assert rejected[["index", "check"]].values.tolist() == [[3, said.check], [12, MISSING]]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_the_rejects_are_the_same_whole_and_row_by_row(
    suffix: str, tmp_path: Path, serving_root: Path
) -> None:
    """A CSV and a Parquet batch of the same rows give the same rejects, whole and in chunks of one
    row (each reject's value as the file holds it, null where the cell is empty). A chunk whose
    boolean was blank in every row was scored: pandera's coercion made the missing value False."""
    frame, source = broken(15), tmp_path / f"batch.{suffix}"
    frame.to_csv(source, index=False) if suffix == "csv" else frame.to_parquet(source, index=False)
    data, written = PARAMS.data, []
    for rows in (1_000, 1):
        output = tmp_path / f"out-{rows}" / "p.parquet"
        summary = scorer.score(str(source), output, serving_root / "models", rows, tmp_path / "none.json",
                               data.missing_values, data.csv_separator, data.decimal)  # fmt: skip
        assert (summary.scored, summary.rejected) == (10, 5)
        written.append(pq.read_table(output.with_name("p.rejects.parquet")).replace_schema_metadata(None))
    whole, chunked = written
    assert [list(reject.values()) for reject in whole.to_pylist()] == EXPECTED
    assert chunked.equals(whole)


@pytest.mark.parametrize("written", [["2.0", "?", "4", "1"], [2.0, None, 4.0, 1.0]])
def test_a_category_codes_rejects_carry_validates_hints(
    written: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A code written "2.0" (CSV text, a Parquet double) and a "?" get validate's hints, row by row;
    "4", a code the category lacks, none: each reject's check is validate's for its row alone (a
    Parquet double's 1.0 is no level either, as validate says)."""
    table = pandera.DataFrameSchema({"plan": schema._category(["1", "2", "3"])}, coerce=True)
    monkeypatch.setattr(checked, "FEATURES", table.columns)
    monkeypatch.setattr(checked, "feature_schema", lambda: table)
    frame = pd.DataFrame({"plan": written})
    _, rejects = checked.split_valid(frame, ".")
    alone = {row: check_table(frame.loc[[row]], table, 5, 1, "-", ".")[1] for row in frame.index}
    said = {row: problem.check for row, problems in alone.items() for problem in problems}
    assert dict(zip(rejects["index"], rejects["check"], strict=True)) == said
    assert "'2.0' is the level '2' written as a decimal" in said[0]
    assert "'?' names no value" in said[1] if written[1] else said[1] == MISSING

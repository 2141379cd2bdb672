"""Validation read in chunks reports what the whole table at once reports, and writes the same rows."""

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlapp.files import read_json
from mlapp.params import Params, load_params
from mlapp.problems import CHECK_WORDS
from mlapp.sample_data import generate
from mlapp.stages import split as split_stage
from mlapp.stages import validate
from mlapp.stages.findings import ID_FIX
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")
ROWS = 300
UNIQUE_ID = f"values are unique{ID_FIX}"  # with the fix for an entity's several rows
# 14 chunks, the last of one row: each pandera pass costs ~30 ms whatever its size, and 43 chunks
# of 7 rows checked no more than these (problems still spread over chunks, whole chunks unlabeled).
CHUNK_ROWS = 23


def _table() -> pd.DataFrame:
    return generate(ROWS, 7).astype(str).replace({"nan": None, "NaT": None})


def _set(frame: pd.DataFrame, column: str, rows: list[int], value: object) -> pd.DataFrame:
    frame = frame.astype({column: object})
    frame.loc[rows, column] = value
    return frame


def _run(frame: pd.DataFrame, params: Params, chunk_rows: int, root: Path) -> tuple[int, Any, Path]:
    source = root / "raw.csv"
    if not source.exists():
        frame.to_csv(source, index=False)
    chunked = params.model_copy(
        update={"validate_": params.validate_.model_copy(update={"chunk_rows": chunk_rows})}
    )
    out, report = root / f"out-{chunk_rows}.parquet", root / f"report-{chunk_rows}.json"
    code = validate.run(chunked, source=source, output=out, report=report)
    return code, read_json(report), out


def _both(frame: pd.DataFrame, tmp_path: Path, params: Params = PARAMS) -> tuple[int, Any]:
    """The report with one chunk per CHUNK_ROWS rows, after checking it equals the whole table's."""
    whole, whole_report, whole_out = _run(frame, params, ROWS, tmp_path)
    code, report, out = _run(frame, params, CHUNK_ROWS, tmp_path)
    assert (code, report) == (whole, whole_report)
    if code == 0:
        pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(whole_out))
    else:
        assert not out.exists() and not whole_out.exists()
    return code, report


def _problems(report: Any) -> dict[tuple[str, str], Any]:
    return {(p["column"], p["check"]): p for p in report["problems"]}


def test_problems_spread_over_chunks_are_merged(tmp_path: Path) -> None:
    frame = _table()
    first_id = frame.loc[7, "customer_id"]
    frame = _set(frame, "customer_id", [12, 250], first_id)  # one in the same chunk, one ten chunks on
    frame = _set(frame, "age", [3, 40, 41, 90, 150, 299], "150")  # more failures than examples
    frame = _set(frame, "region", [200], "mars")
    frame = _set(frame, "tenure_months", [5], None)  # missing in one chunk...
    frame = _set(frame, "tenure_months", [100], "x")  # ...unparsable in another: reported as unparsable
    frame = frame.assign(favourite_colour="blue")  # the same header problem in every chunk, once

    code, report = _both(frame, tmp_path)

    assert code == 1
    problems = _problems(report)
    assert problems[("customer_id", UNIQUE_ID)]["rows"] == [7, 12, 250]
    assert problems[("customer_id", UNIQUE_ID)]["count"] == 3
    age = problems[("age", "in_range(18, 110)")]
    assert (age["count"], age["rows"]) == (6, [3, 40, 41, 90, 150])
    assert problems[("tenure_months", "parse as int64")]["rows"] == [100]
    assert ("tenure_months", "no missing values") not in problems
    assert problems[("<table>", CHECK_WORDS["column_in_schema"])]["values"] == ["favourite_colour"]
    assert list(problems) == sorted(problems, key=lambda k: report["problems"].index(problems[k]))


def test_a_missing_column_is_reported_once_not_per_chunk(tmp_path: Path) -> None:
    frame = _table().drop(columns=["region"])  # every one of the 14 chunks lacks it

    code, report = _both(frame, tmp_path)

    assert code == 1
    missing = [p for p in report["problems"] if "region" in p["values"]]
    assert len(missing) == 1, report["problems"]
    assert missing[0]["column"] == "<table>" and missing[0]["count"] == 1


def test_table_wide_checks_count_every_chunk(tmp_path: Path) -> None:
    frame = _set(_table(), "total_charges", [*range(0, ROWS, 2), 1, 3, 5], None)
    frame = _set(frame, "churned", [4, 150, 298], None)
    labeled = frame[frame["churned"].notna()]  # the share is of the rows kept (missing labels dropped)
    missing = int(labeled["total_charges"].isna().sum())

    code, report = _both(frame, tmp_path)

    assert code == 1
    (problem,) = report["problems"]
    assert problem["column"] == "total_charges"
    assert problem["count"] == missing
    assert f"({missing / (ROWS - 3):.1%} missing; validate.max_null_share)" in problem["check"]


def test_missing_labels_fail_with_their_rows_across_chunks(tmp_path: Path) -> None:
    frame = _set(_table(), "churned", [1, 20, 100, 101, 200, 280], None)
    strict = PARAMS.model_copy(update={"data": PARAMS.data.model_copy(update={"missing_label": "fail"})})

    code, report = _both(frame, tmp_path, strict)

    assert code == 1
    (problem,) = report["problems"]
    assert (problem["count"], problem["rows"]) == (6, [1, 20, 100, 101, 200])


def test_a_valid_table_in_chunks_gives_the_same_output_and_summary(tmp_path: Path) -> None:
    frame = _set(_table(), "churned", [0, 299], None)

    code, report = _both(frame, tmp_path)

    assert code == 0
    assert (report["rows"], report["dropped_missing_label"]) == (ROWS - 2, 2)
    assert sum(report["label_counts"].values()) == ROWS - 2


def test_too_few_rows_after_dropping_unlabeled_ones(tmp_path: Path) -> None:
    frame = _set(_table().head(120), "churned", list(range(30)), None)

    code, report = _both(frame, tmp_path)

    assert code == 1
    assert report["problems"][-1]["check"] == (
        "at least 100 rows (found 90, 30 more without a label in 'churned' (data.missing_label); "
        "validate.min_rows: add rows, or lower validate.min_rows in params.yaml if these are all there are)"
    )


@pytest.mark.parametrize("method", ["hash", "stratified", "time"])
@pytest.mark.parametrize("id_column", ["customer_id", None])
def test_the_split_stage_on_arrow_equals_the_in_memory_split(
    method: str, id_column: str | None, tmp_path: Path
) -> None:
    frame = generate(3_000, 3).sample(frac=1, random_state=1).reset_index(drop=True)
    if id_column is None:
        frame = frame.drop(columns=["customer_id"])
    source = tmp_path / "validated.parquet"
    frame.to_parquet(source, index=False)
    params = PARAMS.model_copy(
        update={
            "data": PARAMS.data.model_copy(update={"id_column": id_column}),
            "split": PARAMS.split.model_copy(update={"method": method}),
        }
    )
    split_stage.run(
        params, source=source, train_path=tmp_path / "train.parquet", test_path=tmp_path / "test.parquet"
    )
    train, test = split_stage.split(pd.read_parquet(source), params.data, params.split)
    for name, part in (("train", train), ("test", test)):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{name}.parquet"), part)
        assert pq.read_metadata(tmp_path / f"{name}.parquet").num_rows == len(part)


def test_repeated_rows_and_constant_features_are_counted(tmp_path: Path, capsys) -> None:
    """Rows repeating another row's features and label (new ids do not make them new examples)
    and a feature with one value passed validate without a word: copies can land in train and
    test (metrics that flatter the model), and a constant feature teaches it nothing."""
    frame = _table()
    frame = pd.concat([frame, frame.iloc[:40].assign(customer_id=[f"copy-{i}" for i in range(40)])])
    frame = frame.assign(region="north").reset_index(drop=True)
    code, report = _both(frame, tmp_path)
    assert code == 0
    assert (report["duplicate_rows"], report["constant_features"]) == (40, ["region"])
    said = capsys.readouterr().out
    assert "40 row(s) repeat another's features and label (copies can be in train and test)" in said
    assert "nothing to learn: ['region']" in said
    # Without an id or event time a copy is the same row in every column: hashed into one part.
    # Read whole: the copies across chunks were counted above, this is the wording of another split.
    data = PARAMS.data.model_copy(update={"id_column": None, "time_column": None})
    (tmp_path / "no-id").mkdir()
    params = PARAMS.model_copy(update={"data": data})
    _run(frame.drop(columns=["customer_id", "event_time"]), params, len(frame), tmp_path / "no-id")
    assert "40 row(s) repeat another's features and label (the hash split keeps them in one part)" in (
        capsys.readouterr().out
    )


def test_a_table_without_repeats_or_constants_says_none(tmp_path: Path) -> None:
    code, report = _both(_table(), tmp_path)
    assert (code, report["duplicate_rows"], report["constant_features"]) == (0, 0, [])


def test_duplicate_ids_are_shown_with_their_repeats(tmp_path: Path) -> None:
    """The examples were the first rows involved, in file order: with many repeated ids they were
    all first occurrences ('c0' at row 0, 'c1' at row 1...) and never showed where a repeat sits."""
    frame = _table()
    first, second = frame.loc[5, "customer_id"], frame.loc[6, "customer_id"]
    frame = _set(_set(frame, "customer_id", [200], first), "customer_id", [250], second)
    code, report = _both(frame, tmp_path)
    unique = _problems(report)[("customer_id", UNIQUE_ID)]
    assert (code, unique["count"]) == (1, 4)
    assert (unique["values"], unique["rows"]) == ([first, first, second, second], [5, 200, 6, 250])


def test_a_rare_class_is_shown_with_its_rows_across_chunks(tmp_path: Path) -> None:
    """A class under validate.min_class_rows: its rows in the table (not among the labeled rows
    kept: an unlabeled row before them is dropped) and what to do, as for any other failed value."""
    frame = _set(_table(), "churned", [3, 90, 250], "rare")
    frame = _set(frame, "churned", [1], None)
    multiclass = PARAMS.model_copy(update={"task": "multiclass"})

    code, report = _both(frame, tmp_path, multiclass)

    assert code == 1
    (problem,) = report["problems"]
    assert (problem["column"], problem["count"]) == ("churned", 3)
    assert (problem["rows"], problem["values"]) == ([3, 90, 250], ["rare"] * 3)
    check = problem["check"]
    assert "found {'rare': 3}; train, early stopping and test each need rows of every class" in check
    assert "add rows of 'rare', or give its rows another class or remove them" in check


def test_missing_ids_are_named_missing_not_repeated(tmp_path: Path) -> None:
    """Three blank ids are one problem ("no missing values", rows 3, 40, 250), not also three
    "repeats" of a missing value: a missing id repeats nothing, and a real repeat is still named."""
    frame = _set(_table(), "customer_id", [3, 40, 250], None)
    frame = _set(frame, "customer_id", [260], frame.loc[9, "customer_id"])

    code, report = _both(frame, tmp_path)

    assert code == 1
    problems = _problems(report)
    assert problems[("customer_id", "no missing values")]["rows"] == [3, 40, 250]
    assert problems[("customer_id", UNIQUE_ID)]["rows"] == [9, 260]

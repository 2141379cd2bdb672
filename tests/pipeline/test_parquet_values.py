"""A team's own Parquet file holding values CSV text never does: dates and times of day as Python
objects (date32, time64), infinities, bytes or lists in the label. validate names them in its
report, never stops on writing it, and a class is never the text of a bytes value."""

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlapp import schema, schema_draft
from mlapp.monitor.batch import validate_batch
from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.serving import rejects as checked
from mlapp.spellings import float32_shown
from mlapp.stages.validate_rules import check_table
from tests.conftest import REPO
from tests.pipeline import refused

PARAMS = load_params(REPO / "params.yaml")
ROWS = 300
START = datetime.datetime(2024, 3, 20, 10, 30)
TYPED = {
    "date32": pa.array([(START + datetime.timedelta(days=i)).date() for i in range(ROWS)], pa.date32()),
    "time64": pa.array(
        [(START + datetime.timedelta(minutes=i)).time() for i in range(ROWS)], pa.time64("us")
    ),
    "inf": pa.array(
        [np.inf if i == 3 else -np.inf if i == 4 else float(i) for i in range(ROWS)], pa.float64()
    ),
}


def written(tmp_path: Path, column: str, values: pa.Array) -> Path:
    """The sample table with ``column`` holding ``values``, as another writer's Parquet file."""
    table = pa.Table.from_pandas(generate(ROWS, 5), preserve_index=False).replace_schema_metadata(None)
    table = table.set_column(table.schema.get_field_index(column), column, values)
    pq.write_table(table, source := tmp_path / "raw.parquet")
    return source


def failed(tmp_path: Path, source: Path) -> list[dict]:
    return refused.problems(PARAMS, tmp_path, source)


@pytest.mark.parametrize(
    ("kind", "column", "check", "values", "rows"),
    [
        ("date32", "tenure_months", "parse as int64 (times, typed as such", "2024-03-20", [0, 1, 2, 3, 4]),
        ("time64", "monthly_charges", "parse as float64 (times, typed as such", "10:30:00", [0, 1, 2, 3, 4]),
        ("time64", "region", "isin(['north', 'south', 'east', 'west'])", "10:30:00", [0, 1, 2, 3, 4]),
        ("time64", "event_time", "parse as datetime64[ns] (ISO 8601", "10:30:00", [0, 1, 2, 3, 4]),
        ("inf", "total_charges", "parse as float64 (infinite: the model takes finite numbers", "inf", [3, 4]),
        ("inf", "logins_30d", "parse as int64 (infinite: the model takes finite numbers", "inf", [3, 4]),
    ],
)
def test_a_typed_value_that_is_no_input_is_named_in_the_report(
    kind: str, column: str, check: str, values: str, rows: list[int], tmp_path: Path
) -> None:
    """Each stopped validate with a traceback: "Object of type date (time) is not JSON
    serializable", "Out of range float values are not JSON compliant: inf" (writing the report),
    "Can only use .str accessor with string values, not time" (a category's NFC step); "inf" in
    a whole-number column was called a value past int64."""
    (problem,) = failed(tmp_path, written(tmp_path, column, TYPED[kind]))
    assert problem["column"] == column and problem["check"].startswith(check), problem
    assert problem["values"][0] == values and problem["rows"] == rows, problem


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        (pa.array([str(i % 2).encode() for i in range(ROWS)], pa.binary()), "b'0'"),
        (pa.array([[i % 2] for i in range(ROWS)], pa.list_(pa.int64())), "[0]"),
    ],
)
def test_a_label_of_bytes_or_lists_is_refused_not_read_as_their_text(
    values: pa.Array, shown: str, tmp_path: Path
) -> None:
    """A binary label passed validate as the classes "b'0'" and "b'1'" (a list one as "[0]"), and
    the service then answered with those."""
    (problem,) = failed(tmp_path, written(tmp_path, "churned", values))
    assert (
        problem["column"] == "churned"
        and "(lists, records or bytes, typed so in the file" in problem["check"]
    )
    assert problem["values"][0] == shown and problem["rows"] == [0, 1, 2, 3, 4], problem


@pytest.mark.parametrize(("kind", "said"), [("date32", "a date: "), ("time64", "a time of day: ")])
def test_the_draft_says_a_typed_date_or_time_of_day_is_one(kind: str, said: str, tmp_path: Path) -> None:
    """Both were drafted "a duration: derive numbers from it (its hours, days)"."""
    frame, _ = schema_draft.read(written(tmp_path, "region", TYPED[kind]), PARAMS.data, 1_000)
    drafted = schema_draft.feature("region", frame["region"], ".")
    assert drafted.call == "" and drafted.skip.startswith(said), drafted


def test_the_batch_scorer_rejects_such_values_row_by_row_with_their_hint() -> None:
    """A batch whose category held times of day stopped `mlapp serving score` with "Can only use
    .str accessor with string values, not time"; an infinity was a bare `type float64`."""
    frame = generate(4, 5)
    frame["region"] = [datetime.time(10, 30)] * 4
    frame["monthly_charges"] = [1.5, np.inf, -np.inf, 2.5]
    valid, rejects = checked.split_valid(frame, ".")
    assert valid.empty
    assert rejects.drop_duplicates(["column", "check"])[["column", "check"]].values.tolist() == [
        ["region", "isin(['north', 'south', 'east', 'west'])"],  # row 0's, then row 1's
        ["monthly_charges", "parse as float64 (infinite: the model takes finite numbers; export the value, "
         "or leave it empty (missing))"],
    ]  # fmt: skip


@pytest.mark.parametrize("kind", ["bytes", "list"])
def test_a_monitored_batch_reads_past_its_ignored_columns_as_validate_does(kind: str) -> None:
    """A batch of the very table that trained (its bytes or list column in data.ignore_columns)
    stopped `make monitor` with "column 'note' failed parse as None (lists, records or bytes ...,
    or list the column in data.ignore_columns)": the monitor checked the columns validate reads past."""
    data = PARAMS.data.model_copy(update={"ignore_columns": ["note"]})
    params = PARAMS.model_copy(update={"data": data})
    frame = generate(ROWS, 5)
    frame["note"] = [b"x" if kind == "bytes" else np.array([1, 2])] * ROWS
    validated = validate_batch(frame, params, "batch.parquet")
    assert len(validated) == ROWS and validated["note"].iloc[0] is frame["note"].iloc[0]


def test_a_float32_column_is_read_as_the_numbers_it_shows() -> None:
    """A float32 column's 0.3 was read as float64's 0.30000001192092896: a range declared up to
    0.3 refused it (the service took 0.3 in JSON), and reports showed the widened digits. The
    model's float32 is the file's, bit for bit."""
    column = pd.Series(np.array([0.3, 0.1, 24.44, np.nan], dtype=np.float32))
    table = pandera.DataFrameSchema({"x": schema._number(float, 0.0, 24.44, nullable=True)}, coerce=True)
    typed, problems = check_table(pd.DataFrame({"x": column}), table, 5, 1, "validate.min_rows", ",")
    assert problems == [] and typed["x"].tolist()[:3] == [0.3, 0.1, 24.44]
    assert (typed["x"].to_numpy(dtype=np.float32)[:3] == column.to_numpy()[:3]).all()


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        (pa.array([1_710_892_800 + 60 * i for i in range(ROWS)], pa.int64()), 1_710_892_800),
        (pa.array([1_710_892_800_000 + 60_000 * i for i in range(ROWS)], pa.int64()), 1_710_892_800_000),
        (pa.array([datetime.timedelta(minutes=i) for i in range(ROWS)], pa.duration("s")), "0 days 00:00:00"),
    ],
)
def test_an_event_time_written_as_a_count_says_to_write_the_time(
    values: pa.Array, shown, tmp_path: Path
) -> None:
    """Seconds (or milliseconds) since 1970 and durations were told only "ISO 8601, with a UTC
    offset on every value or none", as if the file held text in another date format."""
    (problem,) = failed(tmp_path, written(tmp_path, "event_time", values))
    assert problem["column"] == "event_time" and problem["values"][0] == shown, problem
    assert problem["check"].startswith("parse as datetime64[ns] (numbers, such as seconds since 1970, or "), (
        problem
    )


def test_a_float32_is_shown_as_its_decimal_and_stays_the_same_float32() -> None:
    rng = np.random.default_rng(7)
    written = np.concatenate(
        [np.round(rng.uniform(-1e5, 1e5, 100_000), 2), np.round(rng.uniform(0, 1, 10_000), 3)]
    )
    values = written.astype(np.float32)
    assert (float32_shown(values) == written).all()
    anything = np.concatenate(
        [rng.standard_normal(100_000) * 10.0 ** rng.integers(-40, 38, 100_000), [0, np.inf]]
    )
    anything = np.append(anything.astype(np.float32), np.float32(np.nan))
    shown = float32_shown(anything)
    assert (shown.astype(np.float32) == anything)[:-1].all() and np.isnan(shown[-1])

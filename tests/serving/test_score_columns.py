"""`mlapp serving score` and the input's columns beyond the features: never read past unsaid.

An export carries an id, a time, the label beside the features: each is named on stderr (and in
the summary's ``unused``) unless ``--keep`` copies it into the output beside the scores; a feature
misspelt is refused naming the file's likely spelling of it; a header without rows scores nothing
and says so, CSV and Parquet alike.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlapp.sample_data import generate
from mlapp.serving import score as scorer
from tests.conftest import run_main
from tests.serving.conftest import PARAMS


class Done(NamedTuple):
    code: int
    out: str
    err: str


@pytest.fixture
def score(serving_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """The command in this process, from ``serving_root``: exit code, stdout, stderr."""

    def run(source: Path, output: Path, *extra: str) -> Done:
        monkeypatch.chdir(serving_root)
        capsys.readouterr()
        code = run_main(
            monkeypatch, "--params", str(serving_root / "params.yaml"), "serving", "score",
            "--input", str(source), "--output", str(output), "--model-dir", str(serving_root / "models"),
            *extra,
        )  # fmt: skip
        return Done(code, *capsys.readouterr())

    return run


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(40, 12)  # customer_id (data.id_column), event_time and churned besides the features


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_columns_the_model_does_not_use_are_named(score, tmp_path, frame, suffix) -> None:
    source = tmp_path / f"batch.{suffix}"
    getattr(frame, f"to_{suffix}")(source, index=False)
    done = score(source, tmp_path / "p.parquet")
    assert done.code == 0, done.err
    said = "columns the model does not use, read past: 'event_time', 'churned' (--keep COLUMN copies one"
    assert said in done.err, done.err
    assert json.loads(done.out)["unused"] == ["event_time", "churned"]
    assert PARAMS.data.id_column not in done.err  # copied: not read past
    assert pq.read_schema(tmp_path / "p.parquet").names == ["row", "customer_id", "probability", "label",
                                                            "model_version"]  # fmt: skip


def test_keep_copies_columns_beside_the_scores_as_the_file_holds_them(score, tmp_path, frame) -> None:
    frame.to_parquet(tmp_path / "batch.parquet", index=False)
    done = score(
        tmp_path / "batch.parquet", tmp_path / "p.parquet", "--keep", "event_time", "--keep", "churned"
    )
    assert done.code == 0, done.err
    assert "read past" not in done.err and json.loads(done.out)["unused"] == []
    out = pd.read_parquet(tmp_path / "p.parquet")
    assert list(out.columns[:4]) == ["row", "customer_id", "event_time", "churned"]
    held = pd.read_parquet(tmp_path / "batch.parquet")["event_time"]
    pd.testing.assert_series_equal(out["event_time"], held)  # a timestamp still
    assert out["churned"].tolist() == frame["churned"].tolist()


@pytest.mark.parametrize(
    ("keep", "said"),
    [
        (
            "event_tim",
            r"--keep \['event_tim'\]: the input has no such column \(it has 'event_time', spelt close",
        ),
        ("label", r"--keep \['label'\]: the scorer writes a column of that name \(row, probability, label"),
    ],
)
def test_a_keep_the_input_lacks_or_the_output_writes_is_refused(score, tmp_path, frame, keep, said) -> None:
    frame.rename(columns={"churned": "label"}).to_csv(tmp_path / "batch.csv", index=False)
    done = score(tmp_path / "batch.csv", tmp_path / "p.parquet", "--keep", keep)
    assert done.code == 2
    assert re.search(said, done.err), done.err
    assert not (tmp_path / "p.parquet").exists()


def test_a_misspelt_feature_is_refused_naming_the_likely_spelling(score, tmp_path, frame) -> None:
    frame.rename(columns={"age": "agee"}).to_csv(tmp_path / "batch.csv", index=False)
    done = score(tmp_path / "batch.csv", tmp_path / "p.parquet")
    assert done.code == 2
    assert "lacks feature columns ['age'] (the file has 'agee' for 'age' (a likely misspelling)" in done.err


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_header_without_rows_scores_nothing_and_says_so(score, tmp_path, frame, suffix) -> None:
    source = tmp_path / f"none.{suffix}"
    getattr(frame.head(0), f"to_{suffix}")(source, index=False)
    done = score(source, tmp_path / "p.parquet")
    assert done.code == 0, done.err
    assert "0 rows scored: the input has columns and no rows" in done.err, done.err
    scored = pq.read_table(tmp_path / "p.parquet")
    assert scored.num_rows == 0 and "probability" in scored.schema.names


def test_the_image_entry_point_keeps_and_names_alike(
    serving_root, tmp_path, frame, monkeypatch, capsys
) -> None:
    """``python -m mlapp.serving.score`` (the CronJob's command) takes --keep and says the same."""
    frame.to_csv(tmp_path / "batch.csv", index=False)
    monkeypatch.chdir(serving_root)
    argv = ["--params", str(serving_root / "params.yaml"), "--input", str(tmp_path / "batch.csv")]
    assert scorer.main([*argv, "--output", str(tmp_path / "p.parquet"), "--keep", "event_time"]) == 0
    assert "read past: 'churned'" in capsys.readouterr().err
    assert "event_time" in pq.read_schema(tmp_path / "p.parquet").names


def _arrow(frame: pd.DataFrame, **columns: pa.Array) -> pa.Table:
    """``frame`` as a writer other than pandas stores it (Spark, DuckDB, pyarrow): no pandas
    metadata, so a whole-number column with gaps reads as Python ints and None, not Int64."""
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    for name, values in columns.items():
        at = table.schema.get_field_index(name)
        table = table.set_column(at, name, values) if at >= 0 else table.append_column(name, values)
    return table


def test_copied_columns_null_in_the_first_chunk_keep_the_files_types(score, tmp_path, frame) -> None:
    """The id and ``--keep`` columns null in every row of the first chunk, values after: written
    with the Parquet file's types (the output's schema is fixed by its first chunk, where
    pandas holds them as object None: no type), each value as stored (an id past 2**53 exact)."""
    gaps = [None] * 10
    table = _arrow(
        frame,
        customer_id=pa.array(gaps + [2**60 + i for i in range(30)], pa.int64()),
        active=pa.array(gaps + [i % 2 == 0 for i in range(30)], pa.bool_()),
        day=pa.array(gaps + [dt.date(2024, 1, i % 28 + 1) for i in range(30)], pa.date32()),
        amount=pa.array(gaps + [decimal.Decimal(f"{i}.10") for i in range(30)], pa.decimal128(9, 2)),
    )
    pq.write_table(table, source := tmp_path / "batch.parquet")
    kept = ["active", "day", "amount"]
    done = score(source, tmp_path / "p.parquet", "--chunk-rows", "10", *[f"--keep={name}" for name in kept])
    assert done.code == 0, done.err
    out = pq.read_table(tmp_path / "p.parquet")
    for name in ["customer_id", *kept]:
        assert out.schema.field(name).type == table.schema.field(name).type, name
        assert out.column(name).to_pylist() == table.column(name).to_pylist(), name


def test_whole_number_columns_with_gaps_read_back_exactly_in_pandas(score, tmp_path, frame) -> None:
    """An id past 2**53 with a gap, copied into the output: exact in the file, but pandas read it
    as float64 (no pandas metadata), 9007199254740993 as 9007199254740992.0, and a join on it
    matched the wrong row. The output tells pandas its nullable type: Int64, UInt64."""
    ids = [None, *(2**53 + 1 + i for i in range(39))]
    big = [2**64 - 1 - i if i % 5 else None for i in range(40)]
    pq.write_table(
        _arrow(frame, customer_id=pa.array(ids, pa.int64()), code=pa.array(big, pa.uint64())),
        source := tmp_path / "batch.parquet",
    )
    done = score(source, tmp_path / "p.parquet", "--chunk-rows", "10", "--keep", "code")
    assert done.code == 0, done.err
    out = pd.read_parquet(tmp_path / "p.parquet")
    assert (out["customer_id"].dtype, out["code"].dtype) == (pd.Int64Dtype(), pd.UInt64Dtype())
    assert out["customer_id"].astype(object).where(out["customer_id"].notna(), None).tolist() == ids
    assert out["code"].astype(object).where(out["code"].notna(), None).tolist() == big
    assert out["row"].dtype == "int64"  # the scorer's own columns as pandas types them


def test_csv_copied_columns_are_the_text_of_every_chunk(score, tmp_path, frame) -> None:
    """A CSV's id and ``--keep`` columns are copied as written, whatever the first chunk holds:
    empty, then ids with leading zeros, then "A17"; whole numbers, then decimals."""
    batch = frame.assign(
        customer_id=[""] * 10 + [f"{i:04d}" for i in range(15)] + [f"A{i}" for i in range(15)],
        batch=[str(i) for i in range(20)] + [f"{i}.5" for i in range(20)],
    )
    batch.to_csv(source := tmp_path / "batch.csv", index=False)
    done = score(source, tmp_path / "p.parquet", "--chunk-rows", "10", "--keep", "batch")
    assert done.code == 0, done.err
    out = pq.read_table(tmp_path / "p.parquet").to_pydict()
    assert out["customer_id"] == [None] * 10 + batch["customer_id"][10:].tolist()  # "" is data.missing_values
    assert out["batch"] == batch["batch"].tolist()


def test_a_numeric_feature_empty_in_the_first_chunk_scores_as_in_one_chunk(score, tmp_path, frame) -> None:
    """satisfaction_score (float, nullable) empty in all of a CSV's first chunk: read as a
    number from the second chunk on, the same scores as the file read in one chunk."""
    frame.assign(satisfaction_score=[None] * 10 + frame["satisfaction_score"][10:].tolist()).to_csv(
        source := tmp_path / "batch.csv", index=False
    )
    for rows in ("10", "40"):
        done = score(source, tmp_path / f"p{rows}.parquet", "--chunk-rows", rows)
        assert done.code == 0 and json.loads(done.out)["scored"] == 40, done.err
    chunked, whole = (pd.read_parquet(tmp_path / f"p{rows}.parquet") for rows in ("10", "40"))
    pd.testing.assert_frame_equal(chunked, whole)


def test_a_column_that_cannot_be_written_is_one_line_and_no_output(score, tmp_path, frame) -> None:
    """A map column (pandas gives its rows as lists of pairs, which pyarrow cannot convert back):
    exit 2 naming the column and the rows, no traceback, no output file nor temporary left."""
    (tmp_path / "p.parquet").write_bytes(b"the previous run's")
    pairs = pa.array([[("k", i)] for i in range(40)], pa.map_(pa.string(), pa.int64()))
    pq.write_table(_arrow(frame, attrs=pairs), source := tmp_path / "batch.parquet")
    done = score(source, tmp_path / "p.parquet", "--chunk-rows", "10", "--keep", "attrs")
    assert done.code == 2
    assert re.fullmatch(
        r"error: cannot write \S+p\.parquet: column 'attrs' \(rows 0-9\) must hold .+\n", done.err
    )
    assert (tmp_path / "p.parquet").read_bytes() == b"the previous run's"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["batch.parquet", "p.parquet"]


@pytest.fixture(scope="module")
def multiclass_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model of text classes (bronze, gold, silver): its label column is text."""
    from mlapp import model as model_io
    from mlapp.stages.train import train
    from tests.pipeline.task_tables import table

    fast = PARAMS.train.model_copy(
        update={"xgboost": PARAMS.train.xgboost.model_copy(update={"n_estimators": 10, "max_depth": 2})}
    )
    booster, spec = train(table("multiclass", 300), "churned", fast, "multiclass", examples=5)
    folder = tmp_path_factory.mktemp("multiclass") / "models"
    model_io.save(booster, spec, folder)
    return folder


@pytest.mark.parametrize("rejected", [0, 5])  # a header only; a first chunk of rejected rows only
def test_text_labels_are_typed_without_a_scored_row(
    multiclass_model: Path, tmp_path: Path, rejected: int
) -> None:
    """A chunk without a valid row gave pandas an empty object column of labels, which pyarrow
    typed null: a header-only file's output had a null 'label' (no reader could append it to a
    day's text labels), and a first chunk of rejected rows stopped the run at the next ("column
    'label' (rows 5-9) must hold one type in every row: null"), nothing scored."""
    frame = generate(20 if rejected else 0, 5).drop(columns=["churned"])
    frame.loc[: rejected - 1, "contract"] = "lifetime"  # not a level: rejected
    frame.to_csv(tmp_path / "batch.csv", index=False)
    data = PARAMS.data
    done = scorer.score(str(tmp_path / "batch.csv"), tmp_path / "out.parquet", multiclass_model, 5,
                        tmp_path / "none.json", data.missing_values, data.csv_separator, data.decimal,
                        id_column=data.id_column)  # fmt: skip
    assert (done.scored, done.rejected) == (len(frame) - rejected, rejected)
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.schema.field("label").type == pa.large_string(), written.schema
    assert written.num_rows == len(frame) - rejected

"""`mlapp serving score`'s output files: whole or not at all, never the input, one error line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as arrow
import pyarrow.parquet as pq
import pytest

from mlapp.errors import UserError
from mlapp.sample_data import generate
from mlapp.serving import score as scorer
from tests.serving.conftest import PARAMS


def run_score(source: Path, output: Path, model_dir: Path, chunk_rows: int = 100) -> scorer.Summary:
    data = PARAMS.data
    return scorer.score(str(source), output, model_dir, chunk_rows, output.parent / "none.json",
                        data.missing_values, data.csv_separator, data.decimal,
                        id_column=data.id_column)  # fmt: skip


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    source = tmp_path / "batch.csv"
    frame = generate(300, 5)
    frame.loc[3, "contract"] = "lifetime"  # one reject, so a rejects file exists too
    frame.to_csv(source, index=False)
    return source


@pytest.fixture
def earlier(tmp_path: Path, batch: Path, serving_root: Path) -> dict[Path, bytes]:
    """The output and rejects of an earlier, successful run: their bytes."""
    output = tmp_path / "out" / "predictions.parquet"
    run_score(batch, output, serving_root / "models")
    files = [output, output.with_name("predictions.rejects.parquet")]
    return {path: path.read_bytes() for path in files}


def assert_untouched(earlier: dict[Path, bytes]) -> None:
    folder = next(iter(earlier)).parent
    assert sorted(folder.iterdir()) == sorted(earlier)  # no temporary file left behind
    assert {path: path.read_bytes() for path in earlier} == earlier


def test_a_run_that_fails_midway_leaves_the_earlier_output_as_it_was(
    tmp_path: Path, batch: Path, earlier: dict[Path, bytes], serving_root: Path
) -> None:
    lines = batch.read_text().splitlines()
    lines[250] += ",surplus"  # a ragged row in the third chunk: the first two were written
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match="line 251"):
        run_score(broken, next(iter(earlier)), serving_root / "models")
    assert_untouched(earlier)


def test_an_interrupted_run_leaves_the_earlier_output_as_it_was(
    monkeypatch: pytest.MonkeyPatch, batch: Path, earlier: dict[Path, bytes], serving_root: Path
) -> None:
    chunks = []
    split_valid = scorer.split_valid

    def interrupted(frame: pd.DataFrame, decimal: str, missing: list[str]):
        chunks.append(len(frame))
        if len(chunks) == 2:  # Ctrl-C after one chunk was written
            raise KeyboardInterrupt
        return split_valid(frame, decimal, missing)

    monkeypatch.setattr(scorer, "split_valid", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_score(batch, next(iter(earlier)), serving_root / "models")
    assert_untouched(earlier)


def test_a_clean_run_removes_an_earlier_runs_rejects(
    tmp_path: Path, earlier: dict[Path, bytes], serving_root: Path
) -> None:
    clean = tmp_path / "clean.csv"
    generate(120, 6).to_csv(clean, index=False)
    output = next(iter(earlier))
    assert run_score(clean, output, serving_root / "models").rejects is None
    assert sorted(output.parent.iterdir()) == [output]


@pytest.mark.parametrize("output", ["batch.parquet", "batch.rejects.parquet"])
def test_an_output_named_like_the_input_is_refused(tmp_path: Path, serving_root: Path, output: str) -> None:
    source = tmp_path / output
    generate(50, 7).to_parquet(source, index=False)
    before = source.read_bytes()
    written = tmp_path / "batch.parquet"  # the input itself, or the input is its rejects file
    with pytest.raises(UserError, match="is the input"):
        scorer.score(str(source), written, serving_root / "models", 100, tmp_path / "none.json",
                     [""], ",", ".", fmt="parquet")  # fmt: skip
    assert source.read_bytes() == before


def test_an_output_folder_that_cannot_be_made_is_one_error_line(
    tmp_path: Path, batch: Path, serving_root: Path
) -> None:
    (tmp_path / "taken").write_text("a file where the output's folder would go")
    with pytest.raises(UserError, match=r"cannot write .*taken/predictions.parquet"):
        run_score(batch, tmp_path / "taken" / "predictions.parquet", serving_root / "models")


def test_a_first_chunk_of_rejects_only_keeps_the_id_column_typed(tmp_path: Path, serving_root: Path) -> None:
    frame = generate(250, 8)
    frame.loc[:99, "region"] = "mars"  # the whole first chunk is rejected: no id value to type it by
    source = tmp_path / "batch.csv"
    frame.to_csv(source, index=False)
    summary = run_score(source, tmp_path / "out.parquet", serving_root / "models")
    assert (summary.scored, summary.rejected) == (150, 100)
    ids = pq.read_table(tmp_path / "out.parquet").column(PARAMS.data.id_column).to_pylist()
    assert ids == frame[PARAMS.data.id_column].iloc[100:].tolist()


def test_a_parquet_with_gaps_in_some_chunks_scores_as_the_whole_file(
    tmp_path: Path, serving_root: Path
) -> None:
    """Another writer's int64 ids and ages with a null in one chunk each: pandas read that chunk
    alone as float64, so the output's ids were int64 read in chunks and double (1000.0) whole."""
    frame = generate(300, 9).astype({"age": "Int64"})
    frame["customer_id"] = pd.array(range(1000, 1300), dtype="Int64")
    frame.loc[220, "customer_id"] = frame.loc[150, "age"] = pd.NA  # a missing age is its row's reject
    table = arrow.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, source := tmp_path / "batch.parquet")
    written = []
    for rows in (1000, 100):
        run_score(source, output := tmp_path / f"out-{rows}" / "p.parquet", serving_root / "models", rows)
        files = (output, output.with_name("p.rejects.parquet"))
        written.append([pq.read_table(path).replace_schema_metadata(None) for path in files])
    (predictions, rejects), chunked = written
    assert [whole.equals(part) for whole, part in zip(written[0], chunked, strict=True)] == [True, True]
    ids = predictions.select(["row", PARAMS.data.id_column]).to_pandas(integer_object_nulls=True)
    assert predictions.schema.field(PARAMS.data.id_column).type == arrow.int64()
    assert ids.set_index("row").loc[[219, 220]].iloc[:, 0].tolist() == [1219, None]
    assert set(rejects.column("row").to_pylist()) == {150}

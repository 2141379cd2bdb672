"""`mlapp serving score`: a real file (CSV, Parquet, over HTTP) through the real command.

One test runs it as a new process (``score``), as a job does; the others call the same command
in this process (``mlapp_score``: exit code and stderr as the process gives them), without
importing pandas, pandera and xgboost again for each file.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import http.server
import lzma
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as arrow
import pyarrow.parquet as pq
import pytest

from mlapp import schema
from mlapp.errors import UserError
from mlapp.sample_data import generate
from mlapp.serving import rejects as checked
from mlapp.serving import score as scorer
from mlapp.spellings import TRUE_FALSE_HINT
from tests.conftest import REPO, answering, run_main, sh
from tests.serving.conftest import PARAMS

BAD = {5: ("age", 7), 17: ("contract", "lifetime"), 1234: ("monthly_charges", "lots")}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    frame = generate(3_000, 31)
    frame["monthly_charges"] = frame["monthly_charges"].astype(object)
    for row, (column, value) in BAD.items():
        frame.loc[row, column] = value
    return frame


def score(serving_root: Path, source: str | Path, output: Path, *extra: str):
    return sh(
        "mlapp", "--params", serving_root / "params.yaml", "serving", "score", "--input", str(source),
        "--output", output, "--model-dir", serving_root / "models", *extra, cwd=serving_root, check=False,
    )  # fmt: skip


class Done(NamedTuple):
    returncode: int
    stderr: str


@pytest.fixture
def mlapp_score(serving_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``score``'s command run in this process, from ``serving_root``; ``params`` another params.yaml."""

    def run(source: str | Path, output: Path, *extra: str, params: Path | None = None) -> Done:
        monkeypatch.chdir(serving_root)
        capsys.readouterr()  # what came before is not this command's
        settings, model_dir = params or serving_root / "params.yaml", serving_root / "models"
        code = run_main(
            monkeypatch, "--params", str(settings), "serving", "score", "--input", str(source),
            "--output", str(output), "--model-dir", str(model_dir), *extra,
        )  # fmt: skip
        return Done(code, capsys.readouterr().err)

    return run


def score_in_process(source: str, model_dir: Path, tmp_path: Path, **options: Any) -> None:
    """``scorer.score`` with params' data settings, 700-row chunks, into ``tmp_path`` (no lineage)."""
    data = PARAMS.data
    scorer.score(source, tmp_path / "out.parquet", model_dir, 700, tmp_path / "none.json",
                 data.missing_values, data.csv_separator, data.decimal, **options)  # fmt: skip


def check_output(output: Path, table: pd.DataFrame, model) -> None:
    scored = pq.read_table(output)
    frame = scored.to_pandas()
    good = table.drop(index=list(BAD))
    assert frame["row"].tolist() == good.index.tolist()  # every valid row, in input order
    assert frame[PARAMS.data.id_column].tolist() == good[PARAMS.data.id_column].tolist()
    typed = good.astype({"monthly_charges": float})
    np.testing.assert_allclose(frame["probability"], model.predict_proba(typed), atol=1e-9)
    assert set(frame["model_version"]) == {model.version}
    meta = {k.decode(): v.decode() for k, v in scored.schema.metadata.items() if k.startswith(b"mlapp.")}
    assert meta["mlapp.model_version"] == model.version and "mlapp.git_commit" in meta
    rejects = pq.read_table(output.with_name(output.stem + ".rejects.parquet")).to_pandas()
    assert sorted(set(rejects["row"])) == sorted(BAD)
    assert set(rejects["column"]) == {column for column, _ in BAD.values()}


@pytest.mark.slow
def test_csv_in_small_chunks_with_rejects_reported(serving_root, tmp_path, table, model) -> None:
    source = tmp_path / "batch.csv"
    table.to_csv(source, index=False)
    done = score(serving_root, source, tmp_path / "out" / "predictions.parquet", "--chunk-rows", "700")
    assert done.returncode == 1, done.stderr  # rows were rejected: said, and the job fails
    assert "3 rows rejected" in done.stderr
    check_output(tmp_path / "out" / "predictions.parquet", table, model)


def test_gzipped_csv_locally_and_over_http(mlapp_score, http_root, table, model) -> None:
    url, folder = http_root
    table.to_csv(folder / "batch.csv.gz", index=False)  # pandas compresses by the name
    for source in (folder / "batch.csv.gz", f"{url}/batch.csv.gz"):
        done = mlapp_score(source, folder / "predictions.parquet")
        assert done.returncode == 1, done.stderr  # the BAD rows, found in the decompressed text
        check_output(folder / "predictions.parquet", table, model)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_a_compressed_csv_is_scored_as_data_raw_would_be_read(
    serving_root, http_root, table, model, suffix
) -> None:
    """The compressions data.raw may have (``.bz2``, ``.xz`` too, not only ``.gz``), by the name,
    a file or a URL; a CSV named ``.csv.xz`` was not told to be a CSV."""
    url, folder = http_root
    table.to_csv(folder / f"batch.csv{suffix}", index=False)  # pandas compresses by the name
    for source in (str(folder / f"batch.csv{suffix}"), f"{url}/batch.csv{suffix}?v=1"):
        (folder / "out.parquet").unlink(missing_ok=True)
        score_in_process(source, serving_root / "models", folder, id_column=PARAMS.data.id_column)
        check_output(folder / "out.parquet", table, model)


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with answering(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        yield url, tmp_path


def test_parquet_over_http(mlapp_score, http_root, table, model) -> None:
    url, folder = http_root
    table.astype({"monthly_charges": str}).to_parquet(folder / "batch.parquet")
    done = mlapp_score(f"{url}/batch.parquet", folder / "predictions.parquet")
    assert done.returncode == 1, done.stderr
    check_output(folder / "predictions.parquet", table, model)


def test_a_presigned_urls_signature_is_not_kept_in_the_output(serving_root, http_root, table) -> None:
    """Whoever reads the predictions reads mlapp.input: a pre-signed URL's signature there would
    let them read the batch until it expires (the other parameters stay, as the error shows them)."""
    url, folder = http_root
    table.astype({"monthly_charges": str}).to_parquet(folder / "batch.parquet")
    source = f"{url}/batch.parquet?X-Amz-Signature=SECRET&v=1"
    score_in_process(source, serving_root / "models", folder, id_column=PARAMS.data.id_column)
    meta = pq.read_schema(folder / "out.parquet").metadata
    assert meta[b"mlapp.input"].decode() == f"{url}/batch.parquet?X-Amz-Signature=***&v=1"


def test_a_semicolon_csv_is_scored_with_data_csv_separator(
    serving_root, mlapp_score, tmp_path, table, model
) -> None:
    """A European export: the same rows and rejects as the comma file, by the setting alone."""
    params = tmp_path / "params.yaml"
    text = (serving_root / "params.yaml").read_text()
    params.write_text(text.replace('csv_separator: ","', 'csv_separator: ";"', 1))
    source = tmp_path / "batch.csv"
    table.to_csv(source, sep=";", index=False)
    done = mlapp_score(source, tmp_path / "p.parquet", params=params)
    assert done.returncode == 1, done.stderr  # the BAD rows, as in the comma file
    assert "3 rows rejected" in done.stderr
    check_output(tmp_path / "p.parquet", table, model)


@pytest.mark.parametrize("name", ["batch.tsv", "batch.tsv.gz"])
def test_a_tsv_is_scored_with_tabs_as_data_raw_would_be_read(
    mlapp_score, tmp_path, table, model, name
) -> None:
    """data.csv_separator is ','; the name says tab, as it does to validate and the monitor."""
    table.to_csv(tmp_path / name, sep="\t", index=False)  # pandas compresses by the name
    done = mlapp_score(tmp_path / name, tmp_path / "p.parquet")
    assert done.returncode == 1, done.stderr  # the BAD rows, as in the comma file
    assert "3 rows rejected" in done.stderr
    check_output(tmp_path / "p.parquet", table, model)


def test_format_tsv_reads_a_file_named_otherwise_with_tabs(mlapp_score, tmp_path, table, model) -> None:
    table.to_csv(tmp_path / "export.txt", sep="\t", index=False)
    refused = mlapp_score(tmp_path / "export.txt", tmp_path / "p.parquet")
    assert refused.returncode == 2 and "pass --format csv|tsv|parquet" in refused.stderr
    done = mlapp_score(tmp_path / "export.txt", tmp_path / "p.parquet", "--format", "tsv")
    assert done.returncode == 1, done.stderr
    check_output(tmp_path / "p.parquet", table, model)


def test_a_decimal_comma_csv_scores_as_its_decimal_point_copy(
    serving_root, mlapp_score, tmp_path, model
) -> None:
    """``1;3,5;...``: data.csv_separator ';' and data.decimal ',' give the comma file's scores."""
    params = tmp_path / "params.yaml"
    text = (serving_root / "params.yaml").read_text()
    params.write_text(
        text.replace('csv_separator: ","', 'csv_separator: ";"', 1).replace('decimal: "."', 'decimal: ","', 1)
    )
    clean = generate(500, 9)
    clean.to_csv(tmp_path / "point.csv", index=False)
    clean.to_csv(tmp_path / "comma.csv", sep=";", decimal=",", index=False)
    header, first = (tmp_path / "comma.csv").read_text().splitlines()[:2]
    assert "," in first.split(";")[header.split(";").index("monthly_charges")]  # 90,21: a decimal comma
    for name, settings in (("point", serving_root / "params.yaml"), ("comma", params)):
        done = mlapp_score(tmp_path / f"{name}.csv", tmp_path / f"{name}.parquet", params=settings)
        assert done.returncode == 0, done.stderr
    point, comma = (pq.read_table(tmp_path / f"{n}.parquet").to_pandas() for n in ("point", "comma"))
    pd.testing.assert_frame_equal(comma, point)
    np.testing.assert_allclose(point["probability"], model.predict_proba(clean), atol=1e-6)


def test_a_clean_file_exits_0_and_a_missing_column_2(mlapp_score, tmp_path, model) -> None:
    clean = generate(500, 8)
    clean.to_parquet(tmp_path / "clean.parquet")
    done = mlapp_score(tmp_path / "clean.parquet", tmp_path / "p.parquet")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "p.rejects.parquet").exists()
    clean.drop(columns=["age"]).to_parquet(tmp_path / "no-age.parquet")
    broken = mlapp_score(tmp_path / "no-age.parquet", tmp_path / "q.parquet")
    assert broken.returncode == 2 and "lacks feature columns ['age']" in broken.stderr


def test_the_image_entry_point_is_the_same_scorer(serving_root, tmp_path) -> None:
    generate(200, 9).to_csv(tmp_path / "in.csv", index=False)
    done = sh(
        "python", "-m", "mlapp.serving.score", "--params", serving_root / "params.yaml",
        "--input", tmp_path / "in.csv", "--output", tmp_path / "out.parquet", cwd=serving_root, check=False,
        env={"PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert pq.read_metadata(tmp_path / "out.parquet").num_rows == 200


def test_the_job_manifest_runs_this_entry_point_from_the_serving_image() -> None:
    from mlapp.delivery import kube

    objects = kube.render(REPO / "infra" / "jobs")
    assert kube.schema_errors(objects, PARAMS.delivery.kubernetes_version) == []
    (job,) = objects
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == PARAMS.delivery.app  # the placeholder the Deployment's image uses
    assert container["command"] == ["python", "-m", "mlapp.serving.score"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/scores" in mounts and container["args"][-1].startswith("/scores/")


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("empty.csv", b"", r"it is empty \(no header line naming its columns\)"),
        ("ragged.csv", b"age,region\n40,north,extra\n", "a row has more fields than the header names"),
        ("text.parquet", b"not parquet\n", "Parquet magic bytes not found"),
        ("absent.csv", None, "No such file"),
        (
            "latin1.csv",
            "âge,région\n40,north\n".encode("latin-1"),
            r"line 1 is not UTF-8 text \('âge' read as Windows-1252\): save the file as UTF-8",
        ),
        # The decoder said "byte 0xfc in position 1": a position in the chunk, not the file.
        (
            "latin1-late.csv",
            b"age,region\n40,north\n41,M\xfcnster\n",
            r"line 3 is not UTF-8 text \('Münster' read as Windows-1252\): save the file as UTF-8",
        ),
        ("plain.csv.gz", b"age,region\n40,north\n", "Not a gzipped file"),
        ("cut.csv.gz", gzip.compress(b"age,region\n40,north\n" * 50, mtime=0)[:30], "cut short: its .gz"),
        ("plain.csv.xz", b"age,region\n40,north\n", "Input format not supported"),
        ("cut.csv.bz2", bz2.compress(b"age,region\n40,north\n" * 50)[:30], "cut short: its .bz2 data"),
        ("cut.csv.xz", lzma.compress(b"age,region\n40,north\n" * 50)[:30], "cut short: its .xz data"),
        # Not "lacks feature columns", nor the first "age" scored and the other one ignored.
        ("repeated.csv", b"age,region,age\n40,north,41\n", r"the header names \['age'\] more than once"),
        (
            "repeated.csv.gz",
            gzip.compress(b"age,region,age\n40,north,41\n", mtime=0),
            r"names \['age'\] more than once",
        ),
    ],
)
def test_an_unreadable_input_is_one_error_line(serving_root, tmp_path, name, content, said) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(UserError, match=f"cannot read {tmp_path / name}: .*{said}"):
        score_in_process(str(tmp_path / name), serving_root / "models", tmp_path)


def test_a_batch_cut_short_is_one_error_line(serving_root, tmp_path) -> None:
    """pandas padded its last row with missing values: scored as if its cells were left blank."""
    rows, last = generate(20, 3).to_csv(index=False).rstrip("\n").rsplit("\n", 1)
    (source := tmp_path / "cut.csv").write_text(rows + "\n" + ",".join(last.split(",")[:5]))
    with pytest.raises(UserError) as caught:
        score_in_process(str(source), serving_root / "models", tmp_path)
    assert str(caught.value) == (
        f"cannot read {source}: a row has fewer fields than the header names (line 21: 5 fields, the header "
        "names 20; the last line is cut short (a partial upload or copy): write the file again in full)"
    )


def test_a_parquet_file_naming_a_column_twice_is_one_error_line(serving_root, tmp_path) -> None:
    table = arrow.Table.from_pandas(generate(20, 3), preserve_index=False)
    pq.write_table(table.append_column("age", table.column("tenure_months")), tmp_path / "twice.parquet")
    with pytest.raises(UserError, match=r"twice\.parquet: the columns \['age'\] appear more than once"):
        score_in_process(str(tmp_path / "twice.parquet"), serving_root / "models", tmp_path)


def test_an_unreachable_bucket_is_one_error_line(serving_root, tmp_path, unreachable_s3) -> None:
    with pytest.raises(
        UserError, match=r"cannot read s3://bucket/batch\.csv: Could not connect to the endpoint"
    ):
        score_in_process("s3://bucket/batch.csv", serving_root / "models", tmp_path)


def test_no_model_is_one_error_line(tmp_path) -> None:
    with pytest.raises(UserError, match=f"model {tmp_path / 'models'}/model.ubj not found: run the pipeline"):
        score_in_process("batch.csv", tmp_path / "models", tmp_path)


def test_a_whole_number_feature_with_blanks_and_a_typo_is_read_row_by_row(monkeypatch) -> None:
    """A nullable int feature (pandas Int64) read as text: numbers and blanks pass, a typo is its
    row's failure. Before, "Int64" was not taken for a number and the text went to pandera as is."""
    monkeypatch.setattr(checked, "FEATURES", {"visits": schema._number(int, 0, 10, nullable=True)})
    monkeypatch.setattr(checked, "feature_schema", lambda: pa.DataFrameSchema(checked.FEATURES, coerce=True))
    valid, rejects = checked.split_valid(pd.DataFrame({"visits": ["3", None, "three"]}), ".")
    assert valid["visits"].tolist() == [3, pd.NA]
    assert rejects[["index", "column", "value"]].values.tolist() == [[2, "visits", "three"]]


def test_a_reject_carries_validates_hint_for_the_export_habit_that_explains_it(monkeypatch) -> None:
    """Rejects said a bare `type float64` for 1,250 or 3,5, where validate names the habit to
    change in the export; each row gets its own value's hint, none for a value merely wrong."""
    features = {"charges": schema._number(float, 0, 10_000), "signed_up": pa.Column("datetime64[ns]")}
    monkeypatch.setattr(checked, "FEATURES", features)
    monkeypatch.setattr(checked, "feature_schema", lambda: pa.DataFrameSchema(features, coerce=True))
    frame = pd.DataFrame(
        {
            "charges": ["2.5", "1,250", "lots", "3,5", "charges", "7"],
            "signed_up": ["2024-03-01", "2024-03-01", "2024-03-01", "2024-03-01", "2024-03-01", "01/03/2024"],
        }
    )
    valid, rejects = checked.split_valid(frame, ".")
    assert valid["charges"].tolist() == [2.5]  # good rows as before
    assert rejects[["index", "column", "check", "value"]].values.tolist() == [
        [1, "charges", "parse as float64 (thousands separators: export numbers without them)", "1,250"],
        [2, "charges", "parse as float64", "lots"],
        [3, "charges", "parse as float64 (decimal commas: set data.decimal: ',' in params.yaml, or export "
         "numbers with a decimal point)", "3,5"],
        [4, "charges", "parse as float64 (a row repeats the header 'charges': files joined with their "
         "headers?)", "charges"],
        [5, "signed_up", "parse as datetime64[ns] (not ISO 8601, the one form validate reads, and no data.* "
         "setting reads another: '01/03/2024' in ISO 8601 is 2024-01-03 or 2024-03-01 (month or day first: "
         "the export knows which); write every value so in the export)", "01/03/2024"],
    ]  # fmt: skip


@pytest.mark.parametrize("id_column", ["row", "label", "probability", "model_version"])
def test_an_id_column_named_like_an_output_column_is_refused(serving_root, tmp_path, id_column) -> None:
    """The output holds the id next to row, the task's fields and model_version: an id named like
    one of them was overwritten (or overwrote the row numbers) without a word."""
    frame = generate(50, 5).rename(columns={PARAMS.data.id_column: id_column})
    frame.to_csv(tmp_path / "batch.csv", index=False)
    said = rf"data\.id_column {id_column!r}: the batch scorer writes a column of that name"
    with pytest.raises(UserError, match=said):
        score_in_process(str(tmp_path / "batch.csv"), serving_root / "models", tmp_path, id_column=id_column)
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("name", ["predictions.csv", "predictions.tsv.gz", "predictions"])
def test_an_output_not_named_as_parquet_is_refused(serving_root, tmp_path, name) -> None:
    """The output is Parquet whatever its name: a predictions.csv held Parquet bytes, garbage in a
    spreadsheet. Refused before anything is read or written."""
    generate(50, 5).to_csv(tmp_path / "batch.csv", index=False)
    with pytest.raises(UserError, match=rf"--output .*{name}: the predictions are written as Parquet"):
        scorer.score(str(tmp_path / "batch.csv"), tmp_path / name, serving_root / "models", 100,
                     tmp_path / "none.json", [], ",", ".")  # fmt: skip
    assert not (tmp_path / name).exists()


def test_a_feature_spelt_another_way_is_named_beside_the_missing_one() -> None:
    """'größe' written as NFD (a macOS export) looks exactly like the feature the scorer said the
    file lacks; it names the file's look-alike column and why, as validate does."""
    frame = generate(20, 5).rename(columns={"tenure_months": "tenure_months "})
    said = r"lacks feature columns .'tenure_months'. .the file has 'tenure_months ' for 'tenure_months' .sp"
    with pytest.raises(UserError, match=said):
        checked.split_valid(frame, ".")


def test_a_pq_output_has_its_rejects_beside_it_by_its_stem(serving_root, tmp_path) -> None:
    """The rejects are <output stem>.rejects.parquet for a .pq output too (was p.pq.rejects.parquet)."""
    frame = generate(50, 5).astype({"age": object})
    frame.loc[3, "age"] = "old"
    frame.to_csv(tmp_path / "batch.csv", index=False)
    summary = scorer.score(str(tmp_path / "batch.csv"), tmp_path / "p.pq", serving_root / "models", 100,
                           tmp_path / "none.json", [], ",", ".")  # fmt: skip
    assert summary.rejects == tmp_path / "p.rejects.parquet" and summary.rejects.exists()


WRONG = pd.DataFrame({"foo": [], "bar": []}, dtype=str)
ZERO_ROWS = {"its columns": generate(1, 3).head(0), "wrong columns": WRONG}


@pytest.mark.parametrize("frame", ZERO_ROWS.values(), ids=ZERO_ROWS.keys())
def test_a_parquet_file_without_rows_is_scored_as_the_same_csv(mlapp_score, tmp_path, frame) -> None:
    """A header alone scores nothing (exit 0, an empty output) or names the lacking columns
    (exit 2): so does a Parquet file without rows, which was "has no rows", its columns unchecked."""
    frame.to_csv(tmp_path / "none.csv", index=False)
    frame.to_parquet(tmp_path / "none.parquet", index=False)
    from_csv = mlapp_score(tmp_path / "none.csv", tmp_path / "csv.parquet")
    from_parquet = mlapp_score(tmp_path / "none.parquet", tmp_path / "parquet.parquet")
    assert from_parquet == from_csv
    if "foo" in frame.columns:
        assert from_csv.returncode == 2 and "input lacks feature columns ['tenure_months'" in from_csv.stderr
    else:
        assert from_csv.returncode == 0, from_csv.stderr
        scored = pq.read_table(tmp_path / "parquet.parquet")
        assert scored.num_rows == 0 and scored.schema == pq.read_table(tmp_path / "csv.parquet").schema


def test_true_false_for_a_number_feature_is_rejected_as_the_service_refuses_it(
    serving_root, tmp_path
) -> None:
    """A Parquet boolean where the model takes a number was scored as 1 and 0; a CSV's "TRUE" was
    rejected without a word of why. Each row is now a reject with validate's hint, none scored."""
    frame = generate(40, 5)
    frame.assign(num_products=frame.index % 2 == 0).to_parquet(tmp_path / "typed.parquet")
    text = frame.astype({"num_products": object})
    text.loc[[0, 1], "num_products"] = ["TRUE", "false"]
    text.to_csv(tmp_path / "text.csv", index=False)
    check = f"parse as int64{TRUE_FALSE_HINT}"
    for name, rows in (("typed.parquet", list(range(40))), ("text.csv", [0, 1])):
        output = tmp_path / f"{name}.out.parquet"
        data, model_dir = PARAMS.data, serving_root / "models"
        summary = scorer.score(str(tmp_path / name), output, model_dir, 700, tmp_path / "none.json",
                               data.missing_values, data.csv_separator, data.decimal)  # fmt: skip
        rejects = pq.read_table(summary.rejects).to_pandas()
        assert summary.rejected == len(rows) and summary.scored == 40 - len(rows)
        assert rejects["row"].tolist() == rows and set(rejects["check"]) == {check}
        assert set(rejects["column"]) == {"num_products"}

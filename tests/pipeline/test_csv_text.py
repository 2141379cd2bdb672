"""A team's own CSV as exports write it: which cells are missing, how labels are spelt, ragged rows.

Each case runs the real validate stage on a CSV written the way a pandas, R or spreadsheet
export writes it, and checks what the validated table holds (or the one line that refuses it).
"""

import lzma
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from pandas.errors import ParserError

from mlapp import schema_draft
from mlapp.errors import ParamsError, UserError
from mlapp.files import read_json
from mlapp.params import Params, load_params
from mlapp.sample_data import generate
from mlapp.schema import FEATURES, _category, raw_schema
from mlapp.stages import validate
from mlapp.tables import read_csv
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")
# "NA" is North America here, a category of its own, as a team's region column may have it.
REGIONS = ["north", "south", "east", "NA"]


def _table(regions: dict[str, str] | None = None) -> pd.DataFrame:
    """Sample rows as a CSV holds them (text); ``west`` renamed ``NA`` unless other ``regions``."""
    frame = generate(300, 5).astype(str).replace({"nan": None, "NaT": None})
    return frame.assign(region=frame["region"].replace({"west": "NA"} if regions is None else regions))


def _params(**data: object) -> Params:
    return PARAMS.model_copy(
        update={"data": PARAMS.data.model_validate({**PARAMS.data.model_dump(), **data})}
    )


def _validate(frame: pd.DataFrame | str, params: Params, root: Path) -> tuple[int, dict, Path]:
    source, out, report = root / "raw.csv", root / "out.parquet", root / "report.json"
    if isinstance(frame, str):
        source.write_text(frame)
    else:
        frame.to_csv(source, index=False)
    code = validate.run(params, source=source, output=out, report=report)
    return code, read_json(report), out


def test_a_category_spelt_like_a_missing_value_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """validate and the monitor build the raw schema first, so each says this (the batch scorer
    checks the model's levels: tests/serving/test_csv_agreement.py)."""
    monkeypatch.setitem(FEATURES, "region", _category(REGIONS))
    with pytest.raises(UserError) as refused:
        raw_schema(PARAMS.data)
    assert str(refused.value) == (
        "features.region: isin lists 'NA', which data.missing_values reads as missing: "
        "remove it from one of them (src/mlapp/schema.py, params.yaml)"
    )


def test_a_category_na_is_itself_once_missing_values_leave_it_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(FEATURES, "region", _category(REGIONS))
    frame = _table()
    frame.loc[[3, 4], "total_charges"] = "NULL"  # still missing: it is in the list
    frame.loc[[5], "total_charges"] = ""
    params = _params(missing_values=["", "NULL"])

    code, report, out = _validate(frame, params, tmp_path)

    assert code == 0, report
    typed = pd.read_parquet(out)
    assert (typed["region"] == "NA").sum() == (frame["region"] == "NA").sum() > 0
    assert typed["region"].notna().all()
    assert typed.loc[[3, 4, 5], "total_charges"].isna().all()


def test_none_is_a_value_unless_listed(tmp_path: Path) -> None:
    """Only the listed strings are missing: pandas' own list would read "None" as missing."""
    frame = _table({})
    frame.loc[[7], "total_charges"] = "None"

    code, report, _ = _validate(frame, PARAMS, tmp_path)

    assert code == 1
    assert [(p["column"], p["values"]) for p in report["problems"]] == [("total_charges", ["None"])]


@pytest.mark.parametrize(
    ("spelling", "classes", "expected"),
    [
        ({"0": "0.0", "1": "1.0"}, [0, 1], ["0", "1"]),  # pandas writes an int column with gaps so
        ({"0": "0.0", "1": "1.0"}, None, ["0", "1"]),
        # LIBSVM-style labels: "+1" is class 1 (classes sort -1, 1: 1 is binary's positive class)
        ({"0": "-1", "1": "+1"}, None, ["-1", "1"]),
        ({"0": "-1", "1": "+1"}, [-1, 1], ["-1", "1"]),
        ({"0": "False", "1": "True"}, None, ["false", "true"]),
        ({"0": "FALSE", "1": "TRUE"}, ["False", "True"], ["false", "true"]),
        ({"0": " no", "1": "yes "}, [" no", "yes"], ["no", "yes"]),
        # "e" + a combining accent (Unicode NFD) is the class written "\u00e9" (NFC)
        ({"0": "non", "1": "re\u0301silie\u0301"}, None, ["non", "r\u00e9sili\u00e9"]),
    ],
)
def test_labels_are_one_class_however_an_export_spells_them(
    spelling: dict[str, str], classes: list[object] | None, expected: list[str], tmp_path: Path
) -> None:
    frame = _table({})
    frame["churned"] = frame["churned"].map(spelling)

    code, report, out = _validate(frame, _params(classes=classes), tmp_path)

    assert code == 0, report
    assert sorted(pd.read_parquet(out)["churned"].unique()) == expected


def test_a_class_spelt_like_a_missing_value_is_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"]["classes"] = ["EU", "NA"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(
        ParamsError, match=r"data\.classes lists 'NA', which data\.missing_values reads as missing"
    ):
        load_params(tmp_path / "params.yaml")


def test_an_unquoted_null_among_missing_values_says_quote_it(tmp_path: Path) -> None:
    text = (REPO / "params.yaml").read_text().replace('"null", "#N/A"]', 'null, "#N/A"]')
    assert text != (REPO / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ParamsError, match=r"data\.missing_values: .*quote each entry"):
        load_params(tmp_path / "params.yaml")


def test_rows_with_one_field_too_many_are_refused_not_shifted(tmp_path: Path) -> None:
    """Every row ending in a comma the header lacks: pandas took the first column as an index
    and shifted every value one column left."""
    text = _table().to_csv(index=False)
    header, *rows = text.splitlines()
    code, report, _ = _validate("\n".join([header, *(row + ",x" for row in rows)]) + "\n", PARAMS, tmp_path)

    assert code == 1
    assert report["problems"][0]["column"] == "<file>"
    assert "a row has more fields than the header names" in report["problems"][0]["check"]


@pytest.mark.parametrize(
    "write",
    [
        lambda frame: b"\xef\xbb\xbf" + frame.to_csv(index=False).encode(),  # a spreadsheet's UTF-8 BOM
        lambda frame: frame.to_csv(index=False, lineterminator="\r\n").encode(),  # Windows line endings
        lambda frame: (frame.to_csv(index=False) + "\n\n").encode(),  # blank lines at the end
    ],
    ids=["bom", "crlf", "trailing blank lines"],
)
def test_export_quirks_read_as_the_plain_file(write, tmp_path: Path) -> None:
    frame = _table({})
    frame.loc[2, "customer_id"] = 'C1, "the first"\nline two'  # quoted comma, quote and newline
    (tmp_path / "plain").mkdir()
    expected = _validate(frame, PARAMS, tmp_path / "plain")[2]
    (tmp_path / "raw.csv").write_bytes(write(frame))

    code = validate.run(
        PARAMS, source=tmp_path / "raw.csv", output=tmp_path / "o.parquet", report=tmp_path / "r.json"
    )

    assert code == 0, read_json(tmp_path / "r.json")
    typed = pd.read_parquet(tmp_path / "o.parquet")
    assert typed.loc[2, "customer_id"] == 'C1, "the first"\nline two'
    pd.testing.assert_frame_equal(typed, pd.read_parquet(expected))


def test_spaces_after_the_commas_are_not_part_of_names_or_values(tmp_path: Path) -> None:
    """``a, b, c`` as written by hand or by some exports: the header named " b", and a value
    " NA" was not missing."""
    frame = _table({})
    frame.loc[[3], "total_charges"] = "NA"
    (tmp_path / "plain").mkdir()
    expected = _validate(frame, PARAMS, tmp_path / "plain")[2]

    code, report, out = _validate(frame.to_csv(index=False).replace(",", ", "), PARAMS, tmp_path)

    assert code == 0, report
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(expected))


@pytest.mark.parametrize("wrap", [Path, str, lambda p: p.open("rb")], ids=["path", "name", "stream"])
def test_a_repeated_column_name_is_refused_by_the_one_reader(tmp_path: Path, wrap) -> None:
    """pandas reads a second "age" as "age.1", a column the file does not have: the batch
    scorer and the monitor would say "age" is missing or use one of the two. A header that
    itself names "age" and "age.1" is read as it is."""
    (repeated := tmp_path / "repeated.csv").write_text("age,region,age,region\n40,north,41,south\n")
    with pytest.raises(ParserError, match=r"the header names \['age', 'region'\] more than once"):
        list(read_csv(wrap(repeated), [], 10, ","))
    (suffixed := tmp_path / "suffixed.csv").write_text("age,age.1\n40,41\n")
    (frame,) = read_csv(wrap(suffixed), [], 10, ",")
    assert frame.to_dict("records") == [{"age": "40", "age.1": "41"}]


def test_a_file_stopped_at_its_header_counts_no_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Refused before its rows are read: the report and the line give no row count, not "0 rows"."""
    code, report, _ = _validate("age,region,age\n40,north,41\n", PARAMS, tmp_path)
    assert code == 1 and report["rows"] is None
    assert f"validation FAILED for {tmp_path / 'raw.csv'}: 1 problem(s)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("note", "said"),
    [
        ("plain", "(CSV line = row + 2)"),
        ("two\nlines", "(not line numbers: this file has blank lines or quoted values spanning lines)"),
    ],
    ids=["one line a row", "a value spanning lines"],
)
def test_the_row_to_line_hint_holds_for_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture, note: str, said: str
) -> None:
    """ "CSV line = row + 2" sent a user to the wrong line of a file whose quoted notes span
    lines: the hint is given only when it holds."""
    frame = _table({}).assign(note=note)
    frame.loc[10, "age"] = "lots"
    code, report, _ = _validate(frame, _params(ignore_columns=["note"]), tmp_path)
    assert code == 1 and [p["rows"] for p in report["problems"]] == [[10]]
    assert capsys.readouterr().err.rstrip().endswith(f"rows are 0-based data rows {said}")


def test_a_parquet_file_naming_a_column_twice_is_refused_by_name(tmp_path: Path) -> None:
    """pyarrow writes two columns of one name; validate failed with a TypeError and the schema
    draft with pyarrow's "Multiple matches for FieldRef": both now name the column."""
    frame = _table({})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.append_column("age", table.column("tenure_months"))
    pq.write_table(table, source := tmp_path / "raw.parquet")
    out, report = tmp_path / "out.parquet", tmp_path / "report.json"
    assert validate.run(PARAMS, source=source, output=out, report=report) == 1
    (problem,) = read_json(report)["problems"]
    assert (problem["check"], problem["values"]) == (
        "unique column names (the file's schema repeats them)",
        ["age"],
    )
    with pytest.raises(UserError, match=r"unique column names \(the file's schema repeats them\).*\['age'\]"):
        schema_draft.read(source, PARAMS.data, 1_000)


def test_a_file_named_parquet_that_is_not_is_one_error_line(tmp_path: Path) -> None:
    (source := tmp_path / "raw.parquet").write_text("id,age\n1,40\n")
    out, report = tmp_path / "out.parquet", tmp_path / "report.json"
    assert validate.run(PARAMS, source=source, output=out, report=report) == 1
    (problem,) = read_json(report)["problems"]
    assert problem["check"].startswith("readable table (Parquet magic bytes not found")
    with pytest.raises(UserError, match=r"readable table \(Parquet magic bytes not found"):
        schema_draft.read(source, PARAMS.data, 1_000)


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("raw.csv.gz", b"id,age\n1,40\n", r"not \.gz-compressed as its name says \(Not a"),
        ("raw.csv.xz", lzma.compress(b"id,age\n1,40\n" * 50)[:30], r"cut short: its \.xz data ends"),
        ("raw.csv.bz2", b"id,age\n1,40\n", r"not \.bz2-compressed as its name says"),
        ("raw.csv.zip", b"PK", r"\.zip compression is not read: compress with gzip, bzip2 or xz"),
    ],
)
def test_a_file_not_compressed_as_named_is_one_error_line(
    tmp_path: Path, name: str, content: bytes, said: str
) -> None:
    """A .csv.gz that is not gzip (or is cut short) stopped validate with gzip's own traceback;
    a .zip, read by pandas here alone, is refused by name as the batch scorer and monitor do."""
    (source := tmp_path / name).write_bytes(content)
    out, report = tmp_path / "out.parquet", tmp_path / "report.json"
    assert validate.run(PARAMS, source=source, output=out, report=report) == 1
    (problem,) = read_json(report)["problems"]
    assert re.match(rf"readable table \({said}", problem["check"]), problem["check"]
    with pytest.raises(UserError, match=rf"readable table \({said}"):
        schema_draft.read(source, PARAMS.data, 1_000)


def test_a_column_without_a_name_is_refused_not_learnt_as_unnamed(tmp_path: Path) -> None:
    """pandas' to_csv without index=False writes the row index under a blank name, which
    pandas reads back as "Unnamed: 0" (the draft made it a feature; validate called it an
    unknown column 'Unnamed: 0'): validate names the blank column and the likely cause."""
    frame = _table({})
    frame.to_csv(source := tmp_path / "raw.csv")  # the index too
    out, report = tmp_path / "out.parquet", tmp_path / "report.json"
    assert validate.run(PARAMS, source=source, output=out, report=report) == 1
    (problem,) = read_json(report)["problems"]
    assert problem["check"] == (
        "a name for every column (the header leaves column 1 blank: name it in the file or drop it; "
        "pandas' to_csv writes the row index so unless index=False)"
    )


def test_rows_ending_in_the_separator_are_named_by_line_with_the_fix(tmp_path: Path) -> None:
    """An export ending every data row with a comma the header lacks: pandas' warning named no
    line and said nothing of the trailing comma ("Length of header or names does not match")."""
    header, *rows = _table({}).to_csv(index=False).splitlines()
    code, report, _ = _validate("\n".join([header, *(row + "," for row in rows)]) + "\n", PARAMS, tmp_path)

    assert code == 1
    fields = header.count(",") + 1
    assert report["problems"][0]["check"] == (
        f"readable table (a row has more fields than the header names (line 2: {fields + 1} fields, "
        f"the header names {fields}; the line ends with the separator: remove the one ending each line))"
    )


def test_a_header_ending_in_the_separator_is_named_so_not_as_a_row_index(tmp_path: Path) -> None:
    """Every line, the header too, ending in a comma: the blank name is the last column, not the
    row index pandas' to_csv writes first."""
    text = "".join(f"{line},\n" for line in _table({}).to_csv(index=False).splitlines())
    code, report, _ = _validate(text, PARAMS, tmp_path)

    assert code == 1
    (problem,) = report["problems"]
    last = text.split("\n", 1)[0].count(",") + 1
    assert problem["check"] == (
        f"a name for every column (the header leaves column {last} blank: name it in the file or drop it; "
        "the header ends with the separator: remove the one ending each line)"
    )

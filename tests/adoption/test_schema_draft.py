"""``mlapp template schema``: FEATURES drafted from a table validate accepts, in the formatter's style."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mlapp import schema_draft, schema_render
from mlapp.cli import cli
from mlapp.errors import UserError
from mlapp.params import load_params
from tests.adoption.test_own_data import loans
from tests.conftest import REPO, run_main, sh


def column(*values: str | None) -> pd.Series:
    return pd.Series(values, dtype=object)  # as read_csv gives a CSV: text, None when missing


@pytest.mark.parametrize(
    ("values", "line"),
    [
        # Ranges: 0 on a side no value reached, else twice the furthest value, to one significant digit.
        (("3", "-1", "12"), '"x": _number(int, -2, 30),'),
        (("3", None, "40000"), '"x": _number(int, 0, 80_000, nullable=True),'),
        (("0.25", "1.0", "17.5"), '"x": _number(float, 0.0, 40.0),'),
        (("0.0013", "0.35"), '"x": _number(float, 0.0, 0.7),'),  # a share: not widened to 1.0 whole
        (("-3.2", "-0.5"), '"x": _number(float, -7.0, 0.0),'),
        # Past 1e16 as Python writes it: not 4_000_000_000_000_000_079_538_499_354_624.0
        (("2e30", "-1"), '"x": _number(float, -2.0, 4e30),'),
        (("True", "false", "TRUE"), '"x": pa.Column(bool),'),
        (("yes", None, "no"), '"x": pa.Column("boolean", nullable=True),'),
        (("b", "a", None, "b"), '"x": _category(["a", "b"], nullable=True),'),
        (("02134", "10001", "94105"), '"x": _category(["02134", "10001", "94105"]),'),  # zip codes
        # 20-digit account numbers: codes, not numbers past int64 (drafted as a range validate refused)
        (("10000000000000116736", "10000000000099831808"), '"x": _category(["10000000000000116736", '),
        # 16-digit card numbers, one width: codes; values of many widths up to 9e18: a quantity
        (("4111111111111111", "5500000000000004"), '"x": _category(["4111111111111111", '),
        # card numbers of several networks (Amex 15 digits, Visa 16 and 19): widths differ, but
        # every one passes the Luhn check cards carry, which whole quantities pass 1 in 10 times
        (
            ("378282246310005", "4111111111111111", "4000000000000000006", "5555555555554444"),
            '"x": _category(["378282246310005", ',
        ),
        (
            ("9000000000000000000", "1234567890123456", "42"),
            '"x": _number(int, 0, 9_223_372_036_854_775_807)',
        ),
        # NFC and NFD: one level
        (("z\u00fcrich", "zu\u0308rich", "bern"), '"x": _category(["bern", "z\u00fcrich"]),'),
        (("2024-01-01", "2024-03-05"), '# "x": a date'),
        ((None, None), '# "x": every value is missing'),
    ],
)
def test_each_kind_of_column(values: tuple[str | None, ...], line: str) -> None:
    lines = schema_render.render([schema_draft.feature("x", column(*values), ".")]).splitlines()
    assert lines[1].strip().startswith(line), lines


def test_a_drafted_range_takes_a_plausible_new_value_and_refuses_a_placeholder() -> None:
    """Ages 18..76 were drafted _number(int, 18, 76): kept unreviewed, the service refused an
    80-year-old, and validate and the monitor a table holding one. Drafted 0..200, the same
    every time: 80 passes, a placeholder 999 and a -1 still fail."""
    import pandera.pandas as pa

    from mlapp.schema import _number

    ages = column(*[str(18 + i % 59) for i in range(300)])
    drafted = schema_draft.feature("age", ages, ".")
    assert drafted == schema_draft.feature("age", ages, ".") and drafted.call == "_number(int, 0, 200"
    low, high = map(int, drafted.call.removeprefix("_number(int, ").split(", "))
    with pytest.raises(pa.errors.SchemaErrors) as refused:
        pa.DataFrameSchema({"age": _number(int, low, high)}).validate(
            pd.DataFrame({"age": [80, 999, -1]}), lazy=True
        )
    assert refused.value.failure_cases["failure_case"].tolist() == [999, -1]


@pytest.mark.parametrize(
    ("values", "call"),
    [
        (("3.3e38", "-1.8e38"), "_number(float, -3.4028234663852886e38, 3.4028234663852886e38"),
        (("5e18", "1"), "_number(int, 0, 9_223_372_036_854_775_807"),
    ],
)
def test_a_range_past_what_the_model_takes_is_drafted_at_its_limit(
    values: tuple[str, ...], call: str
) -> None:
    """Twice 3.3e38 is past float32's largest (3.4e38), which validate and the service refuse past:
    drafted 7e38 (written 700_000_000_000_000_003_131_134_695_670_819_061_760.0), a range no value
    could fill. At the limit, every value seen passes and the service's rule is the model's own."""
    import pandera.pandas as pa

    from mlapp.schema import _number
    from mlapp.serving.records import MODEL_LIMITS, field_rule

    drafted = schema_draft.feature("x", column(*values), ".")
    assert drafted.call == call
    kind = int if "int" in call else float
    low, high = (kind(bound.replace("_", "")) for bound in call.removesuffix(")").split(", ")[1:])
    seen = pd.DataFrame({"x": [kind(float(value)) for value in values]})
    pa.DataFrameSchema({"x": _number(kind, low, high)}).validate(seen)
    if kind is float:
        assert field_rule("x", _number(kind, low, high)).bounds == dict(MODEL_LIMITS[float][:2])


def test_decimal_commas_draft_a_number_under_data_decimal() -> None:
    """A ';'-separated export's "3,5" is a float with data.decimal ',' (as validate reads it),
    without, numbers written with decimal commas (once drafted as the category "3,5", "-1,25", "17")."""
    values = column("3,5", "-1,25", "17")
    comma = schema_render.render([schema_draft.feature("x", values, ",")]).splitlines()[1].strip()
    assert comma.startswith('"x": _number(float, -3.0, 40.0),'), comma
    point = schema_render.render([schema_draft.feature("x", values, ".")]).splitlines()[1].strip()
    assert point.startswith("# \"x\": numbers written as '3,5' (decimal commas: set data.decimal"), point


def test_free_text_and_refused_names_are_comments_not_features() -> None:
    notes = [f"note {i}" for i in range(200)]
    assert "free text, 200 values in 200 rows" in schema_draft.feature("note", column(*notes), ".").skip
    assert "rename" in schema_draft.feature("size [cm]", column("1", "2"), ".").skip


def test_an_undeclared_id_column_is_named_as_one_not_drafted_as_a_feature() -> None:
    """A row number left out of data.id_column was drafted _number(int, 1, 200): a feature that
    teaches nothing and makes the service refuse every later id above 200. Named like an id with
    every value distinct, it is left out with the setting to use; a unique text column hears of
    the setting too; a count named like a word ending in 'id' ("paid") stays a number."""
    ids = [str(i) for i in range(1, 201)]
    for name in ("id", "customer_id", "CustomerID", "user id"):
        skip = schema_draft.feature(name, column(*ids), ".").skip
        assert "named like an id, every value distinct; if it identifies the row, set data.id_column" in skip
    paid = [str(5 * i) for i in range(1, 201)]  # distinct, not consecutive: no row number either
    assert schema_draft.feature("paid", column(*paid), ".").call == "_number(int, 0, 2000"
    assert schema_draft.feature("store_id", column(*(["1", "2"] * 100)), ".").call == "_number(int, 0, 4"
    emails = column(*[f"user{i}@example.com" for i in range(200)])
    assert "set data.id_column (params.yaml) to it instead" in schema_draft.feature("email", emails, ".").skip


@pytest.mark.parametrize("name", ["row_no", "idx", "n", "Unnamed: 0", "index"])
@pytest.mark.parametrize("order", ["file", "shuffled"])
def test_a_row_number_not_named_like_an_id_is_left_out_with_the_way_back(name: str, order: str) -> None:
    """Consecutive whole numbers, each once, were drafted _number(int, 0, 199): the model learnt
    the row order. In file order or shuffled (a sorted export's row numbers), they are left out
    as an id is, with the declaration that keeps them as a feature."""
    numbers = list(range(200))
    if order == "shuffled":
        numbers = list(np.random.default_rng(0).permutation(200))
    drafted = schema_draft.feature(name, column(*map(str, numbers)), ".")
    assert drafted.call == "" and drafted.skip.startswith("whole numbers 0 to 199, each once: a row number")
    assert "set data.id_column (params.yaml) to it instead, or list it in data.ignore_columns" in drafted.skip
    assert drafted.skip.endswith("a feature after all: _number(int, 0, 400) in FEATURES")


@pytest.mark.parametrize(
    ("values", "call"),
    [
        ([str(age) for age in (34, 30, 33, 31, 32)], "_number(int, 0, 70"),  # 5 rows: a feature by chance
        ([str(i) for i in range(49)], "_number(int, 0, 100"),  # under ROW_NUMBER_ROWS
        ([str(i) for i in range(200) if i != 57], "_number(int, 0, 400"),  # a gap: rows filtered, or a value
        ([str(i // 2) for i in range(200)], "_number(int, 0, 200"),  # consecutive, not each once
        ([*map(str, range(199)), None], "_number(int, 0, 400"),  # a missing value: no row number
        ([f"{i / 2:.1f}" for i in range(200)], "_number(float, 0.0, 200.0"),
    ],
    ids=["five-ages", "few-rows", "gap", "repeats", "missing", "halves"],
)
def test_unique_whole_numbers_that_are_no_row_number_stay_a_number(
    values: list[str | None], call: str
) -> None:
    assert schema_draft.feature("x", column(*values), ".").call == call


def test_dates_in_mixed_formats_are_named_with_the_fix_not_free_text() -> None:
    """'2024-01-05', '05/01/2024' and 'Jan 5 2024' in one column were free text (or a category
    of a few): validate reads ISO 8601 only, so the note says which formats and to write ISO 8601
    in the export. Text that merely holds numbers and words stays what it was."""
    days = pd.date_range("2024-01-01", periods=120, freq="D")
    mixed = [d.strftime(("%Y-%m-%d", "%d/%m/%Y", "%b %d %Y")[i % 3]) for i, d in enumerate(days)]
    for values in (mixed, mixed[:9]):  # many: was free text; few: was a category
        skip = schema_draft.feature("signup", column(*values), ".").skip
        assert skip.startswith(
            "dates in mixed formats (2024-01-01, 02/01/2024, Jan 03 2024): validate reads ISO"
        )
        assert "write the column so in the export, then derive numbers from it in the file" in skip
    dashes = [d.strftime(("%Y-%m-%d", "%d-%m-%Y")[i % 2]) for i, d in enumerate(days)]  # one shape once
    skip = schema_draft.feature("signup", column(*dashes), ".").skip
    assert skip.startswith("dates in mixed formats (2024-01-01, 02-01-2024): ")
    slashes = schema_draft.feature("signup", column(*[d.strftime("%d/%m/%Y") for d in days]), ".").skip
    assert slashes.startswith("dates not in ISO 8601 (01/01/2024): ")
    iso = schema_draft.feature("signup", column(*[d.strftime("%Y-%m-%d") for d in days]), ".").skip
    assert iso == (
        "a date: derive numbers from it in the file (its age in days); if it is when the row's event "
        "happened, set data.time_column (params.yaml) to it; or list it in data.ignore_columns (params.yaml)"
    )
    versions = schema_draft.feature("v", column("1.2.3", "2.0.1", "1.2.3"), ".")
    assert versions.levels == ("1.2.3", "2.0.1")
    notes = schema_draft.feature("note", column(*[f"called {i} times in 2024" for i in range(60)]), ".")
    assert notes.skip.startswith("free text")
    assert schema_draft.feature("w", column("Monday 5 May 2024", "not a date 2024"), ".").call == "_category("


@pytest.mark.parametrize("shape", ["%m/%d/%y", "%d.%m.%y", "%y-%m-%d", "%d-%b-%y", "%-m/%-d/%y"])
def test_dates_with_a_2_digit_year_are_named_with_the_fix_never_given_a_century(shape: str) -> None:
    """'12/31/99', '31.12.99', '99-12-31' were free text (a category, when few): the note asks the
    export for ISO 8601 with 4-digit years, and the draft never picks a century for them."""
    days = [d.strftime(shape) for d in pd.date_range("1999-11-01", periods=120, freq="D")]  # 99 to 00
    for values in (days, days[:9]):
        skip = schema_draft.feature("signup", column(*values), ".").skip
        assert skip.startswith(f"dates with a 2-digit year ({values[0]}): validate reads ISO 8601"), skip
        assert "each year in 4 digits (its century is the export's to say, not a guess)" in skip
    mixed = [day if i % 2 else f"2000-01-{i % 28 + 1:02d}" for i, day in enumerate(days)]
    skip = schema_draft.feature("signup", column(*mixed), ".").skip
    assert skip.startswith(f"dates in mixed formats (2000-01-01, {days[1]}), some with a 2-digit year: ")


@pytest.mark.parametrize(
    "values",
    [
        [f"{i % 12 + 1}/{i % 30 + 1}" for i in range(120)],  # ratios, scores: two parts
        ["1.2.3", "1.2.10", "2.0.11"],  # versions
        [f"1.{i % 9}.{i % 20 + 10}" for i in range(120)],  # versions, every patch two digits
        ["12-34-56", "10-45-99"],  # codes: no month 34 or 45, whichever part is the year
        [f"Room {i % 9 + 1} {i + 10}" for i in range(60)],  # a word, not a month
    ],
    ids=["ratios", "versions", "two-digit-patches", "codes", "words"],
)
def test_text_shaped_like_a_2_digit_year_date_is_no_date(values: list[str]) -> None:
    assert not schema_draft.feature("x", column(*values), ".").skip.startswith("dates")


def written_schema(tmp_path: Path, frame: pd.DataFrame) -> Path:
    """The package's schema.py with FEATURES drafted from ``frame``, in a scratch copy."""
    target = tmp_path / "schema.py"
    target.write_text((REPO / "src" / "mlapp" / "schema.py").read_text())
    params = load_params(REPO / "params.yaml")
    data = params.data.model_copy(update={"id_column": None, "time_column": None})
    schema_render.write(
        target, schema_render.render(schema_draft.draft(frame.astype(str), data, params.validate_))
    )
    return target


def test_a_write_that_fails_midway_leaves_the_old_schema_whole(tmp_path: Path) -> None:
    target = tmp_path / "schema.py"
    old = (REPO / "src" / "mlapp" / "schema.py").read_text()
    target.write_text(old)
    # A lone surrogate cannot be encoded: the write fails after the file was opened for it.
    block = 'FEATURES: dict[str, pa.Column] = {\n    "\ud800": pa.Column(str),\n}\n'
    with pytest.raises(UnicodeEncodeError):
        schema_render.write(target, block)
    assert target.read_text() == old
    assert [p.name for p in tmp_path.iterdir()] == ["schema.py"]  # no staged file left beside it


@pytest.mark.parametrize("levels", [4, 30, 2_500], ids=["short", "exploded", "packed"])
def test_written_draft_is_valid_clean_and_checked(tmp_path: Path, levels: int) -> None:
    rng = np.random.default_rng(0)
    codes = [f"{z:05d}" for z in range(levels)]
    frame = pd.DataFrame({"zip": rng.choice(codes, 6_000), "n": rng.integers(0, 9, 6_000), "churned": "1"})
    target = written_schema(tmp_path, frame)
    config = ["--config", str(REPO / "pyproject.toml")]
    sh("ruff", "format", "--check", *config, target, cwd=tmp_path)  # `make lint` stays clean
    sh(
        "ruff", "check", *config, "--ignore", "I", target, cwd=tmp_path
    )  # imports: untouched, first-party unknown here
    spec = importlib.util.spec_from_file_location("drafted_schema", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.check_features()  # the checks raw_schema runs
    assert len(module.categories(module.feature_schema())["zip"]) == len(set(frame.zip))
    assert ("# fmt: off" in target.read_text()) == (levels == 2_500)
    # Drafting again replaces the statement (fenced or not), it does not add one.
    again = written_schema(tmp_path, frame.assign(n=1))
    assert len(re.findall(r"^FEATURES", again.read_text(), re.M)) == 1


def test_a_table_without_the_label_is_refused(tmp_path: Path) -> None:
    (source := tmp_path / "t.csv").write_text("a,b\n1,2\n")
    data = load_params(REPO / "params.yaml").data
    with pytest.raises(UserError, match=r"no column 'churned'.*data\.label"):
        schema_draft.read(source, data, 1_000)


def test_a_table_without_a_header_line_is_named_so(tmp_path: Path) -> None:
    """UCI's adult.data has no header line: its first row was read as one, and the draft said
    only that the label was missing, as if the file named other columns."""
    (source := tmp_path / "adult.csv").write_text("39, State-gov, 77516, <=50K\n50, Private, 83311, >50K\n")
    data = load_params(REPO / "params.yaml").data
    with pytest.raises(UserError) as refused:
        schema_draft.read(source, data, 1_000)
    said = "(the header holds numbers, '39', '77516': if the file's first line is a data row"
    assert said in str(refused.value), refused.value


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"readable table \(it is empty \(no header line naming its columns\)\)"),
        (b"id,amount,churned\n", r"no data rows: the draft types each column by its values"),
        (b"id,amount,churned\n1,2.5,0,\n", r"readable table \(a row has more fields than the header"),
        (
            b"id,amount,churned\n1,w\xe9b,0\n",
            r"readable table \(line 2 is not UTF-8 text \('wéb' read as Windows-1252\): save the file as",
        ),
        (
            b"id,amount,amount,churned\n1,2.5,3,0\n",
            r"unique column names \(the header repeats them\).*'amount'",
        ),
        (b"id;amount;churned\n1;2.5;0\n", r"set data\.csv_separator: ';'"),
        (b",id,amount,churned\n0,1,2.5,0\n", r"a name for every column \(the header leaves column 1 blank"),
    ],
    ids=["empty", "header-only", "ragged", "latin-1", "repeated-name", "other-separator", "blank-name"],
)
def test_a_table_validate_refuses_is_one_error_line_not_a_draft(
    tmp_path: Path, content: bytes, message: str
) -> None:
    """What validate refuses before typing a value is refused here with the same words,
    instead of a traceback or a draft of columns the file does not have ("amount.1") or of
    no values at all ("nan% missing")."""
    (source := tmp_path / "t.csv").write_bytes(content)
    data = load_params(REPO / "params.yaml").data
    with pytest.raises(UserError, match=message):
        schema_draft.read(source, data, 1_000)


@pytest.mark.slow
def test_drafted_schema_validates_the_users_table(project: Path) -> None:
    """The README's path: set `data:`, draft FEATURES, leave out what it names, validate."""
    (project / "data" / "churn.csv").unlink()
    loans(2_500, 1).to_csv(project / "data" / "loans.csv", index=False)
    params = project / "params.yaml"
    text = params.read_text()
    edits = {"raw": ("data/churn.csv", "data/loans.csv"), "id_column": ("customer_id", "loan_id"),
             "time_column": ("event_time", "applied_on"), "label": ("churned", "defaulted")}  # fmt: skip
    for key, (old, new) in edits.items():
        text = text.replace(f"{key}: {old}", f"{key}: {new}", 1)
    params.write_text(text)

    drafted = sh("mlapp", "template", "schema", "--write", cwd=project)
    assert "left out 'borrower': free text" in drafted.stderr  # names and surnames: not a category
    features = (project / "src" / "mlapp" / "schema.py").read_text()
    for line in ['"grade": _category(["A", "B", "C", "D", "E"]),', '"has_cosigner": pa.Column(bool),',
                 '"term_months": _number(int, 0, 200),']:  # fmt: skip
        assert line in features
    # Whole amounts written 30728.0 with blanks: a nullable whole number, as validate parses them.
    assert re.search(r'"income": _number\(int, [\d_]+, [\d_]+, nullable=True\)', features)
    failed = sh("mlapp", "pipeline", "validate", cwd=project, check=False)
    assert failed.returncode != 0 and "borrower" in failed.stdout + failed.stderr  # strict: say so first
    params.write_text(text.replace("ignore_columns: []", "ignore_columns: [borrower]", 1))
    sh("mlapp", "pipeline", "validate", cwd=project)
    report = json.loads((project / "reports" / "validation.json").read_text())
    assert report["rows"] == 2_500


def test_mostly_empty_columns_and_values_spelt_like_missing_are_named(tmp_path: Path) -> None:
    """A column validate would refuse as too empty is left out; "NA" (North America) read as
    missing by data.missing_values is warned about instead of silently dropped from the levels."""
    rows = 100
    frame = pd.DataFrame({"region": ["NA", "EU"] * (rows // 2), "rare": [None] * (rows - 2) + ["1", "2"],
                          "churned": ["1", "0"] * (rows // 2)})  # fmt: skip
    (source := tmp_path / "t.csv").write_text(frame.to_csv(index=False))
    params = load_params(REPO / "params.yaml")
    data = params.data.model_copy(update={"id_column": None, "time_column": None})
    read, spelt = schema_draft.read(source, data, 1_000)
    features = {f.name: f for f in schema_draft.draft(read, data, params.validate_)}
    assert "98% missing, over validate.max_null_share" in features["rare"].skip
    assert features["region"].levels == ("EU",) and features["region"].nullable
    assert spelt == {"region": {"NA": 50}}


def test_a_placeholder_among_values_is_drafted_as_missing_and_named() -> None:
    """UCI-style "?" for a missing value made a number column free text (left out) and a count a
    category with the level "?", which validate then accepted as a value: drafted without it, nullable,
    and named so the user adds it to data.missing_values. Levels that are all such marks stay levels."""
    numbers = schema_draft.feature("score", column(*[f"{i / 7:.3f}" for i in range(200)], "?", " ?"), ".")
    assert (numbers.call, numbers.nullable) == ("_number(float, 0.0, 60.0", True)
    assert numbers.placeholders == ("?",)
    count = schema_draft.feature("count", column("1", "?", "3", "-"), ".")
    assert (count.call, count.placeholders) == ("_number(int, 0, 6", ("-", "?"))
    colour = schema_draft.feature("colour", column("red", "?", "blue"), ".")
    assert (colour.levels, colour.nullable, colour.placeholders) == (("blue", "red"), True, ("?",))
    signs = schema_draft.feature("rhesus", column("+", "-", "+"), ".")
    assert (signs.levels, signs.placeholders) == (("+", "-"), ())


def test_a_few_words_among_numbers_are_drafted_as_missing_and_named() -> None:
    """A number column with "unknown" in 2% of its rows was drafted as free text and left out;
    more words, or a larger share, are a category; a code column's words are its levels."""
    amounts = [f"{i * 1.5:.1f}" for i in range(98)]
    drafted = schema_draft.feature("amount", column(*amounts, "unknown", " n.a. "), ".")
    assert (drafted.call, drafted.nullable, drafted.placeholders) == ("_number(float, 0.0, 300.0", True,
                                                                      ("n.a.", "unknown"))  # fmt: skip
    assert schema_draft.feature("size", column("1", "2", "few", "many"), ".").call == "_category("
    words = [f"w{i}" for i in range(4)]
    assert schema_draft.feature("n", column(*amounts, *words), ".").skip.startswith("free text")
    zips = schema_draft.feature("zip", column(*[f"{i:05d}" for i in range(40)], "unknown"), ".")
    assert (zips.call, zips.placeholders) == ("_category(", ())


def test_the_draft_command_names_each_mark_with_its_columns(tmp_path: Path) -> None:
    """What the draft read as missing without data.missing_values listing it is said on one line
    per mark, with the setting to change; the printed draft has the number, not free text."""
    counts = ["?" if i % 9 == 0 else str(i % 5) for i in range(200)]
    amounts = ["unknown" if i % 50 == 0 else str(i) for i in range(200)]
    rows = [f"{i / 7:.3f},{counts[i]},{amounts[i]},{i % 2}" for i in range(200)]
    (source := tmp_path / "t.csv").write_text("score,count,amount,churned\n" + "\n".join(rows) + "\n")
    draft = ["--params", str(REPO / "params.yaml"), "template", "schema", str(source)]
    result = CliRunner().invoke(cli, draft)
    assert result.exit_code == 0, result.output
    assert '"count": _number(int, 0, 8, nullable=True),' in result.stdout
    assert '"amount": _number(int, 0, 400, nullable=True),' in result.stdout
    assert "warning: '?' in 'count' drafted as missing" in result.stderr
    assert "warning: 'unknown' in 'amount' drafted as missing" in result.stderr
    assert "add it to data.missing_values (params.yaml)" in result.stderr


def test_a_mark_in_a_parquet_file_is_told_to_be_written_as_null(tmp_path: Path) -> None:
    """data.missing_values reads a CSV's cells only: a Parquet file's "?" is fixed in the file."""
    frame = pd.DataFrame({"count": ["?" if i % 9 == 0 else str(i % 5) for i in range(200)], "churned": "1"})
    frame.to_parquet(source := tmp_path / "t.parquet")
    draft = ["--params", str(REPO / "params.yaml"), "template", "schema", str(source)]
    result = CliRunner().invoke(cli, draft)
    assert "warning: '?' in 'count' drafted as missing" in result.stderr
    assert "write it as null in the file" in result.stderr and "data.missing_values" not in result.stderr


def test_a_category_new_rows_keep_adding_levels_to_is_warned_of(tmp_path: Path) -> None:
    """5,000 merchants drawn 10,000 times were drafted as a 4,300-level category without a word,
    though a new row brings an unlisted merchant (refused by validate and the service) ~14% of the
    time; a 4-level category drawn as often is not warned of."""
    rng = np.random.default_rng(7)
    merchants = [f"M{v:04d}" for v in rng.integers(0, 1_000, 2_000)]
    plans = rng.choice(["a", "b", "c", "d"], 2_000)
    rows = [f"{m},{p},{i % 2}" for i, (m, p) in enumerate(zip(merchants, plans, strict=True))]
    (source := tmp_path / "t.csv").write_text("merchant,plan,churned\n" + "\n".join(rows) + "\n")
    result = CliRunner().invoke(
        cli, ["--params", str(REPO / "params.yaml"), "template", "schema", str(source)]
    )

    assert result.exit_code == 0, result.output
    once = sum(merchants.count(m) == 1 for m in set(merchants))
    assert (
        f"warning: 'merchant': {len(set(merchants)):,} levels, about {once / 2_000:.0%} of new rows would "
        "bring one not listed"
    ) in result.stderr
    assert "'plan'" not in result.stderr


def test_a_feature_name_with_a_space_around_it_is_warned_of(tmp_path: Path) -> None:
    """A spreadsheet's header " amount " drafted the feature "amount " without a word: every request
    and later file must then spell the trailing space."""
    rows = [f"{i / 7:.3f},{i % 5},{i % 2}" for i in range(200)]
    (source := tmp_path / "t.csv").write_text("score, amount ,churned\n" + "\n".join(rows) + "\n")
    result = CliRunner().invoke(
        cli, ["--params", str(REPO / "params.yaml"), "template", "schema", str(source)]
    )

    assert result.exit_code == 0, result.output
    assert '"amount ": _number(int, 0, 8),' in result.stdout
    assert "warning: 'amount ' has a space around it" in result.stderr
    assert "rename the column to 'amount'" in result.stderr and "'score'" not in result.stderr


def test_category_levels_with_a_space_around_them_are_drafted_as_validate_reads_them(tmp_path: Path) -> None:
    """UCI's adult table read by pandas without skipinitialspace and saved as Parquet holds
    " Male": drafted as the level " Male" (with a warning), every request then had to send it so,
    while the same table as a CSV drafted "Male". Both are drafted "Male", as validate reads both."""
    frame = pd.DataFrame({"sex": [" Male", "Female "] * 100, "churned": [0, 1, 1, 0] * 50})
    frame.to_parquet(source := tmp_path / "t.parquet", index=False)
    result = CliRunner().invoke(
        cli, ["--params", str(REPO / "params.yaml"), "template", "schema", str(source)]
    )

    assert result.exit_code == 0, result.output
    assert '"sex": _category(["Female", "Male"]),' in result.stdout
    assert "'sex'" not in result.stderr


def test_an_id_named_like_a_column_the_scorer_writes_is_warned_of(tmp_path: Path) -> None:
    """data.id_column 'label', or a row number 'row' the draft suggests as the id: validate refuses
    them (the batch scorer writes columns so named); the draft says so before the team trains."""
    params = (REPO / "params.yaml").read_text().replace("id_column: customer_id", "id_column: label")
    (params_file := tmp_path / "params.yaml").write_text(params)
    rows = [f"{i},{i % 5},L{i},{i % 2}" for i in range(200)]
    (source := tmp_path / "t.csv").write_text("row,count,label,churned\n" + "\n".join(rows) + "\n")
    result = CliRunner().invoke(cli, ["--params", str(params_file), "template", "schema", str(source)])

    assert result.exit_code == 0, result.output
    assert "warning: data.id_column 'label': the batch scorer writes a column of that name" in result.stderr
    assert "warning: 'row', if it becomes data.id_column: the batch scorer writes" in result.stderr
    assert "'count'" not in result.stderr


def test_a_column_with_one_value_is_left_out_naming_it() -> None:
    """An all-zero count drafted _number(int, 0, 0): the service refused the first 1, and the model
    had nothing to learn from it. A category of one level refused every other level alike."""
    for values, seen in ((["0"] * 50, "'0'"), (["north", " north"] * 20, "'north'")):
        drafted = schema_draft.feature("x", column(*values), ".")
        assert drafted.call == "", drafted
        assert (
            drafted.skip
            == f"the same value ({seen}) in every row; list it in data.ignore_columns (params.yaml)"
        )
    assert schema_draft.feature("x", column("0", "1"), ".").call == "_number(int, 0, 2"
    assert schema_draft.feature("x", column("7"), ".").call == "_number(int, 0, 20"  # one row: no evidence
    # With blanks, whether a value is there can be what the model learns.
    assert schema_draft.feature("x", column("0", "0", None), ".").call == "_number(int, 0, 0"


def test_an_int64_quantity_of_19_digits_is_drafted_as_a_number(tmp_path: Path) -> None:
    """Bytes sent, up to 9e18 in an int64 column: 16 digits or more read as a card number, and
    the draft left the column out as free text (300 values in 300 rows). Values of many widths
    are a quantity, from Parquet and CSV alike; validate takes the drafted range."""
    import pandera.pandas as pa

    from mlapp.schema import _number

    sent = np.random.default_rng(1).integers(0, 9 * 10**18, 300, dtype=np.int64)
    frame = pd.DataFrame({"bytes_sent": sent, "churned": [i % 2 for i in range(300)]})
    frame.to_parquet(parquet := tmp_path / "raw.parquet", index=False)
    frame.to_csv(csv := tmp_path / "raw.csv", index=False)
    params = load_params(REPO / "params.yaml")
    data = params.data.model_copy(update={"id_column": None, "time_column": None})
    for path in (parquet, csv):
        (drafted,) = schema_draft.draft(schema_draft.read(path, data, 1_000)[0], data, params.validate_)
        assert drafted.call == "_number(int, 0, 9_223_372_036_854_775_807", (path.name, drafted)
    pa.DataFrameSchema({"bytes_sent": _number(int, 0, 2**63 - 1)}).validate(frame[["bytes_sent"]])


def test_a_copy_of_the_label_is_left_out_as_validate_refuses_it(tmp_path: Path) -> None:
    """breast_cancer's `target` copied into a column was drafted as a feature: validate refuses
    it (stages.label_copies), so the draft leaves it out with why; a column one row off stays."""
    churned = [i % 2 for i in range(200)]
    near = [1 - c if i == 199 else c for i, c in enumerate(churned)]
    rows = [f"{i / 7:.3f},{c},{n},{c}" for i, (c, n) in enumerate(zip(churned, near, strict=True))]
    (source := tmp_path / "t.csv").write_text("score,leak,near,churned\n" + "\n".join(rows) + "\n")
    result = CliRunner().invoke(
        cli, ["--params", str(REPO / "params.yaml"), "template", "schema", str(source)]
    )

    assert result.exit_code == 0, result.output
    assert (
        "left out 'leak': a copy of the label 'churned' (validate refuses it: a model learns the answer); "
        "list it in data.ignore_columns (params.yaml)"
    ) in result.stderr
    assert '"near": _number(int, 0, 2),' in result.stdout and "'near'" not in result.stderr


def test_a_copy_of_a_regression_label_is_left_out() -> None:
    """A CSV's text compared as numbers, as validate types it: "151" and "151.0" are one value."""
    params = load_params(REPO / "params.yaml")
    labels = [f"{v:.1f}" for v in np.linspace(25, 346, 120)]
    frame = pd.DataFrame({"copy": [v.removesuffix(".0") for v in labels], "churned": labels})
    drafted = {f.name: f for f in schema_draft.draft(frame, params.data, params.validate_, "regression")}
    assert drafted["copy"].skip.startswith("a copy of the label 'churned'"), drafted["copy"]
    assert not schema_draft.draft(frame, params.data, params.validate_, "binary")[0].skip


def test_a_table_that_leaves_no_feature_is_refused_not_drafted_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the id, time and label (and a constant): the draft was an empty FEATURES, --write wrote
    it and said "next: dvc repro", where train stopped with xgboost's IndexError. Each column's
    reason is said, then the refusal; nothing is printed as a draft."""
    rows = "".join(f"C{i},2024-01-01T00:{i // 60:02d}:{i % 60:02d},{i % 2},x\n" for i in range(200))
    (source := tmp_path / "t.csv").write_text("customer_id,event_time,churned,const\n" + rows)
    monkeypatch.chdir(REPO)
    assert run_main(monkeypatch, "template", "schema", str(source)) == 2
    out, err = capsys.readouterr()
    assert out == "" and "left out 'const': the same value ('x') in every row" in err, err
    assert "error: no column of" in err and "is left as a feature" in err, err
    assert "next:" not in err, err

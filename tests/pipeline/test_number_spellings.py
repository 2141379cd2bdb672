"""Numbers as a real export spells them: read when the spelling is a number's (1e-3, +5, ' 12 '),
named with the change to make in the export when it is a habit no parser should guess at (12%,
$1,200.50, (12), 0x1F, inf): by validate, the batch scorer's hints and the schema draft alike."""

from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest

from mlapp import schema, schema_draft
from mlapp.cells import feature_fix, value_hints
from mlapp.files import read_json
from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.stages import validate
from mlapp.stages.validate_rules import check_table
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")
PERCENT = "(a percent sign: export the number alone, 12% as 12 or as 0.12)"
MONEY = "(a currency sign or code: export amounts as plain numbers, one currency per column)"
INFINITE = "(infinite: the model takes finite numbers; export the value, or leave it empty (missing))"
SPELT = [
    ("12%", PERCENT),
    ("$1,200.50", MONEY),
    ("1.200,50 EUR", MONEY),
    ("(12)", "(an accountant's negative, (12) for -12: export negatives with a minus sign)"),
    ("0x1F", "(hexadecimal: export decimal numbers, or declare a code _category([...]))"),
    ("1 234", "(thousands separators: export numbers without them)"),
    ("inf", INFINITE),
    ("-Infinity", INFINITE),
    ("1e309", "(beyond 3.4e+38, the largest number the model takes"),
    ("9" * 400, "(beyond 3.4e+38, the largest number the model takes"),
]


@pytest.mark.parametrize("kind", [float, int])
@pytest.mark.parametrize(("value", "hint"), SPELT)
def test_a_number_spelt_by_an_export_habit_is_named_with_the_fix(kind: type, value: str, hint: str) -> None:
    """Each failed as a bare `parse as float64`; "inf" in a whole-number column was called "past
    int64, a code or an identifier", and 1e309 got no word at all."""
    if kind is int and hint.startswith("(beyond"):
        hint = "(past int64, 9.2e18: a code or an identifier"
    table = pa.DataFrameSchema({"x": schema._number(kind, -1e6, 1e6)}, coerce=True)
    _, problems = check_table(pd.DataFrame({"x": ["3", value]}), table, 5, 1, "validate.min_rows", ".")
    assert [(p.check.split(" ", 3)[3].startswith(hint), p.values, p.rows) for p in problems] == [
        (True, [value], [1])
    ], problems
    assert value_hints("x", pd.Series(["3", value]), str(table.columns["x"].dtype), ".", feature_fix(False))[
        1
    ].startswith(f" {hint}")


@pytest.mark.parametrize(
    "value", ["1e-3", "1E5", "+5", " 12 ", "-0", ".5", "0012", "12e-0", "12\xa0", "\u202f12"]
)
def test_a_number_s_own_spellings_are_read_as_it(value: str) -> None:
    """Spaces around a number are no part of it, a spreadsheet's non-breaking or narrow one too
    (pandas read "12\xa0" as no number: refused, shown as "12 ")."""
    table = pa.DataFrameSchema({"x": schema._number(float, -1e6, 1e6)}, coerce=True)
    typed, problems = check_table(pd.DataFrame({"x": [value]}), table, 5, 1, "validate.min_rows", ".")
    assert problems == [] and typed["x"].tolist() == [float(value.strip())]


def test_a_column_of_percentages_is_told_to_drop_the_sign_not_to_become_a_category(tmp_path: Path) -> None:
    """Every value failing with none explained, validate told the user to declare discount_pct a
    category (_category([...])): the numbers 12% and 30% as two unrelated levels."""
    frame = generate(300, 5)
    frame["discount_pct"] = [f"{v:g}%" for v in frame["discount_pct"]]
    frame.to_csv(source := tmp_path / "raw.csv", index=False)
    report = tmp_path / "report.json"

    assert validate.run(PARAMS, source=source, output=tmp_path / "out.parquet", report=report) == 1

    (problem,) = read_json(report)["problems"]
    assert problem["column"] == "discount_pct" and problem["check"] == f"parse as float64 {PERCENT}", problem
    assert problem["rows"] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("written", "said"),
    [
        (lambda v: f"{v:.0f}%", "numbers written as '6%' " + PERCENT),
        (lambda v: f"${v:,.2f}", "numbers written as '$6.00' " + MONEY),
        (lambda v: f"{v:,.0f}", "numbers written as '1,006' (thousands separators"),
        (lambda v: f"({v:.0f})" if v > 900 else f"{v:.0f}", "numbers written as '(906)' (an accountant's"),
    ],
)
def test_the_draft_names_numbers_written_by_an_export_habit(written, said: str) -> None:
    """Such a column was drafted as a category of its values (12% and 30% two unrelated levels),
    or left out as free text: a number the model lost either way."""
    values = pd.Series([written(float(v)) for v in range(6, 3006, 100)] * 10, dtype=object)
    drafted = schema_draft.feature("amount", values, ".")
    assert drafted.call == "" and drafted.skip.startswith(said), drafted


def test_the_draft_keeps_codes_that_only_look_like_an_amount() -> None:
    drafted = schema_draft.feature("sku", pd.Series(["ABC123", "ABC456", "XYZ789"] * 20), ".")
    assert drafted.call == "_category(" and drafted.levels == ("ABC123", "ABC456", "XYZ789"), drafted


def test_a_column_written_by_several_habits_names_each_of_them() -> None:
    """Only the first habit (in a fixed order) was named: "1 234.5" said thousands separators
    while most of the column was "$675.58", to be found one run later."""
    table = pa.DataFrameSchema({"x": schema._number(float, -1e6, 1e6)}, coerce=True)
    frame = pd.DataFrame({"x": ["3", "$675.58", "12%", "1 234.5", "$1.50", "inf"]})
    _, problems = check_table(frame, table, 5, 1, "validate.min_rows", ".")
    hints = f"{INFINITE} (thousands separators: export numbers without them) {PERCENT} {MONEY}"
    assert [(p.check, p.rows) for p in problems] == [(f"parse as float64 {hints}", [1, 2, 3, 4, 5])]


@pytest.mark.parametrize("odd", ["12%", "$5.00", "1,234", "(3)"])
def test_a_few_numbers_written_by_a_habit_are_not_drafted_as_missing_values(odd: str) -> None:
    """Two such cells among fifty numbers were taken for a missing-value marker: the draft said to
    add '12%' to data.missing_values, and validate would then have read them as missing."""
    drafted = schema_draft.feature("amount", pd.Series(["1.5"] * 50 + [odd] * 2), ".")
    assert drafted.placeholders == () and drafted.skip.startswith(f"numbers written as {odd!r}"), drafted


@pytest.mark.parametrize("written", [["1", "2.0", None], [3.0, 2.0, None]])
def test_a_category_code_written_as_a_decimal_is_named_as_its_level(written: list) -> None:
    """pandas writes a whole-number column with blanks as floats (CSV text "2.0", a Parquet double):
    the code 2 failed isin(['1', '2', '3']) as '2.0' without a word on why."""
    table = pa.DataFrameSchema({"x": schema._category(["1", "2", "3"], nullable=True)}, coerce=True)
    _, problems = check_table(pd.DataFrame({"x": written}), table, 5, 1, "validate.min_rows", ".")
    (problem,) = problems
    first = problem.values[0]
    assert problem.check.startswith(f"isin(['1', '2', '3']) ({first!r} is the level {first[0]!r} written"), (
        problem
    )

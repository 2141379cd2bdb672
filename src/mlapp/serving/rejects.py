"""The batch scorer's check of a chunk: its valid feature rows, and its rejects.

A reject is one failing cell and rule (row, column, check, value), its check said in validate's
words (``mlapp.problems.rule_words``): a value that does not parse, or is missing where the
column allows none, is checked here first, as validate does, and is one reject, not pandera's
coercion, nullability and type failures of the same cell.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd
import pandera.errors as pa_errors

from mlapp.cells import feature_fix, parse_values, value_hints
from mlapp.csv_names import look_alikes
from mlapp.errors import UserError
from mlapp.problems import CHECK_WORDS, REPEATS, rule_words, written_missing
from mlapp.schema import FEATURES, feature_schema


def typed(frame: pd.DataFrame, decimal: str) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Feature columns converted to the schema's types value by value, by training's rules
    (``parse_values``, ``data.decimal``): a value that does not parse fails its row, not the file;
    so does a missing one in a column that allows none. Each is one reject, said as validate says
    it ("parse as int64", "no missing values"): pandera would fail a blank int64 cell three
    times (its coercion, nullability and type checks)."""
    out = frame[list(FEATURES)].copy()
    failures = []
    for name, column in FEATURES.items():
        kind = str(column.dtype)
        out[name], bad = parse_values(out[name], kind, decimal)
        if bad.any():
            values = frame.loc[bad, name]
            hints = value_hints(name, values, kind, decimal, feature_fix(column.nullable))
            failures.append(rejected(values, f"parse as {kind}" + hints))
        absent = frame[name].isna()
        if absent.any() and not column.nullable:
            failures.append(rejected(frame.loc[absent, name], CHECK_WORDS["not_nullable"]))
    return out, failures


def rejected(values: pd.Series, check: str | pd.Series) -> pd.DataFrame:
    """A reject per value of one column (``values``, indexed by row): the value as read, as text
    (the file's cell; None where it is missing), and the check it fails."""
    text = values.astype(str).where(values.notna(), None)
    return pd.DataFrame({"index": values.index, "column": values.name, "check": check, "value": text})


def said(check: str, values: pd.Series, fix: str) -> str | pd.Series:
    """pandera's check as validate words it (``rule_words``), for each of its failing values (as
    pandera gives them): a category's "?" or "2.0" gets its hint (``fix``: the feature's,
    ``feature_fix``), a level merely wrong none."""
    if not check.startswith("isin("):
        return rule_words(check)
    words = {value: rule_words(check, [value], fix) for value in values.drop_duplicates()}
    return values.map(words)


def split_valid(
    frame: pd.DataFrame, decimal: str, missing_values: Collection[str] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(validated feature rows, one row per failing cell and rule: index, column, check, value),
    the failures in row order, then the schema's column order. ``missing_values``: text a CSV
    reads as missing (data.missing_values), a Parquet file's failing such text is told so."""
    missing = [name for name in FEATURES if name not in frame.columns]
    if missing:  # 'größe' written 'gro' + accent (NFD) looks like the name it lacks: said, as validate does
        alike = look_alikes(missing, [name for name in frame.columns if name not in FEATURES])
        raise UserError(f"input lacks feature columns {missing}{alike}: nothing scored")
    features, failures = typed(frame, decimal)
    bad = set().union(*(set(f["index"]) for f in failures))
    try:
        valid = feature_schema().validate(features, lazy=True)
    except pa_errors.SchemaErrors as exc:
        cases = exc.failure_cases
        # A value that did not parse, or is missing, fails pandera's type and null checks again: it
        # is one reject already. Its row's other cells, and its column's other rules, still count.
        failed = {name for f in failures for name in f["column"]}
        cases = cases[~(cases["column"].isin(failed) & cases["check"].astype(str).str.startswith(REPEATS))]
        if cases["index"].isna().any():  # a failure of a whole column, not of rows
            whole = cases[cases["index"].isna()][["column", "check"]].drop_duplicates()
            raise UserError(f"input fails the schema as a whole:\n{whole.to_string(index=False)}") from None
        for (name, check), group in cases.groupby(["column", "check"], sort=False):
            rows = group["index"].astype(int)  # worded by pandera's failing values, as validate words them
            failing = group["failure_case"].set_axis(rows)
            fix = feature_fix(FEATURES[name].nullable)
            failures.append(rejected(frame.loc[rows, name], said(str(check), failing, fix)))
        bad |= set(cases["index"].astype(int))
        valid = feature_schema().validate(features.drop(index=list(bad)))  # the others, typed
    else:  # only values that did not parse, or are missing, failed: the rest is validated already
        valid = valid.drop(index=list(bad))
    if not failures:
        return valid, pd.DataFrame()
    order = {name: place for place, name in enumerate(FEATURES)}
    report = pd.concat(failures, ignore_index=True).astype(
        {"index": "int64", "check": "str", "value": "string"}  # a chunk of blanks only: text still
    )
    report["check"] += report["value"].map(lambda value: written_missing([value], missing_values))
    # The same rows in the same order at any chunk size: by row, then column.
    return valid, report.sort_values(
        ["index", "column"], key=lambda by: by.map(order) if by.name == "column" else by, kind="stable"
    ).reset_index(drop=True)

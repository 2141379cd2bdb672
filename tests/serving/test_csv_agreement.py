"""Training, the batch scorer and the service read the same row the same way.

A region spelt "NA" (North America) is a category once ``data.missing_values`` leaves it out:
validate keeps it, the model learns it as a level, the batch scorer reads the CSV with the
same reader and list, and the service takes "NA" in JSON as the string it is (null is missing).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow.parquet as pq
import pytest

from mlapp import model as model_io
from mlapp.errors import UserError
from mlapp.monitor.batch import validate_batch
from mlapp.params import Params
from mlapp.raw_table import read_raw
from mlapp.sample_data import generate
from mlapp.schema import FEATURES, _category, check_features
from mlapp.serving import score as scorer
from mlapp.serving.request import RequestParser
from mlapp.stages import validate
from mlapp.stages.train import train
from tests.serving.conftest import PARAMS, feature_records

MISSING = ["", "NULL"]  # "NA" left out: it is a region here


def _validated_and_trained(
    params: Params, source: Path, tmp_path: Path
) -> tuple[pd.DataFrame, model_io.Model]:
    """``source`` through validate (which must pass), 20 trees trained on its table, saved to
    tmp_path/models and loaded: the validated table and the model."""
    code = validate.run(params, source=source, output=tmp_path / "v.parquet", report=tmp_path / "v.json")
    assert code == 0, (tmp_path / "v.json").read_text()
    table = pd.read_parquet(tmp_path / "v.parquet")
    xgb = params.train.xgboost.model_copy(update={"n_estimators": 20})
    train_params = params.train.model_copy(update={"xgboost": xgb})
    examples = params.validate_.max_failure_examples
    model_io.save(*train(table, params.data.label, train_params, examples=examples), tmp_path / "models")
    return table, model_io.load(tmp_path / "models")


def test_a_category_na_scores_alike_in_training_batch_and_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(FEATURES, "region", _category(["north", "south", "east", "NA"]))
    raw = generate(1_500, 11)
    raw["region"] = raw["region"].replace({"west": "NA"})
    raw["total_charges"] = raw["total_charges"].astype(object).where(raw["total_charges"].notna(), "NULL")
    source = tmp_path / "raw.csv"
    raw.to_csv(source, index=False)
    params = PARAMS.model_copy(update={"data": PARAMS.data.model_copy(update={"missing_values": MISSING})})

    # Training: validate reads the CSV, train learns "NA" as a level.
    table, model = _validated_and_trained(params, source, tmp_path)
    assert (table["region"] == "NA").sum() == (raw["region"] == "NA").sum() > 100
    assert table["total_charges"].isna().sum() == (raw["total_charges"] == "NULL").sum() > 0
    spec = model.spec
    assert "NA" in spec.categories["region"]
    expected = model.predict_proba(table)

    # Batch scorer: the same CSV, every row scored (none rejected as a missing region).
    out = tmp_path / "scored.parquet"
    summary = scorer.score(
        str(source), out, tmp_path / "models", 400, tmp_path / "none.json", MISSING, ",", "."
    )
    assert (summary.rows, summary.rejected) == (len(raw), 0)
    np.testing.assert_allclose(pq.read_table(out).column("probability").to_numpy(), expected, atol=1e-9)

    # Service: the same rows as JSON ("NA" a string, missing values null).
    parser = RequestParser(FEATURES, spec, len(table), 20, id_column=None, time_column=None)
    _, matrix = parser.slow(json.dumps({"records": feature_records(table)}).encode())
    np.testing.assert_allclose(model.booster.inplace_predict(matrix), expected, atol=1e-6)

    # Scoring with a list that reads "NA" as missing would lose the level: refused.
    with pytest.raises(UserError, match=r"categories\.region lists 'NA', which data\.missing_values reads"):
        scorer.score(str(source), out, tmp_path / "models", 400, tmp_path / "none.json", ["", "NA"], ",", ".")


def test_the_batch_scorer_parses_values_by_training_rules(serving_root: Path, model, tmp_path: Path) -> None:
    """yes/no booleans train, so they score (every row was rejected); an age of 40.5 fails
    training, so it is rejected (it was truncated to 40 and scored), as is an infinite charge.
    A quoted newline and a BOM are read as training reads them."""
    raw = generate(200, 8)
    text = raw.astype(object).assign(
        paperless_billing=raw["paperless_billing"].map({True: "yes", False: "no"})
    )
    text.loc[3, "age"], text.loc[4, "monthly_charges"] = "40.5", "inf"
    text.loc[0, "customer_id"] = 'C1, "one"\nline two'  # a quoted comma, quote and newline
    source = tmp_path / "batch.csv"
    text.to_csv(source, index=False, encoding="utf-8-sig")  # with a BOM, as spreadsheets save it
    code = validate.run(PARAMS, source=source, output=tmp_path / "v.parquet", report=tmp_path / "v.json")
    problems = json.loads((tmp_path / "v.json").read_text())["problems"]
    assert code == 1 and sorted((p["column"], p["rows"]) for p in problems) == [
        ("age", [3]),
        ("monthly_charges", [4]),
    ]

    out = tmp_path / "scored.parquet"
    summary = scorer.score(
        str(source), out, serving_root / "models", 64, tmp_path / "none.json", PARAMS.data.missing_values,
        PARAMS.data.csv_separator, PARAMS.data.decimal, id_column=PARAMS.data.id_column,
    )  # fmt: skip

    rejects = pq.read_table(tmp_path / "scored.rejects.parquet").to_pandas()
    assert sorted(zip(rejects["column"], rejects["row"], strict=True)) == [("age", 3), ("monthly_charges", 4)]
    assert (summary.rows, summary.scored) == (200, 198)
    good = raw.drop(index=[3, 4])
    scored = pq.read_table(out).to_pandas()
    np.testing.assert_allclose(scored["probability"], model.predict_proba(good))
    assert scored["customer_id"].tolist() == text["customer_id"].drop(index=[3, 4]).tolist()


def test_a_level_written_decomposed_is_the_same_level_in_training_batch_monitor_and_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "nörth" typed as "o" + a combining diaeresis (Unicode NFD, as macOS file names and some
    exports write it) looks like the level "nörth" (NFC) and is the same text by Unicode's
    canonical equivalence: it was refused by validate, the batch scorer, the monitor and the
    service alike. Every entry point now reads it in NFC, so it is the level."""
    composed, decomposed = "n\u00f6rth", "no\u0308rth"
    monkeypatch.setitem(FEATURES, "region", _category([composed, "south", "east", "west"]))
    raw = generate(1_500, 12)
    raw["region"] = raw["region"].replace({"north": composed})
    raw.loc[raw.index % 2 == 0, "region"] = raw["region"].replace({composed: decomposed})
    assert (raw["region"] == decomposed).sum() > 100
    source = tmp_path / "raw.csv"
    raw.to_csv(source, index=False)

    table, model = _validated_and_trained(PARAMS, source, tmp_path)
    assert set(table["region"]) == {composed, "south", "east", "west"}
    expected = model.predict_proba(table)

    out = tmp_path / "scored.parquet"
    summary = scorer.score(str(source), out, tmp_path / "models", 400, tmp_path / "none.json", [""], ",", ".")
    assert (summary.rows, summary.rejected) == (len(raw), 0)
    np.testing.assert_allclose(pq.read_table(out).column("probability").to_numpy(), expected, atol=1e-9)

    batch = validate_batch(raw.astype(str).replace({"nan": None}), PARAMS, "recent.csv")
    assert set(batch["region"]) == {composed, "south", "east", "west"}

    parser = RequestParser(FEATURES, model.spec, len(raw), 20, id_column=None, time_column=None)
    sent = raw[list(FEATURES)].astype(object).where(raw[list(FEATURES)].notna(), None)
    _, matrix = parser.parse(json.dumps({"records": feature_records(sent)}).encode())
    np.testing.assert_allclose(model.booster.inplace_predict(matrix), expected, atol=1e-6)


def test_a_schema_level_written_decomposed_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values are read in NFC: a level written in NFD would match none of them (_category writes
    its levels in NFC; a hand-written isin is refused)."""
    monkeypatch.setitem(FEATURES, "region", pa.Column(str, pa.Check.isin(["no\u0308rth", "south"])))
    with pytest.raises(UserError, match="level 'no\u0308rth' not in Unicode NFC") as refused:
        check_features()
    assert "write it composed, 'n\u00f6rth'" in str(refused.value)


def test_a_level_with_spaces_around_it_is_the_level_in_parquet_and_csv_alike(tmp_path: Path) -> None:
    """A CSV's " north" (after ", ") was the level "north" while a Parquet file's, written by
    pandas from such a CSV, failed isin (so did a spreadsheet's trailing "north " in a CSV): one
    table read two ways. Validate, the batch scorer and the monitor read both as "north"."""
    raw = generate(1_500, 13)
    raw.loc[raw.index % 3 == 0, "region"] = " " + raw["region"]
    raw.loc[raw.index % 3 == 1, "contract"] = raw["contract"] + " \t"
    raw.to_parquet(parquet := tmp_path / "raw.parquet", index=False)
    raw.to_csv(csv := tmp_path / "raw.csv", index=False)

    table, model = _validated_and_trained(PARAMS, parquet, tmp_path)
    assert set(table["region"]) == {"north", "south", "east", "west"}
    assert set(table["contract"]) == {"month-to-month", "one-year", "two-year"}
    expected = model.predict_proba(table)
    (tmp_path / "csv").mkdir()
    pd.testing.assert_frame_equal(_validated_and_trained(PARAMS, csv, tmp_path / "csv")[0], table)

    for source in (parquet, csv):
        out = tmp_path / f"scored-{source.suffix[1:]}.parquet"
        summary = scorer.score(
            str(source), out, tmp_path / "models", 400, tmp_path / "none.json", [""], ",", "."
        )
        assert (summary.rows, summary.rejected) == (len(raw), 0)
        np.testing.assert_allclose(pq.read_table(out).column("probability").to_numpy(), expected, atol=1e-9)
        batch = validate_batch(read_raw(source, [""], 10_000, ","), PARAMS, source.name)
        assert set(batch["region"]) == {"north", "south", "east", "west"}


def test_a_schema_level_with_spaces_around_it_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values are read without spaces around them: a level " north" would match none (_category
    strips its levels; a hand-written isin is refused)."""
    assert _category([" north", "south "]).checks[0].statistics["allowed_values"] == ["north", "south"]
    monkeypatch.setitem(FEATURES, "region", pa.Column(str, pa.Check.isin([" north", "south"])))
    with pytest.raises(UserError, match="level ' north' with spaces around it") as refused:
        check_features()
    assert "write 'north'" in str(refused.value)


def test_an_id_is_read_as_written_by_validate_the_batch_scorer_and_the_monitor(
    serving_root: Path, tmp_path: Path
) -> None:
    """An id is a key joining a row back to its source: "C1 " and "C1" are two ids. Validate and the
    monitor read ids stripped, as a category's text, and refused the pair as one id repeated (shown
    as ['C1', 'C1']) while the batch scorer copied them as written."""
    raw = generate(200, 14)
    raw.loc[[1, 2, 3], "customer_id"] = ["C1 ", "C1", "\tC1"]
    raw.to_parquet(parquet := tmp_path / "raw.parquet", index=False)
    raw.to_csv(csv := tmp_path / "raw.csv", index=False)
    # The CSV reader skips spaces after a separator (", "-separated exports): a tab is kept.
    for source in (parquet, csv):
        out = tmp_path / f"{source.suffix[1:]}.parquet"
        code = validate.run(PARAMS, source=source, output=out, report=tmp_path / "v.json")
        assert code == 0, (tmp_path / "v.json").read_text()
        assert pd.read_parquet(out)["customer_id"][1:4].tolist() == ["C1 ", "C1", "\tC1"]
        batch = validate_batch(read_raw(source, [""], 50, ","), PARAMS, source.name)
        assert batch["customer_id"][1:4].tolist() == ["C1 ", "C1", "\tC1"]
        scored = tmp_path / f"scored-{source.suffix[1:]}.parquet"
        summary = scorer.score(
            str(source), scored, serving_root / "models", 50, tmp_path / "none.json", [""], ",", ".",
            id_column=PARAMS.data.id_column,
        )  # fmt: skip
        assert summary.rejected == 0
        assert pq.read_table(scored).column("customer_id").to_pylist()[1:4] == ["C1 ", "C1", "\tC1"]


def test_an_id_stored_as_floats_is_refused_by_validate_the_batch_scorer_and_the_monitor(
    serving_root: Path, tmp_path: Path
) -> None:
    """pandas writes whole numbers with a gap as float64: the team's ids 7 and none became 7.0 and
    NaN, and validate took the text "7.0" as the id, joining no "7" back to its source (and past
    2**53 a float is not the id written). All three readers refuse the column, naming it and the fix."""
    raw = generate(200, 14)
    raw["customer_id"] = pd.array(range(200), dtype="Int64")
    raw.loc[5, "customer_id"] = None
    raw["customer_id"] = raw["customer_id"].astype("float64")  # as pandas stores an int column with a gap
    raw.to_parquet(parquet := tmp_path / "raw.parquet", index=False)
    fix = "(an id stored as floating point, 7 written as 7.0: write customer_id as integers (pandas: "
    code = validate.run(PARAMS, source=parquet, output=tmp_path / "out.parquet", report=tmp_path / "v.json")
    (problem,) = json.loads((tmp_path / "v.json").read_text())["problems"]
    assert code != 0 and problem["column"] == "customer_id" and fix in problem["check"], problem
    assert problem["count"] == 199 and problem["values"][:2] == [0.0, 1.0]  # the missing id: its own rule
    with pytest.raises(UserError, match=r"customer_id.*an id stored as floating point"):
        validate_batch(read_raw(parquet, [""], 50, ","), PARAMS, parquet.name)
    with pytest.raises(UserError, match=r"column 'customer_id' \(data.id_column\): an id stored as floating"):
        scorer.score(
            str(parquet), tmp_path / "scored.parquet", serving_root / "models", 50, tmp_path / "none.json",
            [""], ",", ".", id_column=PARAMS.data.id_column,
        )  # fmt: skip
    assert not (tmp_path / "scored.parquet").exists()

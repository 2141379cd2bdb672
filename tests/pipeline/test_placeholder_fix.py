"""A placeholder ("." for missing, as SAS and some R exports write it) in a column FEATURES already
declares nullable: airquality's Solar.R, drafted `nullable=True` from its blanks, was told to "make
the column nullable in FEATURES" as well as to list "." in data.missing_values: only the second
is left to do. A column not nullable still gets both steps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlapp.params import load_params
from mlapp.sample_data import generate
from mlapp.schema import FEATURES
from mlapp.serving.rejects import split_valid
from mlapp.tables import read_csv
from tests.conftest import REPO
from tests.pipeline import refused

PARAMS = load_params(REPO / "params.yaml")
LISTED = "('.' names no value: if it marks a missing one, add it to data.missing_values (params.yaml)"


def test_a_placeholder_in_a_nullable_feature_is_told_only_to_list_it(tmp_path: Path) -> None:
    assert FEATURES["satisfaction_score"].nullable and not FEATURES["age"].nullable
    frame = generate(300, 3).astype({"satisfaction_score": object, "age": object})
    frame.loc[[4, 9], "satisfaction_score"] = "."
    frame.loc[[6], "age"] = "."
    frame.to_csv(source := tmp_path / "raw.csv", index=False)
    problems = {p["column"]: p for p in refused.problems(PARAMS, tmp_path, source)}
    nullable, required = problems["satisfaction_score"], problems["age"]
    assert nullable["check"].endswith(f"{LISTED})") and nullable["rows"] == [4, 9], nullable
    assert required["check"].endswith(f"{LISTED} and make the column nullable in FEATURES)"), required


def test_the_batch_scorer_says_each_placeholder_as_validate_does(tmp_path: Path) -> None:
    """The scorer told a nullable column to be made nullable: its own wording, not validate's."""
    frame = generate(300, 3).astype({"satisfaction_score": object, "age": object, "contract": object})
    frame.loc[[4, 9], "satisfaction_score"] = "."
    frame.loc[[6], "age"] = "."
    frame.loc[[7], "contract"] = "."
    frame.to_csv(source := tmp_path / "raw.csv", index=False)
    said = {p["column"]: p["check"] for p in refused.problems(PARAMS, tmp_path, source)}
    data = PARAMS.data
    batch = pd.concat(read_csv(source, data.missing_values, 1_000, data.csv_separator))
    rejects = split_valid(batch, data.decimal, data.missing_values)[1]
    assert dict(zip(rejects["column"], rejects["check"], strict=True)) == said
    assert said["satisfaction_score"].endswith(f"{LISTED})")

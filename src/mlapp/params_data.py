"""``params.yaml`` sections of the table itself: data, sample_data, validate and split.

Import them from ``mlapp.params`` like every other section (it re-exports them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mlapp.cell_text import class_text, missing_clash
from mlapp.params_base import OneColumn, Section, Seed
from mlapp.sources import named_separator, unnamed_format


class DataParams(Section):
    raw: Path
    id_column: str | None  # null when the table has no row id
    time_column: str | None  # null when the table has no event time
    group_column: str | None = None  # the entity a row belongs to (customer, patient): one part per group
    label: OneColumn
    classes: list[str] | None  # class order; null: the label's sorted values (binary: 2nd is positive)
    missing_label: Literal["drop", "fail"]
    missing_values: list[str]  # CSV cells read as missing (exactly these strings)
    csv_separator: str  # the one character between a CSV's fields (',' or e.g. ';'); a .tsv's is a tab
    decimal: Literal[".", ","]  # a CSV's decimal mark: "3,5" with ','
    ignore_columns: list[str]  # columns of data.raw read past (not checked, not kept): no feature

    @field_validator("raw")
    @classmethod
    def _table_name(cls, value: Path) -> Path:
        """A name every reader tells (``mlapp.sources``): an ``.xlsx`` or ``.json`` parsed as a CSV
        fails row by row in ways that do not say what is wrong."""
        if problem := unnamed_format(value):
            raise ValueError(problem)
        return value

    @field_validator("classes", mode="before")
    @classmethod
    def _classes_as_text(cls, value: object) -> object:
        """Classes spelt as the labels' text is (``class_text``: 1 and "1.0" are "1"); a boolean
        is an unquoted true or false that YAML read as a yes/no, which no text label equals."""
        if not isinstance(value, list):
            return value
        if any(isinstance(v, bool) for v in value):
            quoted = [str(v).lower() if isinstance(v, bool) else v for v in value]
            raise ValueError(
                f"{value}: YAML reads an unquoted true or false as a yes/no, not as your labels' "
                f"text: quote them: {quoted}"
            )
        return [class_text(v) for v in value]

    @field_validator("missing_values", mode="before")
    @classmethod
    def _quoted(cls, value: object) -> object:
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise ValueError(f"{value}: YAML reads an unquoted null, true or 1 as no text: quote each entry")
        return value

    @field_validator("csv_separator")
    @classmethod
    def _one_separator(cls, value: str) -> str:
        """One character that cannot be part of a value (a letter, digit, '.'), a quote or a line break."""
        if len(value) != 1 or value.isalnum() or value in "\"'.-_\r\n ":
            raise ValueError(
                f"{value!r} is not a CSV separator: use one character such as ',' or ';' "
                "(not a letter, digit, quote, '.', '-', '_', space or line break)"
            )
        return value

    @property
    def parts(self) -> dict[str, str | None]:
        """The columns with a part other than a feature's, by their setting (None: not set)."""
        return {
            "label": self.label,
            "id_column": self.id_column,
            "time_column": self.time_column,
            "group_column": self.group_column,
        }

    @model_validator(mode="after")
    def _one_part_per_column(self) -> DataParams:
        """The label is learnt, the id tells rows apart, the time orders them: `id_column: churned`
        failed validate with "values are unique" on the label's 0s and 1s, a data error it is not."""
        named: dict[str, str] = {}
        for setting, column in self.parts.items():
            if column is not None and (other := named.setdefault(column, setting)) != setting:
                raise ValueError(
                    f"data.{setting} {column!r} is also data.{other}: a column plays one part; name "
                    f"another column in data.{setting}" + ("" if setting == "label" else ", or null for none")
                )
        return self

    @model_validator(mode="after")
    def _decimal_not_separator(self) -> DataParams:
        """Unquoted, "1,3,5" could be 1 and 3.5 or 1.3 and 5: the two marks must differ."""
        if self.decimal == self.csv_separator:
            raise ValueError(
                f"data.decimal {self.decimal!r} is also data.csv_separator: a file with decimal commas "
                "separates its fields with another character (';' mostly): set data.csv_separator to it"
            )
        return self

    @model_validator(mode="after")
    def _distinct_classes(self) -> DataParams:
        if self.classes is not None and (
            len(set(self.classes)) != len(self.classes) or len(self.classes) < 2
        ):
            raise ValueError(f"data.classes must name at least two distinct classes, got {self.classes}")
        clash = missing_clash("data.classes", self.classes or [], self.missing_values)
        if clash:
            raise ValueError(clash)
        return self

    def separator(self, path: str | Path | None = None) -> str:
        """The field separator of data.raw, or of ``path`` read in its place (validate's --input, a
        draft's table, generate's --out): a .tsv's tab whatever csv_separator says."""
        return named_separator(self.raw if path is None else path, self.csv_separator)


class SampleDataParams(Section):
    rows: int = Field(gt=0)
    seed: Seed


class ValidateParams(Section):
    output: Path
    report: Path
    min_rows: int = Field(ge=1)
    max_failure_examples: int = Field(ge=1)
    max_null_share: float = Field(ge=0, le=1)  # per column; an entirely empty column always fails
    max_null_share_by_column: dict[str, Annotated[float, Field(ge=0, le=1)]]  # overrides of max_null_share
    min_class_rows: int = Field(ge=1)  # binary and multiclass: rows every class needs
    chunk_rows: int = Field(ge=1)  # rows read (and held as text) at a time


class SplitParams(Section):
    method: Literal["hash", "stratified", "time"]
    test_size: float = Field(gt=0, lt=1)
    seed: Seed
    train: Path
    test: Path

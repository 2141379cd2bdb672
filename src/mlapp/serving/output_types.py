"""The types of the batch scorer's output columns (``mlapp.serving.score``), fixed before its
first chunk is written: the file's schema is its first chunk's, and a chunk can hold no value
to read a type off (a column null in all of it, a chunk of rejects only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlapp.model import Model


def kept_types(copied: Sequence[str], schema: pa.Schema | None) -> dict[str, pa.DataType]:
    """The output's type of each column copied from the input: the input's, not the first
    chunk's (a column null in all of it has none): Parquet's schema, a CSV's text (read as
    written: an id's leading zeros, "A17" after 17, kept)."""
    if schema is None:
        return dict.fromkeys(copied, pa.large_string())  # as pandas' str dtype writes
    return {name: schema.field(name).type for name in copied if name in schema.names}


def answer_types(model: Model) -> dict[str, pa.DataType]:
    """The type of each of the task's fields, read off one row's answer: a chunk without a valid
    row gives pandas an empty object column of text labels, which pyarrow would type null."""
    one = model.outputs(np.zeros((1, len(model.spec.classes)) if model.task == "multiclass" else 1))
    return {field.name: field.type for field in pa.Schema.from_pandas(one, preserve_index=False)}


def nullable(kind: pa.DataType) -> Any:
    """pandas' nullable type of a whole-number Parquet type (Int64 for int64, UInt8 for uint8), else None."""
    if not pa.types.is_integer(kind):
        return None
    return pd.api.types.pandas_dtype(
        f"{'U' if pa.types.is_unsigned_integer(kind) else ''}Int{kind.bit_width}"
    )


def kept_values(values: pd.Series, kind: pa.DataType | None) -> pd.Series:
    """A column copied from the input, whole numbers in pandas' nullable type: a Parquet reader
    gives them with a gap as Python ints (exact), whose type pyarrow then reads off the values, and
    an id past 2**63 in a uint64 column was an OverflowError (a traceback, nothing scored)."""
    whole = None if kind is None else nullable(kind)
    return values if whole is None else values.astype(whole)


def whole_numbers_read_exactly(types: dict[str, pa.DataType]) -> dict[str, str]:
    """pandas' metadata (the Parquet key ``pandas``) giving each whole-number column among
    ``types`` pandas' nullable type (``nullable``): without it ``pd.read_parquet`` reads such a
    column holding a null as float64, and an id past 2**53 rounds (9007199254740993 read as
    9007199254740992.0), while the file holds it exact. Empty when there is none."""
    whole = {name: kind for name, kind in types.items() if pa.types.is_integer(kind)}
    if not whole:
        return {}
    frame = pa.schema(whole).empty_table().to_pandas(types_mapper=nullable)
    metadata = pa.Schema.from_pandas(frame, preserve_index=False).metadata or {}
    return {"pandas": metadata[b"pandas"].decode()}

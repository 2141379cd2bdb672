"""The longest record a served schema allows, in bytes: what ``serving.max_row_bytes: auto``
sets the body cap from (``settings.py``), so a wide table's valid requests fit under it.

Each column's widest JSON value comes from its request rule (``records.field_rule``): a
category's longest level, an integer as wide as its range, a float at a double's widest
round-trip form; text without allowed values has no longest value and stops the start-up.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping

import pandera.pandas as pa

from mlapp.serving.records import Rule, SchemaNotServable, field_rule

# The widest JSON text of a value without a narrower bound: a double's shortest round-trip form
# (json.dumps, orjson, JavaScript) is at most 24 characters, "-2.2250738585072014e-308"; an
# int64 at most 20, "-9223372036854775808".
WIDEST = {bool: len("false"), float: 24, int: 20}
# Around each field of a pretty-printed record, `"key": value,` on a line of its own:
# json.dumps(indent=4) puts it 12 spaces deep in {"records": [{...}]}.
FIELD_SPACING = len(": ") + len(",\n") + 12
RECORD_SPACING = 2 * (len(",\n") + 8)  # its braces, each on a line of its own, 8 deep


def widest_value(name: str, rule: Rule) -> int:
    """Bytes of the longest JSON value the column accepts (a number at its widest plausible)."""
    if rule.allowed is not None:
        # Escaped as json.dumps writes it, and decomposed (NFD) where that is longer: it is accepted.
        forms = [unicodedata.normalize("NFD", v) if isinstance(v, str) else v for v in rule.allowed]
        width = max(len(json.dumps(v)) for v in [*rule.allowed, *forms])
    elif rule.base is int and {"ge", "gt"} & set(rule.bounds) and {"le", "lt"} & set(rule.bounds):
        width = max(len(str(int(b))) for b in rule.bounds.values())
    elif rule.base in WIDEST:
        width = WIDEST[rule.base]
    else:
        raise SchemaNotServable(
            f"column {name!r}: text without Check.isin has no longest value; "
            "set serving.max_row_bytes to a number of bytes (params.yaml)"
        )
    return max(width, len("null")) if rule.nullable else width


def widest_row(features: Mapping[str, pa.Column]) -> int:
    """Bytes of the longest record the columns allow in a reasonably written JSON body: every
    key, each value at its widest, and the spacing of json.dumps(indent=4)."""
    fields = (
        len(json.dumps(name)) + FIELD_SPACING + widest_value(name, field_rule(name, column))
        for name, column in features.items()
    )
    return sum(fields) + RECORD_SPACING

"""The drafted ``FEATURES`` (``mlapp.schema_draft``) as Python, written as the formatter writes
it, and put in place of schema.py's own."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from mlapp.errors import UserError
from mlapp.files import write_text
from mlapp.schema_draft import Feature

EXPLODED = 40  # levels written one per line; more are packed (2,500 zip codes: 2,500 lines)
LINE = 110  # ruff's line-length in pyproject.toml: a draft that fits needs no reformatting
BLOCK = re.compile(
    r"(?:# fmt: off\n)?FEATURES: dict\[str, pa\.Column\] = \{\n.*?\n\}\n(?:# fmt: on\n)?", re.S
)


def _quote(text: str) -> str:
    """A Python literal as the formatter writes it: double quotes, unless the text holds some."""
    return repr(text) if '"' in text and "'" not in text else json.dumps(text, ensure_ascii=False)


def _entry(f: Feature, width: int) -> tuple[list[str], bool]:
    """The lines of one FEATURES entry as the formatter writes them, and whether a long level
    list had to be packed several to a line instead."""
    if f.skip:
        return textwrap.wrap(f"{_quote(f.name)}: {f.skip}", width, initial_indent="    # ",
                             subsequent_indent="    #   "), False  # fmt: skip
    if not f.call.startswith("_category"):
        return [f"    {_quote(f.name)}: {f.call}{', nullable=True' if f.nullable else ''}),"], False
    quoted = [_quote(v) for v in f.levels]
    head, nullable = f"    {_quote(f.name)}: _category(", ", nullable=True" if f.nullable else ""
    if len(one := f"{head}[{', '.join(quoted)}]{nullable}),") <= width:
        return [one], False
    if len(args := f"        [{', '.join(quoted)}]{nullable}") <= width:
        return [head, args, "    ),"], False
    if len(quoted) <= EXPLODED:  # how the formatter writes it: a level per line
        rows = [f"            {q}," for q in quoted]
        return [
            head,
            "        [",
            *rows,
            "        ],",
            *(["        nullable=True,"] * f.nullable),
            "    ),",
        ], False
    rows, row = [], ""
    for q in quoted:
        if row and len(row) + len(q) + 2 > width - 12:
            rows.append(row)
            row = ""
        row += f"{q}, "
    packed = [f"            {r.rstrip()}" for r in [*rows, row]]
    return [head, "        [", *packed, f"        ]{nullable},", "    ),"], True


def render(features: list[Feature]) -> str:
    """The FEATURES statement; fenced from the formatter when a category list was packed (the
    formatter would give each of 2,500 zip codes a line of its own)."""
    entries = [_entry(f, LINE) for f in features]
    block = (
        "FEATURES: dict[str, pa.Column] = {\n" + "\n".join(line for e, _ in entries for line in e) + "\n}\n"
    )
    packed = any(p for _, p in entries)
    return f"# fmt: off\n{block}# fmt: on\n" if packed else block


def write(schema_file: Path, block: str) -> None:
    """Replace the FEATURES statement of ``schema_file`` with ``block``, written whole (renamed
    over it): a write cut short leaves the old schema as it was."""
    source = schema_file.read_text()
    if len(BLOCK.findall(source)) != 1:
        raise UserError(f"{schema_file}: no single `FEATURES: dict[str, pa.Column] = {{ ... }}` to replace")
    write_text(BLOCK.sub(lambda _m: block, source), schema_file)

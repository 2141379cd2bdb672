"""A CSV's column names as its header writes them, before pandas renames them.

pandas reads a second ``age`` as ``age.1`` and a blank name as ``Unnamed: 3``: columns the
file does not have, which the schema draft would make features and the batch scorer would
look for in vain. ``read_csv`` (``mlapp.tables``) checks the header as written when a name
looks repeated; validate checks it first (``header_problems``), blank names too. A required
name the file spells another way (``look_alikes``) is named beside the error by validate, the
batch scorer and the monitor alike (the service imports this module: no stage code there).
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, cast

import pandas as pd
from pandas.errors import EmptyDataError, ParserError

from mlapp.errors import address_space_limited
from mlapp.sources import Replayed, opened

CsvSource = Path | str | IO[bytes]
HEAD_BYTES = 1 << 16  # a stream's bytes kept to read its header again (a line of ~3,000 names)
REPEATED = re.compile(r"(.+)\.\d+")  # pandas' name for the second of a repeated name
UNNAMED = re.compile(r"Unnamed: \d+")  # pandas' name for a blank one
INDEX = "pandas' to_csv writes the row index so unless index=False"
TRAILING = "ends with the separator: remove the one ending each line"  # an export's trailing comma
CLOSE = 0.8  # difflib's ratio from which a name is a likely misspelling of another: 'agee' for 'age'
UNICODE_FORM = "another Unicode form"  # how a look-alike name differs (alike): 'e' + accent for 'é'
LOST_READ = "Calling read(nbytes) on source failed"  # pandas: the read it called raised, what is not said


@contextlib.contextmanager
def tokenizer_memory() -> Iterator[None]:
    """pandas' C tokenizer says it ran out of memory as a ParserError, which every reader takes for
    the file's fault: validate reported the sample table unreadable under `ulimit -v 290000` ("C
    error: out of memory") and 300000 ("Calling read(nbytes) on source failed": it swallows what
    the read raised, there a MemoryError). Raised as the MemoryError it is; the second only under an
    address-space limit, where nothing else fails a local read (a Ctrl-C is ``interrupts_kept``'s,
    inside this)."""
    try:
        yield
    except ParserError as exc:
        said = str(exc)
        if "C error: out of memory" in said or (LOST_READ in said and address_space_limited()):
            raise MemoryError(said.strip()) from exc
        raise


def csv_header(source: CsvSource, sep: str) -> list[str]:
    """The column names on a CSV file's first line as ``read_csv`` reads them (a path or URL
    decompressed as its name says, a BOM and spaces after the separators dropped), but not
    renamed; none for an empty file."""
    if isinstance(source, (str, Path)):
        with opened(source) as stream:
            return csv_header(stream, sep)
    try:
        with tokenizer_memory():
            first = pd.read_csv(
                source, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False, skipinitialspace=True
            )
    except EmptyDataError:
        return []
    return [str(name) for name in first.iloc[0]] if len(first) else []


def repeated(names: Sequence[str]) -> list[str]:
    """The names given more than once, sorted."""
    return sorted({n for n in names if names.count(n) > 1})


def blank(names: Sequence[str]) -> str | None:
    """What to do about the header's blank names (1-based positions), or None without any."""
    positions = [str(i) for i, name in enumerate(names, start=1) if not name.strip()]
    if not positions:
        return None
    columns = f"column {positions[0]}" if len(positions) == 1 else f"columns {', '.join(positions)}"
    # A blank last name is a header ending in the separator, as spreadsheets and some exports end
    # every line: the row index hint would send the user to a column the file does not have.
    cause = f"the header {TRAILING}" if positions == [str(len(names))] and len(names) > 1 else INDEX
    return (
        f"the header leaves {columns} blank: name {'it' if len(positions) == 1 else 'them'} in the file "
        f"or drop it; {cause}"
    )


def extra_field(head: io.BytesIO, sep: str) -> str:
    """Where the first row with more fields than the header is among a CSV's first bytes
    (``head``, read as pandas reads it: quotes, a BOM), and what to do: pandas names neither.
    Empty when none is found there."""
    text = io.StringIO(head.getvalue().decode("utf-8-sig", errors="replace"), newline="")
    reader = csv.reader(text, delimiter=sep)
    header = next(reader, [])
    for row in reader:  # the last row may be cut short: fewer fields, never more
        if len(row) > len(header):
            trailing = len(row) == len(header) + 1 and not row[-1].strip()
            fix = (
                f"the line {TRAILING}"
                if trailing
                else f"name the extra column in the header, or quote a value holding {sep!r}"
            )
            return f"line {reader.line_num}: {len(row)} fields, the header names {len(header)}; {fix}"
    return ""


def unnamed_hint(names: Sequence[object]) -> str:
    """Said of unknown columns that are pandas' names for blank ones (the monitor reads a batch
    as it comes; validate refuses the blank name itself first)."""
    unnamed = [str(n) for n in names if UNNAMED.fullmatch(str(n))]
    return (
        f"; {unnamed[0]!r} is pandas' name for a column the header leaves blank ({INDEX})" if unnamed else ""
    )


def with_head(source: IO[bytes]) -> tuple[IO[bytes], io.BytesIO]:
    """``source`` to read (again from its start), and a copy of its first bytes to read its
    header from again."""
    head = source.read(HEAD_BYTES)
    return cast(IO[bytes], io.BufferedReader(Replayed(head, source))), io.BytesIO(head)


def refuse_repeated(columns: pd.Index, head: CsvSource, sep: str) -> None:
    """``ParserError`` when pandas renamed a name given twice (which of the two is the feature?):
    a name beside its ``.N`` form is looked up in the header as written, where a file's own
    ``age.1`` is read as it is. A blank name is left to the caller: the batch scorer reads past
    the ``Unnamed: 0`` of an index written by ``to_csv``, validate refuses it."""
    names = {str(c) for c in columns}
    if not any((m := REPEATED.fullmatch(n)) and m[1] in names for n in names):
        return
    header = csv_header(head, sep)
    if twice := repeated(header):
        said = f"the header names {twice} more than once: give each column its own name"
        raise ParserError(said + first_line_data(header))


def separator_fix(header: Sequence[str], sep: str, tsv: bool) -> str | None:
    """What a header read with ``sep`` as one column holding another separator says (``a;b;c``
    read with ','): the rule and the fix, None for another header. ``tsv``: the file was read as a
    ``.tsv`` (tabs whatever data.csv_separator says), so the fix is its name."""
    other = next((s for s in ",;\t|" if s != sep and len(header) == 1 and s in str(header[0])), None)
    if not other:
        return None
    fix = (
        f"name the file .csv, with data.csv_separator: {other!r}"
        if tsv
        else f"set data.csv_separator: {other!r} in params.yaml"
    )
    return f"values separated by {sep!r} (the header is one column holding {other!r}: {fix})"


def _loose(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().casefold()


def alike(missing: list[Any], unexpected: list[Any]) -> list[tuple[str, str, str]]:
    """(required name, the name given for it, how they differ) for each required name that one of
    ``unexpected`` differs from only in case, surrounding spaces or Unicode form (a macOS export
    writes 'é' as 'e' + accent): on screen, both look alike."""
    spelt = {_loose(str(name)): str(name) for name in unexpected}
    pairs = [(str(name), spelt[_loose(str(name))]) for name in missing if _loose(str(name)) in spelt]

    def how(want: str, have: str) -> str:
        if want.strip() != want or have.strip() != have:
            return "spaces around it"
        return "case differs" if want.casefold() == have.casefold() else UNICODE_FORM

    return [(want, have, how(want, have)) for want, have in pairs]


def first_line_data(names: Sequence[Any]) -> str:
    """Words for a header that holds numbers where a header names columns: its first line is
    likely a data row (UCI's ``adult.data``, ``iris.data`` have no header line), "" otherwise. Two
    numbers at least: one is a column named by a year or a code."""
    numbers = [str(n) for n in names if _number(str(n))]
    if len(numbers) < 2:
        return ""
    shown = ", ".join(repr(n) for n in numbers[:3])
    return (
        f" (the header holds numbers, {shown}: if the file's first line is a data row, as in UCI's "
        "files, add a header line naming the columns)"
    )


def _number(name: str) -> bool:
    try:
        float(name.strip())
    except ValueError:
        return False
    return True


def misspelt(missing: list[Any], unexpected: list[Any]) -> list[tuple[str, str, str]]:
    """(required name, the file's name closest to it, "a likely misspelling") for each required
    name one of ``unexpected`` is spelt close to (difflib's ratio >= ``CLOSE``), each of the
    file's names given once: a header's 'agee' beside a missing 'age'. Not ``alike``: the
    service merges those into one issue, a mere resemblance is the user's to judge."""
    left, pairs = [str(name) for name in unexpected], []
    for want in map(str, missing):
        # Compared as alike compares them: 'Agee' is as close to 'age' as 'agee' is.
        loose = {_loose(name): name for name in reversed(left)}  # the first of two alike wins
        if close := difflib.get_close_matches(_loose(want), list(loose), n=1, cutoff=CLOSE):
            pairs.append((want, loose[close[0]], "a likely misspelling"))
            left.remove(loose[close[0]])
    return pairs


def look_alikes(missing: list[Any], unexpected: list[Any]) -> str:
    """The file's columns that look like a required name (``alike``), or are spelt close to one
    (``misspelt``), said beside the error; or a header that looks like a data row (``first_line_data``)."""
    pairs = alike(missing, unexpected)
    named = {want for want, _, _ in pairs} | {have for _, have, _ in pairs}
    pairs += misspelt(
        [name for name in missing if str(name) not in named],
        [name for name in unexpected if str(name) not in named],
    )
    if not pairs:
        return first_line_data(unexpected) if missing else ""
    fix = {UNICODE_FORM: f"{UNICODE_FORM}: save the header as NFC"}
    found = "; ".join(
        f"the file has {have!r} for {want!r} ({fix.get(how, how)})" for want, have, how in pairs
    )
    return f" ({found}: rename the file's column, or the name in FEATURES / params.yaml)"

"""A file no table can be read from is said alike by validate, the batch scorer and the monitor
(``mlapp.unreadable``), in words, never pandas' "No columns to parse from file" or its tokenizer's
"Error tokenizing data. C error: ..." (with a trailing newline); and what each wrote before stays.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from mlapp.errors import UserError
from mlapp.monitor.rows import MonitorError
from mlapp.params import Params, load_params
from mlapp.serving import score as scorer
from mlapp.stages import validate
from mlapp.unreadable import EMPTY
from tests.conftest import SMALL_ROWS

# Rows a chunk: the late ragged row comes after two chunks validate and the scorer wrote. Each
# chunk costs validate a fixed part of a CPU-second: 200 made the sample fifteen of them.
CHUNK = 500
LATE = 1_400  # a data row past the 64 KiB read_csv checks itself: pandas' tokenizer finds it
RAGGED = (
    f"a row has more fields than the header names (line {LATE + 2}: 21 fields, the header names 20; "
    "name the extra column in the header, or quote a value holding the separator)"
)
FEWER = "a row has fewer fields than the header names"
SHORT = (
    f"{FEWER} (line {LATE + 2}: 18 fields, the header names 20; "
    "give each row a field for every column, an empty one (,,) for a missing value)"
)
# A partial upload: the last line ends mid-row, without its line break.
CUT_ROW = (
    f"{FEWER} (line {SMALL_ROWS + 1}: 3 fields, the header names 20; "
    "the last line is cut short (a partial upload or copy): write the file again in full)"
)
CUT = "cut short: its .gz data ends before the compressed stream does (copied or downloaded only in part?)"
COMPRESSED = (".gz", ".bz2", ".xz")
PANDAS = ("No columns to parse", "Error tokenizing", "C error", "end-of-stream")


def _ragged(raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    lines[LATE + 1] += b",extra"  # file line LATE + 2 (1-based, after the header)
    return b"\n".join(lines)


def _short(raw: bytes) -> bytes:
    """File line LATE + 2 without its last two fields (a label and a nullable feature lost)."""
    lines = raw.split(b"\n")
    lines[LATE + 1] = lines[LATE + 1].rsplit(b",", 2)[0]
    return b"\n".join(lines)


def _cut(raw: bytes) -> bytes:
    """The file up to the third comma of its last line."""
    rows, last = raw.rstrip(b"\n").rsplit(b"\n", 1)
    return rows + b"\n" + b",".join(last.split(b",")[:3])


def _line4(raw: bytes, before: bytes) -> bytes:
    lines = raw.split(b"\n")
    lines[3] = before + lines[3]  # file line 4, before its first cell
    return b"\n".join(lines)


def _latin1(raw: bytes) -> bytes:
    return _line4(raw, "\u00d6".encode("latin-1"))  # a spreadsheet's export


def _cp1252(raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    lines[3] = EXCEL.encode("cp1252") + lines[3][lines[3].index(b",") :]  # line 4's first cell
    return b"\n".join(lines)


UTF8 = 'save the file as UTF-8 (Excel: "CSV UTF-8", not "CSV (Comma delimited)")'
EXCEL = "Caf\u00e9 \u2013 \u20ac5"  # Café, an en dash, a euro sign: 0x96 and 0x80 in Windows-1252


CASES: dict[str, tuple[str, Callable[[bytes], bytes], str]] = {
    "empty": ("batch.csv", lambda raw: b"", EMPTY),
    "blank lines only": ("batch.csv", lambda raw: b"\n\n\n", EMPTY),
    "empty gz": ("batch.csv.gz", lambda raw: gzip.compress(b"", mtime=0), EMPTY),
    # No bytes at all: gzip reads none, bz2 and lzma raised EOFError and said "cut short".
    **{f"0-byte {suffix}": (f"batch.csv{suffix}", lambda raw: b"", EMPTY) for suffix in COMPRESSED},
    # validate said "UTF-8 text (line 4 is not: ...)", the scorer and the monitor this.
    "not UTF-8": (
        "batch.csv",
        _latin1,
        f"line 4 is not UTF-8 text ('ÖC0000167' read as Windows-1252): {UTF8}",
    ),
    # Excel's "CSV (Comma delimited)": bytes 0x80-0x9f are letters and signs in Windows-1252, not
    # latin-1's control characters; named so, never read into the data as either.
    "cp1252": ("batch.csv", _cp1252, f"line 4 is not UTF-8 text ({EXCEL!r} read as Windows-1252): {UTF8}"),
    # 0x81 is no character in Windows-1252 either: no reading of it is shown.
    "not cp1252": (
        "batch.csv",
        lambda raw: _line4(raw, b"\x81"),
        "line 4 is not UTF-8 text: save the file as UTF-8",
    ),
    # A no-break space (0xa0), as a French export writes one in '1 200' or after a word: shown
    # escaped, not stripped ('C0000167' alone looked like a cell with nothing wrong in it).
    "cp1252 no-break space": (
        "batch.csv",
        lambda raw: _line4(raw, b"\xa0"),
        f"line 4 is not UTF-8 text ('\\xa0C0000167' read as Windows-1252): {UTF8}",
    ),
    "UTF-16": (
        "batch.csv",
        lambda raw: raw.decode().encode("utf-16"),
        'it is UTF-16 text (Excel\'s "Unicode Text"): save the file as UTF-8 (Excel: "CSV UTF-8")',
    ),
    "ragged row": ("batch.csv", _ragged, RAGGED),
    # pandas padded these with missing values: the label's row dropped and counted, a feature missing.
    "short row": ("batch.csv", _short, SHORT),
    "cut-short last line": ("batch.csv", _cut, CUT_ROW),
    "cut-off gz": ("batch.csv.gz", lambda raw: gzip.compress(raw, mtime=0)[:20_000], CUT),
}


def _params(project: Path) -> Params:
    params = load_params(project / "params.yaml")
    chunks = {"chunk_rows": CHUNK}
    return params.model_copy(
        update={
            "validate_": params.validate_.model_copy(update=chunks),
            "monitor": params.monitor.model_copy(update=chunks),
        }
    )


def _score(project: Path, source: Path, output: Path) -> None:
    """``scorer.score`` with the project's model and data settings, ``CHUNK`` rows a chunk."""
    data = load_params(project / "params.yaml").data
    lineage = output.with_name("none.json")  # no such file: no lineage
    scorer.score(str(source), output, project / "models", CHUNK, lineage, data.missing_values,
                 data.csv_separator, data.decimal)  # fmt: skip


def _source(case: str, project: Path, folder: Path) -> Path:
    name, content, _said = CASES[case]
    (source := folder / name).write_bytes(content((project / "data" / "churn.csv").read_bytes()))
    return source


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_says_why_in_words(
    case: str, reference_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _source(case, reference_project, tmp_path)
    code = validate.run(_params(reference_project), source=source, output=None, report=None)
    err = capsys.readouterr().err
    assert code == 1 and f"the file failed readable table ({CASES[case][2]})\n" in err, err
    assert not any(words in err for words in PANDAS), err


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_scorer_says_it_as_validate_does(case: str, reference_project: Path, tmp_path: Path) -> None:
    source = _source(case, reference_project, tmp_path)
    with pytest.raises(UserError) as caught:
        _score(reference_project, source, tmp_path / "out.parquet")
    assert str(caught.value) == f"cannot read {source}: {CASES[case][2]}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_monitor_says_it_as_validate_does(
    case: str, reference_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlapp.monitor import run

    source = _source(case, reference_project, tmp_path)
    params = _params(reference_project)
    monkeypatch.chdir(reference_project)  # params paths are relative to the project root
    with pytest.raises(MonitorError) as caught:
        run.main(params, source=str(source), json_path=tmp_path / "m.json", markdown_path=tmp_path / "m.md",
                 model_dir=params.train.model_dir)  # fmt: skip
    assert str(caught.value) == f"cannot read {source} as csv: {CASES[case][2]}"


@pytest.mark.parametrize(("case", "said"), [("ragged row", "a row has more fields"), ("short row", FEWER)])
def test_a_late_ragged_row_leaves_the_previous_outputs_as_they_were(
    case: str, said: str, reference_project: Path, tmp_path: Path
) -> None:
    """Chunks before the ragged (or short) row passed; neither validate's table nor the scorer's
    output is replaced by them."""
    params = _params(reference_project)
    good = reference_project / "data" / "churn.csv"
    output, report, scored = tmp_path / "validated.parquet", tmp_path / "report.json", tmp_path / "s.parquet"
    assert validate.run(params, source=good, output=output, report=report) == 0
    _score(reference_project, good, scored)
    before = {path: path.read_bytes() for path in (output, scored)}

    source = _source(case, reference_project, tmp_path)
    assert validate.run(params, source=source, output=output, report=report) == 1
    with pytest.raises(UserError, match=said):
        _score(reference_project, source, scored)

    assert {path: path.read_bytes() for path in before} == before
    assert '"status": "failed"' in report.read_text()  # the report says why, the table stays

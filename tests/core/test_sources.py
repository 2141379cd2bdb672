"""One reading of a file's name for every reader: the batch scorer and the monitor tell a
table's format and compression alike, and read what data.raw may be."""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import socket
from pathlib import Path

import pytest
from pandas.errors import ParserError

from mlapp import sources
from mlapp.errors import UserError
from mlapp.monitor.batch import source_format
from mlapp.params import load_params
from mlapp.serving.score_input import input_format
from mlapp.sources import compression, format_suffix, is_parquet, named_separator, opened, unnamed_format
from mlapp.stages.validate import read_problem
from mlapp.tables import read_csv
from mlapp.unreadable import not_utf8
from tests.conftest import REPO


def _told(tell, name: str) -> str | None:
    try:
        return str(tell(name))
    except UserError:  # the monitor's MonitorError is one too
        return None


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("batch.csv", "csv"),
        ("batch.CSV.GZ", "csv"),
        ("batch.csv.bz2", "csv"),
        ("https://host/exports/batch.csv.xz?version=2", "csv"),
        ("s3://bucket/batch.parquet", "parquet"),
        ("batch.PQ", "parquet"),  # Parquet's other suffix, any case
        ("batch.parquet.gz", None),  # Parquet compresses inside the file
        ("batch.csv.zip", None),  # not a compression data.raw may have
        ("batch.xlsx", None),
        ("batch.json", None),
        ("batch.txt", None),
        ("batch.tsv", "tsv"),  # tab-separated, read with tabs by all three
        ("https://host/batch.TSV.gz?v=1", "tsv"),
    ],
)
def test_the_scorer_and_the_monitor_tell_a_file_by_the_same_name(name: str, fmt: str | None) -> None:
    """data.raw too: what the others read, the pipeline reads alike, and refuses what they refuse."""
    assert _told(lambda n: input_format(n, None), name) == fmt
    assert _told(source_format, name) == fmt
    assert is_parquet(name) == (fmt == "parquet")
    assert (unnamed_format(name) is None) == (fmt is not None)
    assert named_separator(name, ";") == ("\t" if fmt == "tsv" else ";")


def test_data_raw_and_a_table_read_in_its_place_each_have_their_separator() -> None:
    """``DataParams.separator``: data.raw's, said once for every reader of it; a path given in
    its place (validate's --input, generate's --out) by its own name, with data.csv_separator."""
    data = load_params(REPO / "params.yaml").data.model_copy(
        update={"raw": Path("data/raw/export.TSV.gz"), "csv_separator": ";"}
    )
    assert data.separator() == "\t"
    assert data.separator("https://host/batch.csv.xz?v=2") == ";" and data.separator(Path("x.tsv")) == "\t"


@pytest.mark.parametrize("pack", [gzip.compress, bz2.compress, lzma.compress, None])
def test_opened_reads_a_file_decompressed_as_named(tmp_path: Path, pack) -> None:
    text = b"age,region\n40,north\n" * 1000
    suffix = {gzip.compress: ".gz", bz2.compress: ".bz2", lzma.compress: ".xz", None: ""}[pack]
    source = tmp_path / f"batch.csv{suffix}"
    source.write_bytes(pack(text) if pack else text)
    assert compression(source) == (suffix or None) and format_suffix(source) == ".csv"
    with opened(source) as stream:
        assert stream.read() == text


def test_a_url_that_never_answers_fails_the_read_instead_of_hanging(monkeypatch) -> None:
    """A server that accepts the connection and then sends nothing (a stuck export endpoint):
    urllib waits for ever without a timeout, and a scheduled monitor or scoring job with it."""
    monkeypatch.setattr(sources, "URL_TIMEOUT_S", 0.2)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/batch.csv"
        with pytest.raises(TimeoutError), opened(url) as stream:  # an OSError: readers say it in one line
            stream.read()


PACKED = [(gzip.compress, ".gz"), (bz2.compress, ".bz2"), (lzma.compress, ".xz")]


@pytest.mark.parametrize(("pack", "suffix"), PACKED)
def test_compressed_data_named_as_plain_text_is_said_to_be_compressed(tmp_path: Path, pack, suffix) -> None:
    """The scorer, the monitor and validate said "line 1 is not UTF-8 text" of a gzip file named
    .csv: true, but the fix is its name, not its encoding."""
    source = tmp_path / "batch.csv"
    source.write_bytes(pack(b"age,region\n40,north\n"))
    said = f"it is {suffix}-compressed: name it so (batch.csv{suffix})"
    assert not_utf8(source) == said
    undecoded = UnicodeDecodeError("utf-8", b"\x8b", 0, 1, "invalid start byte")
    assert read_problem(undecoded, source).check == f"readable table ({said})"


@pytest.mark.parametrize(
    ("name", "sep", "fix"),
    [
        ("batch.csv", ",", "set data.csv_separator: ';' in params.yaml"),
        ("batch.tsv", "\t", "name the file .csv, with data.csv_separator: ';'"),
    ],
)
def test_a_batch_with_another_separator_is_said_so_by_every_reader(
    tmp_path: Path, name: str, sep: str, fix: str
) -> None:
    """The scorer and the monitor said "lacks feature columns [every one]" of a ';' export, where
    validate named the separator: they read it as validate does now."""
    source = tmp_path / name
    source.write_text("age;region\n40;north\n")
    with pytest.raises(ParserError, match=re.escape(f"the header is one column holding ';': {fix}")):
        next(read_csv(source, [""], 100, sep))

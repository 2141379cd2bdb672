"""`mlapp monitor run`'s own files: never the batch it reads, and a failed write is one error line."""

from __future__ import annotations

import functools
import http.server
import re
from pathlib import Path

import pytest

from mlapp.errors import UserError
from mlapp.monitor import run
from mlapp.monitor.batch import InvalidBatch
from mlapp.monitor.rows import MonitorError
from mlapp.params import load_params
from tests.conftest import answering
from tests.monitor.helpers import fresh, write_csv


def _main(project: Path, source: Path, **paths: Path) -> int:
    params = load_params(project / "params.yaml")
    outputs = {"json_path": source.with_name("m.json"), "markdown_path": source.with_name("m.md")} | paths
    return run.main(params, source=str(source), model_dir=params.train.model_dir, **outputs)


@pytest.mark.parametrize("option", ["json_path", "markdown_path", "summary", "github_output"])
def test_a_report_named_like_the_batch_is_refused_and_the_batch_kept(
    in_project: Path, tmp_path: Path, option: str
) -> None:
    """The run removes its earlier reports first (and appends to the summary): the batch went."""
    source = write_csv(fresh(111), tmp_path / "recent.csv")
    before = source.read_bytes()
    with pytest.raises(UserError, match=f"{re.escape(str(source))} is the input"):
        _main(in_project, source, **{option: tmp_path / "." / "recent.csv"})
    assert source.read_bytes() == before


def test_a_report_folder_that_cannot_be_written_is_one_error_line(in_project: Path, tmp_path: Path) -> None:
    source = write_csv(fresh(112), tmp_path / "recent.csv")
    (tmp_path / "taken").write_text("a file where the report's folder would go")
    with pytest.raises(UserError, match=r"cannot write .*taken/m\.json"):
        _main(in_project, source, json_path=tmp_path / "taken" / "m.json")


@pytest.mark.parametrize("as_url", [False, True], ids=["a path", "a file:// URL"])
def test_a_folder_as_the_batch_is_said_to_be_one(in_project: Path, tmp_path: Path, as_url: bool) -> None:
    """A file:// URL is the same local file (mlapp.sources.local_file): its folder was "cannot read
    ... as csv: [Errno 21] Is a directory", a missing one "not found ([Errno 2] ...)"."""
    (tmp_path / "recent.csv").mkdir()  # e.g. a Spark export's folder of part files
    named = {
        name: (tmp_path / name).as_uri() if as_url else str(tmp_path / name)
        for name in ("recent.csv", "gone.csv")
    }
    params = load_params(in_project / "params.yaml")
    outputs = {"json_path": tmp_path / "m.json", "markdown_path": tmp_path / "m.md"}
    for name, said in (
        ("recent.csv", "is a folder: pass one file"),
        ("gone.csv", "not found (pass --source"),
    ):
        with pytest.raises(MonitorError, match=f"^source {re.escape(named[name])} {re.escape(said)}"):
            run.main(params, source=named[name], model_dir=params.train.model_dir, **outputs)


def test_the_thresholds_list_shows_a_mapping_as_names_and_values_not_pythons_dict(
    in_project: Path, tmp_path: Path
) -> None:
    """``psi_by_feature`` read "{'discount_pct': 0.3}"; a turned-off rule read "None"."""
    params = load_params(in_project / "params.yaml")
    monitor = params.monitor.model_copy(update={"psi_by_feature": {"discount_pct": 0.3}, "severe_psi": None})
    source, md_path = write_csv(fresh(112), tmp_path / "recent.csv"), tmp_path / "m.md"
    run.main(
        params.model_copy(update={"monitor": monitor}),
        source=str(source),
        json_path=tmp_path / "m.json",
        markdown_path=md_path,
        model_dir=params.train.model_dir,
    )
    shown = md_path.read_text().partition("<code>monitor:</code>")[2]
    assert "- `psi_by_feature`: `discount_pct` 0.3\n" in shown
    assert "- `decay_tolerance`: `roc_auc` 0.05, `pr_auc` 0.05\n" in shown
    assert "- `severe_psi`: off\n" in shown
    assert "{" not in shown and "None" not in shown


@pytest.mark.parametrize("rows", [1500, 50])  # a batch compared, and one refused (monitor.min_rows)
def test_a_presigned_urls_signature_is_in_no_report(
    in_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: int
) -> None:
    """The reports (the Markdown also on the workflow run's page) and the verdict line show the
    batch's URL: its signature would let anyone reading them read the batch until it expires."""
    write_csv(fresh(7, rows), tmp_path / "recent.csv")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    outputs = {"json_path": tmp_path / "m.json", "markdown_path": tmp_path / "m.md"}
    outputs["summary"] = tmp_path / "summary.md"
    params = load_params(in_project / "params.yaml")
    source = "recent.csv?sig=SECRET&sv=1"
    with answering(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as url:
        try:
            run.main(params, source=f"{url}/{source}", model_dir=params.train.model_dir, **outputs)
        except InvalidBatch:
            assert rows < params.monitor.min_rows
    for said in (capsys.readouterr().out, *(path.read_text() for path in outputs.values())):
        assert "SECRET" not in said
        assert "/recent.csv?sig=***&sv=1" in said or not said

"""`mlapp monitor run` against a small reference: drifted vs fresh batches, decay, logs, bad input."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlapp.errors import PIPELINE_FIRST
from mlapp.gha import parse_outputs
from mlapp.model import ModelMissing, load
from mlapp.monitor import batch, run
from mlapp.monitor.batch import InvalidBatch
from mlapp.monitor.rows import MonitorError
from mlapp.params import load_params
from tests.conftest import REPO, run_main, with_threshold
from tests.monitor.helpers import DRIFTED, drifted, flipped, fresh, write_csv, write_log
from tests.pipeline.task_tables import params_for, table


def _main(params_path: Path, source: Path, json_path: Path, md_path: Path, **options: Any) -> int:
    params = load_params(params_path)
    options.setdefault("model_dir", params.train.model_dir)
    return run.main(params, source=str(source), json_path=json_path, markdown_path=md_path, **options)


def _monitor(project: Path, source: Path, out: Path, **options: Any) -> tuple[int, dict[str, Any]]:
    """In-process run (the CLI is exercised separately): exit code and JSON report."""
    json_path, md_path = out / f"{source.stem}.json", out / f"{source.stem}.md"
    code = _main(project / "params.yaml", source, json_path, md_path, **options)
    return code, json.loads(json_path.read_text())


def test_fresh_batch_from_the_same_process_is_not_flagged(in_project: Path, tmp_path: Path) -> None:
    code, report = _monitor(in_project, write_csv(fresh(101), tmp_path / "fresh.csv"), tmp_path)
    assert code == run.NO_ACTION
    assert report["retrain"] is False and report["reasons"] == []
    assert report["drifted_features"] == []
    assert max(f["psi"] for f in report["features"]) < 0.05
    assert report["prediction"]["shifted"] is False
    assert report["decay"]["status"] == "skipped"  # no labels in this batch


def test_the_rows_the_model_was_trained_on_recommend_no_retrain(in_project: Path, tmp_path: Path) -> None:
    """~600 test rows are under monitor.min_reference_rows: the training rows' scores join the reference."""
    import pandas as pd

    train = pd.read_parquet(in_project / "artifacts" / "split" / "train.parquet")
    test_rows = len(pd.read_parquet(in_project / "artifacts" / "split" / "test.parquet"))
    code, report = _monitor(in_project, write_csv(train, tmp_path / "trained.csv", labels=True), tmp_path)
    assert report["retrain"] is False, report["reasons"]
    assert code == run.NO_ACTION
    params = load_params(in_project / "params.yaml")
    assert test_rows < params.monitor.min_reference_rows
    assert report["reference"]["score_rows"] == len(train) + test_rows > params.monitor.min_reference_rows
    assert report["prediction"]["psi"] < params.monitor.prediction_psi


def test_drifted_batch_is_flagged_on_exactly_the_moved_features(in_project: Path, tmp_path: Path) -> None:
    code, report = _monitor(in_project, write_csv(drifted(102), tmp_path / "drifted.csv"), tmp_path)
    assert code == run.RETRAIN
    assert report["drifted_features"] == DRIFTED
    by_name = {f["feature"]: f for f in report["features"]}
    assert by_name["monthly_charges"]["psi"] > 0.5 and by_name["monthly_charges"]["ks_statistic"] > 0.2
    assert by_name["contract"]["psi"] > 0.2 and by_name["contract"]["ks_statistic"] is None
    assert by_name["contract"]["largest_change"].startswith("month-to-month")
    assert report["prediction"]["mean_batch"] > report["prediction"]["mean_reference"]
    assert any("`monthly_charges`, `contract`" in r for r in report["reasons"])


def test_markdown_names_the_verdict_and_the_drifted_features(in_project: Path, tmp_path: Path) -> None:
    _monitor(in_project, write_csv(drifted(102), tmp_path / "drifted.csv"), tmp_path)
    text = (tmp_path / "drifted.md").read_text()
    assert text.startswith("## Drift and decay report: RETRAIN recommended")
    assert "| **`monthly_charges`** | numeric |" in text and "| **`contract`** | categorical |" in text
    assert "| `region` | categorical |" in text  # undrifted features are listed, not bold


def test_same_inputs_give_byte_identical_reports(in_project: Path, tmp_path: Path) -> None:
    source = write_csv(drifted(102), tmp_path / "drifted.csv")
    _monitor(in_project, source, tmp_path / "a")
    _monitor(in_project, source, tmp_path / "b")
    for name in ("drifted.json", "drifted.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_labels_unchanged_show_no_decay(in_project: Path, tmp_path: Path) -> None:
    code, report = _monitor(
        in_project, write_csv(fresh(103), tmp_path / "labeled.csv", labels=True), tmp_path
    )
    assert code == run.NO_ACTION
    assert report["decay"]["status"] == "checked" and report["labeled_rows"] == 1500
    assert {m["metric"] for m in report["decay"]["metrics"]} == {"roc_auc", "pr_auc"}
    assert not any(m["decayed"] for m in report["decay"]["metrics"])


def test_flipped_labels_are_metric_decay_without_feature_drift(in_project: Path, tmp_path: Path) -> None:
    source = write_csv(flipped(fresh(103), 0.4, seed=1), tmp_path / "flipped.csv", labels=True)
    code, report = _monitor(in_project, source, tmp_path)
    assert code == run.RETRAIN
    assert report["drifted_features"] == [] and report["prediction"]["shifted"] is False
    decayed = {m["metric"]: m for m in report["decay"]["metrics"] if m["decayed"]}
    assert "roc_auc" in decayed and decayed["roc_auc"]["change"] < -0.05
    assert any(r.startswith("roc_auc decayed") for r in report["reasons"])


def test_prediction_log_gives_the_same_drift_as_the_table(in_project: Path, tmp_path: Path) -> None:
    batch = drifted(102)
    model = load(in_project / "models")
    log = write_log(
        batch,
        tmp_path / "predictions.jsonl",
        model_version=model.version,
        scores=model.predict_proba(batch),
        labels=True,
    )
    code, from_log = _monitor(in_project, log, tmp_path)
    _, from_table = _monitor(in_project, write_csv(batch, tmp_path / "table.csv", labels=True), tmp_path)
    assert code == run.RETRAIN and from_log["format"] == "jsonl"
    assert from_log["features"] == from_table["features"]
    assert from_log["labeled_rows"] == 1500  # ground truth joined in under "churned"
    served = from_log["served"]
    assert served["model_versions"] == {model.version: 1500}
    assert served["max_score_difference"] < 1e-6  # the service's scores are this model's


def test_rows_served_before_a_threshold_only_change_are_another_models(
    in_project: Path, tmp_path: Path
) -> None:
    """Same booster, new threshold: the logged labels were decided at the old one, so the rows
    are not the current model's, and its scores are not compared with theirs as skew."""
    served_model = load(in_project / "models")
    current = with_threshold(
        in_project / "models", tmp_path / "models", round(served_model.spec.cutoff + 0.1, 2)
    )
    batch = fresh(107)
    scores = served_model.predict_proba(batch)
    log = write_log(batch, tmp_path / "served.jsonl", model_version=served_model.version, scores=scores)
    _, report = _monitor(in_project, log, tmp_path, model_dir=current)
    served = report["served"]
    assert served["model_versions"] == {served_model.version: 1500}
    assert served["current_model_version"] == load(current).version != served_model.version
    assert served["max_score_difference"] is None


@pytest.mark.slow
def test_a_compressed_log_or_table_reads_like_the_plain_one(in_project: Path, tmp_path: Path) -> None:
    """logrotate compresses rotated logs, and a table may be compressed as data.raw may: read by
    the name (``.bz2`` and ``.xz`` were refused as formats it could not tell). Each plain file is
    run once, and compared with its three packed copies."""
    log = write_log(drifted(103), tmp_path / "plain.jsonl", model_version="x", labels=True)
    table = write_csv(drifted(103), tmp_path / "plain.csv", labels=True)
    for plain in (log, table):
        _, from_plain = _monitor(in_project, plain, tmp_path)
        for suffix, pack in ((".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)):
            packed = tmp_path / f"packed{plain.suffix}{suffix}"
            packed.write_bytes(pack(plain.read_bytes()))
            code, from_packed = _monitor(in_project, packed, tmp_path)
            case = packed.name
            assert code == run.RETRAIN and from_packed["rows"] == 1500, case
            assert from_packed["format"] == from_plain["format"] == plain.suffix.removeprefix("."), case
            assert from_packed["features"] == from_plain["features"], case


@pytest.mark.parametrize("name", ["batch.tsv", "batch.tsv.xz"])
def test_a_tsv_batch_reads_like_its_csv_copy(in_project: Path, tmp_path: Path, name: str) -> None:
    """data.csv_separator is ','; the name says tab, as it does to validate and the scorer."""
    frame = drifted(104)
    table = write_csv(frame, tmp_path / "batch.csv", labels=True)
    frame.to_csv(tmp_path / name, sep="\t", index=False, date_format="%Y-%m-%dT%H:%M:%S")
    code, from_tsv = _monitor(in_project, tmp_path / name, tmp_path)
    _, from_csv = _monitor(in_project, table, tmp_path)
    assert code == run.RETRAIN and from_tsv["rows"] == 1500 and from_tsv["format"] == "tsv"
    assert from_tsv["features"] == from_csv["features"] and from_tsv["decay"] == from_csv["decay"]


def test_partly_labeled_csv_is_checked_like_the_same_parquet(in_project: Path, tmp_path: Path) -> None:
    """Labels that arrive late leave blanks: pandas then writes the label column as 0.0/1.0."""
    batch = flipped(fresh(110), 0.4, seed=110)
    batch["churned"] = batch["churned"].astype("float64")
    batch.loc[::3, "churned"] = float("nan")
    batch.to_parquet(tmp_path / "late.parquet", index=False)
    code, from_csv = _monitor(in_project, write_csv(batch, tmp_path / "late.csv", labels=True), tmp_path)
    _, from_parquet = _monitor(in_project, tmp_path / "late.parquet", tmp_path)
    assert "1.0" in (tmp_path / "late.csv").read_text()
    assert code == run.RETRAIN and from_csv["labeled_rows"] == 1000
    assert from_csv["decay"]["status"] == "checked" and from_csv["decay"] == from_parquet["decay"]


def test_a_label_the_model_does_not_know_is_named_with_its_rows(in_project: Path, tmp_path: Path) -> None:
    """As validate names a value outside data.classes: column, rule, values and rows; the
    report says invalid (it named no rows and wrote no report)."""
    batch = fresh(111).astype({"churned": object})
    batch.loc[[4, 9, 12, 20, 30, 31], "churned"] = "maybe"
    batch.loc[40, "churned"] = "?"
    source = write_csv(batch, tmp_path / "odd.csv", labels=True)
    with pytest.raises(InvalidBatch) as caught:
        _monitor(in_project, source, tmp_path)
    assert str(caught.value).splitlines()[1] == (
        "  - column 'churned' failed one of the model's classes ['0', '1'] ('?' names no value: if it "
        "marks a missing one, add it to data.missing_values (params.yaml): a row without a label is one "
        "whose outcome is not known yet (left out of metric decay)): 7 value(s), e.g. "
        "['maybe', '?'] at rows [4, 9, 12, 20, 30]"
    )
    report = json.loads((tmp_path / "odd.json").read_text())
    assert report["status"] == "invalid" and report["problems"][0]["rows"] == [4, 9, 12, 20, 30]


@pytest.mark.parametrize("task", ["regression", "binary"])
def test_a_placeholder_label_in_a_batch_says_what_a_missing_label_means_there(task: str) -> None:
    """A '?' label was told to 'make the column nullable in FEATURES' (a feature's fix); in a
    batch a missing label is an outcome not known yet (regression: it does not parse; binary:
    it is not among data.classes)."""
    params = params_for(load_params(REPO / "params.yaml"), task)
    params = params.model_copy(update={"data": params.data.model_copy(update={"classes": ["0", "1"]})})
    frame = table(task, 200).astype(str)
    frame.loc[7, "churned"] = "?"
    with pytest.raises(InvalidBatch) as caught:
        batch.validate_batch(frame, params, "q.csv")
    (problem,) = caught.value.problems
    assert problem.rows == [7] and "nullable in FEATURES" not in problem.check
    assert problem.check.endswith(
        "('?' names no value: if it marks a missing one, add it to data.missing_values (params.yaml): "
        "a row without a label is one whose outcome is not known yet (left out of metric decay))"
    )


def test_a_batch_label_spelt_like_a_class_in_another_way_is_named_as_that_class() -> None:
    """UCI's adult test part writes '>50K.' where the model's class is '>50K': the batch was refused
    as labels none of the classes, the trailing '.' hard to see among them."""
    from mlapp.model import ModelSpec
    from mlapp.monitor.tally import true_labels

    spec = ModelSpec(["age"], {}, "income", 0.5, 0, "binary", ["<=50K", ">50K"])
    labels = pd.Series([">50K", ">50K.", "<=50K.", "<=50k", "maybe"])
    _, problem = true_labels(labels, spec, 5)
    assert problem is not None and problem.rows == [1, 2, 3, 4]
    assert problem.check == (
        "one of the model's classes ['<=50K', '>50K'] ('>50K.' is '>50K'; '<=50K.' is '<=50K'; '<=50k' "
        "is '<=50K' spelt another way, in case or a trailing '.': spell it as the model's class)"
    )


def test_a_batch_column_spelt_another_way_is_named_beside_the_missing_one() -> None:
    """A batch whose header writes a feature in another case (or Unicode form: 'größe' as NFD looks
    the same) was told the column is missing and the file's one unexpected, two names alike on
    screen; validate names the pair, so does the monitor."""
    params = load_params(REPO / "params.yaml")
    frame = table("binary", 200).astype(str).rename(columns={"tenure_months": "Tenure_Months"})
    with pytest.raises(InvalidBatch) as caught:
        batch.validate_batch(frame, params, "q.csv")
    assert "the file has 'Tenure_Months' for 'tenure_months' (case differs)" in str(caught.value)


def test_log_rows_without_ground_truth_are_unlabeled(in_project: Path, tmp_path: Path) -> None:
    log = write_log(fresh(104), tmp_path / "unlabeled.jsonl", model_version="other")
    code, report = _monitor(in_project, log, tmp_path)
    assert code == run.NO_ACTION and report["labeled_rows"] == 0
    assert report["served"]["max_score_difference"] is None  # served by another model


def test_broken_batch_names_column_and_rule(in_project: Path, tmp_path: Path) -> None:
    batch = fresh(105)
    batch.loc[[3, 7], "contract"] = "weekly"
    batch["tenure_months"] = batch["tenure_months"].astype(object)
    batch.loc[5, "tenure_months"] = "lots"
    source = write_csv(batch.drop(columns=["age"]), tmp_path / "broken.csv")
    with pytest.raises(InvalidBatch) as caught:
        _monitor(in_project, source, tmp_path)
    message = str(caught.value)
    assert "column 'contract' failed isin" in message and "['weekly'] at rows [3, 7]" in message
    assert "column 'tenure_months' failed parse as int64" in message
    assert "the table failed required column is present" in message and "age" in message
    report = json.loads((tmp_path / "broken.json").read_text())
    assert report["status"] == "invalid" and report["retrain"] is False
    assert {p["column"] for p in report["problems"]} >= {"contract", "tenure_months", "<table>"}


def test_bad_log_line_is_named(in_project: Path, tmp_path: Path) -> None:
    log = write_log(fresh(106), tmp_path / "log.jsonl", model_version="x")
    lines = log.read_text().splitlines()
    log.write_text("\n".join([*lines[:9], "{not json", '{"features": 3}', *lines[9:]]) + "\n")
    with pytest.raises(InvalidBatch, match=r"<line 10>' failed valid JSON.*\n.*<line 11>' failed an object"):
        _monitor(in_project, log, tmp_path)


@pytest.mark.parametrize("name", ["recent.csv", "recent.parquet", "predictions.jsonl"])
def test_a_missing_url_is_an_error_not_a_traceback(in_project: Path, tmp_path: Path, name: str) -> None:
    """Today's export not there yet (s3://, gs://, ...): fsspec's in-memory store stands in."""
    params = load_params(in_project / "params.yaml")
    source = f"memory://exports/{name}"
    with pytest.raises(MonitorError, match=f"source {source} not found"):
        run.main(params, source=source, json_path=tmp_path / "m.json", markdown_path=tmp_path / "m.md",
                 model_dir=params.train.model_dir)  # fmt: skip


def test_an_unreachable_bucket_is_an_error_not_a_traceback(
    in_project: Path, tmp_path: Path, unreachable_s3
) -> None:
    params = load_params(in_project / "params.yaml")
    source = "s3://bucket/recent.csv"
    with pytest.raises(MonitorError, match=f"cannot read {source} as csv: Could not connect to the endpoint"):
        run.main(params, source=source, json_path=tmp_path / "m.json", markdown_path=tmp_path / "m.md",
                 model_dir=params.train.model_dir)  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("missing.csv", None, "not found"),
        ("batch.xlsx", "a,b\n", "cannot tell the format"),
        ("tiny.csv", "", "at least 200 rows"),
        ("garbage.parquet", "not parquet", "cannot read"),
        ("rotated.jsonl", "", r"\(0 rows\) is invalid: 1 problem\(s\)\n.*at least 200 rows \(found 0"),
        ("batch.parquet.gz", "x", "cannot tell the format"),  # Parquet compresses inside the file
        ("broken.jsonl.gz", "not gzip", "cannot read"),
        ("broken.csv.xz", "not xz", "cannot read"),
        ("batch.csv.zip", "x", "cannot tell the format"),  # not a compression data.raw may have
        ("repeated.csv", "age,region,age\n40,north,41\n", r"the header names \['age'\] more than once"),
        (
            "indexed.csv",
            ",age\n0,40\n",
            r"\(params\.yaml\); 'Unnamed: 0' is pandas' name for a column the header leaves blank",
        ),
    ],
)
def test_unusable_sources_are_errors(
    in_project: Path, tmp_path: Path, name: str, content: str | None, match: str
) -> None:
    source = tmp_path / name
    if name == "tiny.csv":
        write_csv(fresh(107, rows=50), source)
    elif content is not None:
        source.write_text(content)
    with pytest.raises(MonitorError, match=match):
        _monitor(in_project, source, tmp_path)


@pytest.mark.parametrize("name", ["batch.csv", "log.jsonl"])
def test_a_batch_not_in_utf8_names_its_line_and_the_fix(in_project: Path, tmp_path: Path, name: str) -> None:
    """As validate says it; the decoder's "position" was one in the chunk being parsed."""
    source = tmp_path / name
    if name.endswith(".csv"):
        write_csv(fresh(108), source)
    else:
        write_log(fresh(108), source, model_version="x")
    lines = source.read_bytes().splitlines(keepends=True)
    source.write_bytes(b"".join([*lines[:4], "Genève ".encode("latin-1") + lines[4], *lines[5:]]))
    said = r"line 5 is not UTF-8 text \('Genève .*' read as Windows-1252\): save the file as UTF-8"
    excel = "" if name.endswith(".jsonl") else r' \(Excel: "CSV UTF-8"'  # a log is no spreadsheet's
    with pytest.raises(MonitorError, match=said + excel + ("$" if not excel else "")):
        _monitor(in_project, source, tmp_path)


def test_a_parquet_batch_naming_a_column_twice_says_which(in_project: Path, tmp_path: Path) -> None:
    """pyarrow writes such a file; its reader's error was a schema dump ("Multiple matches for
    FieldRef.Name(age) in age: int64 ..."): the monitor names the column and what to do, as for
    a CSV header and as the batch scorer does."""
    table = pa.Table.from_pandas(fresh(108, rows=300), preserve_index=False)
    pq.write_table(table.append_column("age", table.column("tenure_months")), tmp_path / "twice.parquet")
    with pytest.raises(MonitorError) as caught:
        _monitor(in_project, tmp_path / "twice.parquet", tmp_path)
    said = str(caught.value)
    assert said == (
        f"cannot read {tmp_path / 'twice.parquet'} as parquet: the columns ['age'] appear more than once: "
        "give each column its own name"
    )


def test_cli_exit_codes_and_github_output(
    in_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The documented contract through the CLI: 1 retrain, 2 error; --exit-zero for workflows.
    The command runs in this process (test_retrain's slow test runs it as a workflow step does)."""
    out = ["--json", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md")]
    drifted_csv = write_csv(drifted(102), tmp_path / "drifted.csv")
    assert run_main(monkeypatch, "monitor", "run", "--source", str(drifted_csv), *out) == 1
    assert "RETRAIN recommended" in capsys.readouterr().out
    outputs, summary = tmp_path / "github_output", tmp_path / "summary.md"
    monkeypatch.setenv("MONITOR_SOURCE", str(drifted_csv))  # how the workflow passes its input
    flags = ["--exit-zero", "--github-output", str(outputs), "--summary", str(summary)]
    assert run_main(monkeypatch, "monitor", "run", *flags, *out) == 0
    assert parse_outputs(outputs.read_text()) == {"retrain": "true", "status": "retrain"}
    assert summary.read_text() == (tmp_path / "r.md").read_text()
    monkeypatch.delenv("MONITOR_SOURCE")
    capsys.readouterr()
    assert run_main(monkeypatch, "monitor", "run", "--exit-zero", *out) == 2
    assert "pass --source PATH or set monitor.source" in capsys.readouterr().err


def test_missing_reference_is_an_error(project: Path, tmp_path: Path) -> None:
    """A project whose pipeline has not run has no reference to compare with."""
    with pytest.raises(MonitorError, match=r"\(split\.train\) \S+ not found: " + re.escape(PIPELINE_FIRST)):
        _monitor(project, write_csv(fresh(101), tmp_path / "fresh.csv"), tmp_path, model_dir=Path("models"))


def test_a_failed_run_leaves_no_earlier_report_behind(in_project: Path, tmp_path: Path) -> None:
    """A report left from an earlier run would be read as this run's (metrics, retrain reasons)."""
    json_path, md_path = tmp_path / "monitor.json", tmp_path / "monitor.md"
    batch = write_csv(fresh(101), tmp_path / "fresh.csv")
    _main(in_project / "params.yaml", batch, json_path, md_path)
    assert json.loads(json_path.read_text())["status"] == "ok"
    with pytest.raises(
        ModelMissing, match=r"model\.ubj not found"
    ):  # the batch is fine; the reference is not
        _main(in_project / "params.yaml", batch, json_path, md_path, model_dir=tmp_path / "no-model")
    assert not json_path.exists() and not md_path.exists()


def _psi_by_feature(project: Path, tmp_path: Path, overrides: str) -> Path:
    """The project's params.yaml with ``monitor.psi_by_feature: <overrides>``, written to tmp_path."""
    params = tmp_path / "params.yaml"
    params.write_text(
        (project / "params.yaml").read_text().replace("psi_by_feature: {}", f"psi_by_feature: {overrides}")
    )
    return params


def test_unknown_feature_in_psi_overrides_is_an_error(in_project: Path, tmp_path: Path) -> None:
    params = _psi_by_feature(in_project, tmp_path, "{monthly_charge: 0.3}")
    with pytest.raises(MonitorError, match="monthly_charge"):
        _main(params, write_csv(fresh(101), tmp_path / "f.csv"), tmp_path / "r.json", tmp_path / "r.md")


def test_psi_override_can_silence_a_feature(in_project: Path, tmp_path: Path) -> None:
    params = _psi_by_feature(in_project, tmp_path, "{contract: 5.0}")
    _main(params, write_csv(drifted(102), tmp_path / "d.csv"), tmp_path / "r.json", tmp_path / "r.md")
    assert json.loads((tmp_path / "r.json").read_text())["drifted_features"] == ["monthly_charges"]


@pytest.mark.parametrize("label", ["label", "probability", "model_version"])
def test_a_label_column_named_like_a_log_field_is_not_read_as_ground_truth(label: str) -> None:
    """The log's own fields are what was served. With data.label named `label`, the service's
    decision was read as the ground truth: the decay check then scored the model against itself."""
    params = load_params(REPO / "params.yaml")
    params = params.model_copy(update={"data": params.data.model_copy(update={"label": label})})
    line = {"id": "a-1", "ts": "2026-11-23T10:00:00Z", "features": {"age": 40}, "probability": 0.7,
            "label": 1, "model_version": "x"}  # fmt: skip
    frame, _ = batch._log_rows(
        json.dumps(line) + "\n" + json.dumps(line | {"id": "a-2"}), params, "log.jsonl"
    )
    assert label not in frame.columns or frame[label].isna().all()


def test_a_log_of_whole_numbers_sent_as_floats_reads_as_the_table(in_project: Path, tmp_path: Path) -> None:
    """The service takes 5.0 for an integer feature (a pandas client writes an integer column with
    blanks so) and logs it as sent: the monitor reads it as the integer it is."""
    batch = fresh(107)
    sent = batch.copy()
    for name in ("tenure_months", "age", "logins_30d"):
        sent[name] = sent[name].astype("float64")
    log = write_log(sent, tmp_path / "floats.jsonl", model_version="x")
    assert '"tenure_months": ' in log.read_text() and ".0," in log.read_text()
    _, from_log = _monitor(in_project, log, tmp_path)
    _, from_table = _monitor(in_project, write_csv(batch, tmp_path / "table.csv"), tmp_path)
    assert from_log["features"] == from_table["features"]


def test_a_watched_metric_metrics_json_lacks_is_named(in_project: Path, tmp_path: Path) -> None:
    """A metric added to monitor.decay_tolerance after the model was evaluated: one line saying
    which and how to get it, not a KeyError."""
    params = load_params(in_project / "params.yaml")
    source = write_csv(fresh(103), tmp_path / "labeled.csv", labels=True)
    reference = run.load_reference(params, params.train.model_dir)
    lacking = run.Reference(reference.features, reference.scores, {"roc_auc": 0.8}, reference.model)
    with pytest.raises(MonitorError, match=r"has no pr_auc, which monitor.decay_tolerance watches"):
        run.compare(batch.read_batch(str(source), params), lacking, params)

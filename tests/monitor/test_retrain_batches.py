"""`mlapp monitor retrain-prepare` with a batch that cannot become training data: the error, and
the checkout left as it was (its branch, its data)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as arrow
import pyarrow.parquet as pq
import pytest

from mlapp.errors import UserError
from mlapp.monitor import retrain
from mlapp.monitor.refresh import refresh
from mlapp.params import load_params
from tests.conftest import run_main, sh
from tests.monitor.helpers import fresh


def _git(*args: str, cwd: Path) -> str:
    return sh("git", *args, cwd=cwd).stdout.strip()


@pytest.mark.parametrize("batch", ["empty", "unlabeled", "unknown category"])
def test_a_batch_that_cannot_be_training_data_leaves_the_branch_as_it_was(
    project: Path, tmp_path: Path, batch: str
) -> None:
    source = tmp_path / "batch.csv"
    frame = fresh(211, rows=300)
    if batch == "empty":
        source.write_text("")
    elif batch == "unlabeled":
        frame.drop(columns=["churned"]).to_csv(source, index=False)
    else:
        frame.assign(region="mars").to_csv(source, index=False)
    branch, head = _git("branch", "--show-current", cwd=project), _git("rev-parse", "HEAD", cwd=project)
    data = (project / "data" / "churn.csv").read_bytes()
    with pytest.raises(UserError):
        retrain.prepare(load_params(), str(source), reproduce=False)
    assert _git("branch", "--show-current", cwd=project) == branch  # not switched to ct/retrain
    assert _git("rev-parse", "HEAD", cwd=project) == head
    assert _git("status", "--porcelain", cwd=project) == ""
    assert (project / "data" / "churn.csv").read_bytes() == data


def test_appended_rows_keep_the_tables_utc_offsets_and_fractions(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table whose event times carry an offset got the new rows' times without one (they are
    validated into UTC): the retraining PR's validate refused the mix it had just written."""
    raw = project / "data" / "churn.csv"
    table = pd.read_csv(raw, dtype=str, keep_default_na=False)
    table["event_time"] = table["event_time"] + "+02:00"
    table.to_csv(raw, index=False)
    batch = fresh(212, rows=300)
    batch["event_time"] = batch["event_time"].dt.tz_localize("Europe/Berlin") + pd.Timedelta("1.5s")
    batch.to_csv(source := tmp_path / "batch.csv", index=False)

    refresh(load_params(), str(source))

    times = pd.read_csv(raw, dtype=str)["event_time"]
    first = batch["event_time"].iloc[0].tz_convert("UTC")
    assert times.iloc[len(table)] == first.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    out, report = tmp_path / "v.parquet", tmp_path / "v.json"
    assert run_main(monkeypatch, "pipeline", "validate", "--output", str(out), "--report", str(report)) == 0
    assert len(pd.read_parquet(out)) == len(table) + 300


def test_a_batch_row_whose_id_has_a_space_replaces_the_tables_row_of_that_id(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id is a key read as written: the table's "C0000007 " (a spreadsheet's trailing space)
    and a batch's "C0000007 " are one customer, whose newer row replaces the older. Read stripped,
    the batch's was "C0000007", appended beside it, and the next validate refused the two."""
    raw = project / "data" / "churn.csv"
    table = pd.read_csv(raw, dtype=str, keep_default_na=False)
    table.loc[7, "customer_id"] += " "
    table.to_csv(raw, index=False)
    batch = fresh(215, rows=300)
    batch.loc[0, "customer_id"] = table.loc[7, "customer_id"]
    batch.to_csv(source := tmp_path / "batch.csv", index=False)

    refresh(load_params(), str(source))

    after = pd.read_csv(raw, dtype=str, keep_default_na=False)
    assert len(after) == len(table) + 299
    assert after.loc[7, "monthly_charges"] == str(batch.loc[0, "monthly_charges"])
    out, report = tmp_path / "v.parquet", tmp_path / "v.json"
    assert run_main(monkeypatch, "pipeline", "validate", "--output", str(out), "--report", str(report)) == 0


def test_appended_rows_take_the_types_a_parquet_table_stores(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An int id, a 0/1 int label and zoned event times: the validated new rows (text ids and
    classes, UTC times) made columns of two types, and pyarrow refused to write the table."""
    table = pd.read_csv(project / "data" / "churn.csv", parse_dates=["event_time"])
    table["customer_id"] = table["customer_id"].str[1:].astype("int64")
    table["event_time"] = table["event_time"].dt.tz_localize("UTC").dt.tz_convert("America/New_York")
    (project / "data" / "churn.csv").unlink()
    table.to_parquet(raw := project / "data" / "churn.parquet", index=False)
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("raw: data/churn.csv", "raw: data/churn.parquet", 1))
    batch = fresh(213, rows=300).assign(customer_id=range(10**7, 10**7 + 300))
    batch.to_parquet(source := tmp_path / "batch.parquet", index=False)

    refresh(load_params(), str(source))

    after = pd.read_parquet(raw)
    assert after.dtypes.to_dict() == table.dtypes.to_dict() and len(after) == len(table) + 300
    assert after["event_time"].iloc[-1] == batch["event_time"].iloc[-1].tz_localize("UTC")
    out, report = tmp_path / "v.parquet", tmp_path / "v.json"
    assert run_main(monkeypatch, "pipeline", "validate", "--output", str(out), "--report", str(report)) == 0


def test_a_parquet_tables_whole_number_label_with_gaps_stays_whole(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer's int64 label with missing values (rows validate drops): read whole, it was
    float64 (validate, in chunks, reads ints), and the refreshed table stored it as double."""
    table = pd.read_csv(project / "data" / "churn.csv", parse_dates=["event_time"])
    table["churned"] = table["churned"].astype(object)
    table.loc[[5, 2500], "churned"] = None
    (project / "data" / "churn.csv").unlink()
    stored = arrow.Table.from_pandas(table.astype({"churned": "Int64"}), preserve_index=False)
    pq.write_table(stored.replace_schema_metadata(None), raw := project / "data" / "churn.parquet")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("raw: data/churn.csv", "raw: data/churn.parquet", 1))
    batch = fresh(214, rows=300)
    batch.to_parquet(source := tmp_path / "batch.parquet", index=False)

    refresh(load_params(), str(source))

    after = pq.read_table(raw)
    assert after.schema.field("churned").type == arrow.int64() and after.num_rows == len(table) + 300
    assert after.column("churned").to_pylist() == [*table["churned"], *batch["churned"]]
    out, report = tmp_path / "v.parquet", tmp_path / "v.json"
    assert run_main(monkeypatch, "pipeline", "validate", "--output", str(out), "--report", str(report)) == 0


@pytest.mark.slow
@pytest.mark.parametrize("stored", ["csv", "parquet"])
def test_a_yes_no_batch_appends_the_tables_own_0_1_classes(
    stored: str, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monitor reads a boolean label as a 0/1 model's classes: the refreshed table must hold
    them as its 1 and 0 (a Parquet table's int64), not true/false beside them (four classes)."""
    if stored == "parquet":
        table = pd.read_csv(project / "data" / "churn.csv", parse_dates=["event_time"])
        (project / "data" / "churn.csv").unlink()
        table.to_parquet(project / "data" / "churn.parquet", index=False)
        params = project / "params.yaml"
        params.write_text(params.read_text().replace("raw: data/churn.csv", "raw: data/churn.parquet", 1))
    batch = fresh(215, rows=300)
    batch.assign(churned=batch["churned"].astype(bool)).to_parquet(
        source := tmp_path / "b.parquet", index=False
    )

    refresh(load_params(), str(source))

    raw = load_params().data.raw
    labels = (
        pd.read_parquet(raw)["churned"] if stored == "parquet" else pd.read_csv(raw, dtype=str)["churned"]
    )
    assert sorted(labels.astype(str).unique()) == ["0", "1"]
    assert labels.astype(str).iloc[-300:].tolist() == batch["churned"].astype(str).tolist()
    out, report = tmp_path / "v.parquet", tmp_path / "v.json"
    assert run_main(monkeypatch, "pipeline", "validate", "--output", str(out), "--report", str(report)) == 0

"""End to end through DVC, as a user runs it: `dvc repro` in a fresh copy of the repo."""

import json
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.conftest import copy_project, sh

pytestmark = pytest.mark.slow


def test_repro_produces_every_output_and_leaves_status_clean(trained_project: Path, tmp_path: Path) -> None:
    # A copy: `dvc status` and `git status` write lock and index files, and other test
    # processes copy the shared project at the same time.
    root = copy_project(trained_project, tmp_path / "p")
    for rel in (
        "models/model.ubj",
        "models/model_spec.json",
        "metrics/metrics.json",
        "reports/validation.json",
        "artifacts/split/test.parquet",
    ):
        assert (root / rel).is_file(), rel
    for plot in ("roc", "pr", "confusion", "calibration", "importance"):
        assert json.loads((root / "metrics" / "plots" / f"{plot}.json").read_text())
    metrics = json.loads((root / "metrics" / "metrics.json").read_text())
    assert 0.6 < metrics["roc_auc"] <= 1
    assert "Data and pipelines are up to date" in sh("dvc", "status", cwd=root).stdout
    assert sh("git", "status", "--porcelain", cwd=root).stdout == ""  # outputs committed or ignored


def test_evaluate_logged_one_mlflow_run_with_lineage(trained_project: Path) -> None:
    # A client of its own, not mlflow.set_tracking_uri: the shared store stays out of MLflow's globals.
    client = MlflowClient(f"sqlite:///{trained_project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("mlapp").experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert (
        run.data.metrics["roc_auc"]
        == json.loads((trained_project / "metrics/metrics.json").read_text())["roc_auc"]
    )
    assert {"git.commit", "git.dirty", "data.md5", "model.sha256", "package.version"} <= set(run.data.tags)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/roc.png", "plots/roc.json", "plots/confusion.png"} <= artifacts


# evaluate logs to MLflow: to ``mlflow_store`` (MLFLOW_TRACKING_URI names it), whose tables are
# made, not to a new store whose tables evaluate would make first (here and in the next test).
@pytest.mark.usefixtures("mlflow_store")
def test_forced_repro_gives_identical_model_bytes(trained_project: Path, tmp_path: Path) -> None:
    root = copy_project(trained_project, tmp_path / "p")
    before = {p.name: p.read_bytes() for p in (root / "models").iterdir()}
    metrics_before = (root / "metrics" / "metrics.json").read_bytes()
    sh("dvc", "repro", "-f", cwd=root)
    assert {p.name: p.read_bytes() for p in (root / "models").iterdir()} == before
    assert (root / "metrics" / "metrics.json").read_bytes() == metrics_before
    assert sh("git", "status", "--porcelain", cwd=root).stdout == ""


# Two retrains (train and evaluate, each stage a process importing xgboost, pandas, MLflow): 176 s
# alone at load average 12, over pytest's 300 s beside another worker at 14. Each `dvc repro` may
# take sh's 240 s; the budget is for a hang, not a claim about speed.
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("mlflow_store")
def test_changing_a_param_retrains_and_reverting_gives_the_same_bytes_again(
    trained_project: Path, tmp_path: Path
) -> None:
    # train's output is persistent (a failed train keeps the previous model), so DVC keeps no
    # run-cache entry for it: reverting trains again, to the same bytes.
    root = copy_project(trained_project, tmp_path / "p")
    original = (root / "models" / "model.ubj").read_bytes()
    params = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(params.replace("max_depth: 5", "max_depth: 2"))
    out = sh("dvc", "repro", cwd=root).stdout
    assert "Running stage 'train'" in out and "Running stage 'split'" not in out
    assert (root / "models" / "model.ubj").read_bytes() != original
    (root / "params.yaml").write_text(params)
    out = sh("dvc", "repro", cwd=root).stdout
    assert "Running stage 'train'" in out
    assert (root / "models" / "model.ubj").read_bytes() == original


def test_a_failed_train_keeps_the_previous_model(trained_project: Path, tmp_path: Path) -> None:
    """DVC deletes a stage's outputs before it runs unless they persist: a train that fails
    (here on an unreadable training table) must leave the model there was, whole."""
    root = copy_project(trained_project, tmp_path / "p")
    before = {p.name: p.read_bytes() for p in (root / "models").iterdir()}
    table = root / "artifacts" / "split" / "train.parquet"
    table.unlink()  # never write through a link into the DVC cache
    table.write_bytes(b"not a parquet file")
    result = sh("dvc", "repro", "--force", "--single-item", "train", cwd=root, check=False)
    assert result.returncode != 0 and "train" in result.stderr
    assert {p.name: p.read_bytes() for p in (root / "models").iterdir()} == before
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".models-")) == []


def test_a_validate_stopped_by_a_params_error_keeps_the_committed_report(
    trained_project: Path, tmp_path: Path
) -> None:
    """reports/validation.json is committed: a params error stops validate before it writes a
    report, and DVC, which deletes a stage's outputs before it runs unless they persist, left
    none (a deleted file in `git status`)."""
    root = copy_project(trained_project, tmp_path / "p")
    report = root / "reports" / "validation.json"
    before = report.read_bytes()
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["validate"]["min_rows"] = 0
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    result = sh("dvc", "repro", "validate", cwd=root, check=False)
    assert result.returncode != 0 and "validate.min_rows" in result.stdout + result.stderr
    assert report.read_bytes() == before
    assert sh("git", "status", "--porcelain", cwd=root).stdout.split() == ["M", "params.yaml"]


@pytest.mark.parametrize(
    ("section", "key", "value", "stage"),
    [("split", "test_size", "0.2x", "split"), ("data", "target", "nosuch", "validate")],
)
def test_a_stage_stopped_by_a_params_error_keeps_the_tables_it_wrote_before(
    trained_project: Path, tmp_path: Path, section: str, key: str, value: str, stage: str
) -> None:
    """DVC deleted validate's and split's tables before running them: a params.yaml mistake left
    none (back only with `dvc checkout`). Now they stay, and fixing the mistake is all it takes."""
    root = copy_project(trained_project, tmp_path / "p")
    tables = ["artifacts/validated.parquet", "artifacts/split/train.parquet", "artifacts/split/test.parquet"]
    before = {rel: (root / rel).read_bytes() for rel in tables}
    shipped = (root / "params.yaml").read_text()
    raw = yaml.safe_load(shipped)
    raw[section][key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    result = sh("dvc", "repro", cwd=root, check=False)
    assert result.returncode != 0 and f"failed to reproduce '{stage}'" in result.stderr
    assert f"{section}.{key}" in result.stdout + result.stderr
    assert {rel: (root / rel).read_bytes() for rel in tables if (root / rel).exists()} == before
    (root / "params.yaml").write_text(shipped)
    assert "Data and pipelines are up to date" in sh("dvc", "status", cwd=root).stdout

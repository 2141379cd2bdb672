from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mlapp import cli as cli_package
from mlapp import schema
from mlapp.cli import EXIT_ERROR, cli, command_tree
from mlapp.errors import out_of_memory
from tests.conftest import REPO, run_main

STAGES = ["generate", "validate", "split", "train", "evaluate", "track", "register"]
GROUPS = {"pipeline", "report", "serving", "delivery", "monitor", "template"}


def test_one_group_per_domain_each_module_small() -> None:
    tree = command_tree()
    assert set(tree) == GROUPS, tree
    assert all(subs for subs in tree.values()), "every top-level command is a group with subcommands"
    for module in Path(cli_package.__file__).parent.glob("*.py"):
        lines = len(module.read_text().splitlines())
        assert lines <= 300, f"{module.name}: {lines} lines"


@pytest.mark.parametrize("command", STAGES)
def test_every_pipeline_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, ["pipeline", command, "--help"], prog_name="mlapp")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: mlapp pipeline {command} [OPTIONS]")


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_command_answers_help_without_reading_params(group: str, tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"  # --help must not need a params file
    for sub in sorted(command_tree()[group] or ()):
        result = CliRunner().invoke(cli, ["--params", str(missing), group, sub, "--help"])
        assert result.exit_code == 0, f"mlapp {group} {sub} --help: {result.output}"


def test_broken_params_file_is_one_line_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("data: {raw: x}\n")
    assert run_main(monkeypatch, "--params", str(bad), "pipeline", "split") == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "params.yaml is invalid" in err and "Traceback" not in err


def test_usage_errors_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(monkeypatch, "pipeline", "no-such-stage") == EXIT_ERROR
    err = capsys.readouterr().err
    assert "No such command 'no-such-stage'" in err and "Traceback" not in err


def test_an_internal_error_shows_its_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    @click.command("explode")
    def explode() -> None:
        Path("/nonexistent/internal/file").read_text()  # a bug, not the user's mistake

    cli.add_command(explode)
    try:
        assert run_main(monkeypatch, "explode") == EXIT_ERROR
    finally:
        cli.commands.pop("explode")
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "FileNotFoundError" in err
    assert "read_text()" in err  # the failing line, which the user-error path would hide


def test_register_rejects_malformed_tags() -> None:
    result = CliRunner().invoke(cli, ["pipeline", "register", "--tag", "no-equals-sign"])
    assert result.exit_code == EXIT_ERROR
    assert "expected KEY=VALUE, got ['no-equals-sign']" in result.output


def test_generate_never_overwrites_a_table_of_your_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After adopting the template, data.raw is the team's table: `generate` (what `make recent`
    runs with --out) must not replace it with the synthetic sample, nor crash on its label."""
    params = (REPO / "params.yaml").read_text().replace("data/churn.csv", "data/wine.csv")
    (tmp_path / "params.yaml").write_text(params.replace("label: churned", "label: cultivar"))
    own = tmp_path / "data" / "wine.csv"
    own.parent.mkdir()
    own.write_text("alcohol,hue,cultivar\n13.2,1.05,1\n")
    monkeypatch.chdir(tmp_path)

    assert run_main(monkeypatch, "pipeline", "generate", "--rows", "50") == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"error: {Path('data/wine.csv')} holds another table") and "--out" in err
    assert own.read_text() == "alcohol,hue,cultivar\n13.2,1.05,1\n"

    assert run_main(monkeypatch, "pipeline", "generate", "--rows", "50", "--out", "recent.csv") == 0
    assert "wrote 50 rows to recent.csv" in capsys.readouterr().out


def test_generate_refuses_a_batch_without_your_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make recent` on your own schema wrote a churn batch, which the monitor then refused column
    by column: it says at once that the sample is not your data."""
    monkeypatch.setattr(schema, "FEATURES", {f"pixel_{i}": schema._number(int, 0, 16) for i in range(64)})
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert run_main(monkeypatch, "pipeline", "generate", "--rows", "50", "--out", "recent.csv") == EXIT_ERROR
    assert capsys.readouterr().err == (
        "error: the synthetic sample is the churn table: it lacks 64 of your features (pixel_0, pixel_1, "
        "pixel_2, pixel_3, pixel_4, …) (src/mlapp/schema.py); monitor a batch of your own data: "
        "make monitor SOURCE=<file>\n"
    )
    assert not (tmp_path / "recent.csv").exists()


@pytest.mark.parametrize("metric", ["auc", "rmse"])  # no metric at all; a metric of another task
@pytest.mark.parametrize("command", [("report", "run"), ("report", "gate"), ("pipeline", "evaluate")])
def test_a_bad_gate_metric_of_the_prs_own_params_is_one_short_line(
    metric: str,
    command: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As the base's bad gate settings are noted: the setting, the value and the task's metrics,
    not pydantic's list of every metric of every task (nor a traceback), whichever command reads it."""
    text = (REPO / "params.yaml").read_text().replace("primary_metric: roc_auc", f"primary_metric: {metric}")
    (tmp_path / "params.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert run_main(monkeypatch, *command) == EXIT_ERROR
    assert capsys.readouterr().err == (
        "error: params.yaml is invalid: "
        f"gate.primary_metric: {metric!r} is not a metric of task binary; choose one of ['roc_auc', "
        "'pr_auc', 'f1', 'precision', 'recall', 'accuracy', 'log_loss', 'brier']\n"
    )


def test_a_command_out_of_memory_says_so_in_one_line(monkeypatch, capsys, tmp_path) -> None:
    """numpy's MemoryError (an allocation the kernel refuses: 7 PiB is more than any address
    space) ended `mlapp` with a traceback, as a bug does."""
    out = tmp_path / "huge.csv"
    rows = str(10**15)
    assert run_main(monkeypatch, "pipeline", "generate", "--rows", rows, "--out", str(out)) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory (Unable to allocate 7.11 PiB"), err
    assert "Traceback" not in err
    assert not out.exists()


def test_xgboosts_bad_alloc_is_out_of_memory_and_its_other_errors_are_not() -> None:
    """Training under `ulimit -v 800000` ended with XGBoost's traceback, 'XGBoostError: std::bad_alloc'."""
    import xgboost

    assert out_of_memory(xgboost.core.XGBoostError("std::bad_alloc")) == "std::bad_alloc"
    assert out_of_memory(xgboost.core.XGBoostError("Check failed: n_features")) is None
    assert out_of_memory(ValueError("bad")) is None


def test_a_library_or_thread_that_could_not_be_mapped_is_out_of_memory() -> None:
    """Under `ulimit -v`, loading xgboost was a 57-line traceback ending in dlopen's wording, and a
    thread pool's start threading's RuntimeError: both mean the limit, as a MemoryError does."""
    mapped = "libxgboost.so: failed to map segment from shared object"
    assert out_of_memory(ImportError(mapped)) == "failed to map segment from shared object"
    assert out_of_memory(RuntimeError("can't start new thread")) == "can't start new thread"
    assert out_of_memory(ImportError("No module named 'xgboost'")) is None


def test_validate_refuses_an_empty_features_before_train_tracebacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A table of only the id, time and label drafted an empty FEATURES (`mlapp template schema
    --write`); validate passed it and train stopped with xgboost's IndexError. Validate names the
    empty FEATURES and leaves the previous outputs."""
    monkeypatch.setattr(schema, "FEATURES", {})
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "data").mkdir()
    rows = "".join(f"C{i},2024-01-01T00:{i // 60:02d}:{i % 60:02d},{i % 2}\n" for i in range(200))
    (tmp_path / "data" / "churn.csv").write_text("customer_id,event_time,churned\n" + rows)
    monkeypatch.chdir(tmp_path)
    assert run_main(monkeypatch, "pipeline", "validate") == EXIT_ERROR
    err = capsys.readouterr().err
    assert "FEATURES (src/mlapp/schema.py) names no column" in err, err
    assert "Traceback" not in err and not (tmp_path / "reports").exists()

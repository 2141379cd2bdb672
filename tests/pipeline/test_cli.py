import pytest
from click.testing import CliRunner

from mlapp.cli import cli, main

STAGES = ["generate", "validate", "split", "train", "evaluate", "register"]


@pytest.mark.parametrize("command", STAGES)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "params" in result.output or "Usage" in result.output


def test_broken_params_file_is_reported_without_traceback(tmp_path, monkeypatch, capsys) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("data: {raw: x}\n")
    monkeypatch.setattr("sys.argv", ["mlapp", "--params", str(bad), "split"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "params.yaml is invalid" in err and "Traceback" not in err


def test_register_rejects_malformed_tags() -> None:
    result = CliRunner().invoke(cli, ["register", "--tag", "no-equals-sign"])
    assert result.exit_code != 0
    assert "KEY=VALUE" in result.output

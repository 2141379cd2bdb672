"""Arguments a careless user types: each is refused before any work, with exit 2 and a message
naming the option (click's usage error or one `error:` line), never a traceback."""

from pathlib import Path

import pytest

from mlapp.cli import EXIT_ERROR
from tests.conftest import REPO, run_main

# {dir}: an existing folder, {file}: an existing (empty) file.
REFUSED = [
    (["pipeline", "tune", "--trials", "0"], "--trials"),
    (["pipeline", "tune", "--trials", "-1"], "--trials"),
    (["pipeline", "tune", "--timeout", "0"], "--timeout"),
    (["pipeline", "tune", "--timeout", "-5"], "--timeout"),
    (["serving", "serve", "--port", "70000"], "--port"),
    (["serving", "serve", "--port", "-1"], "--port"),
    (["serving", "score", "--input", "x.csv", "--output", "o.parquet", "--chunk-rows", "0"], "--chunk-rows"),
    (["serving", "score", "--input", "x.csv", "--output", "o.parquet", "--chunk-rows", "-1"], "--chunk-rows"),
    (["serving", "smoke", "--url", "http://127.0.0.1:9", "--timeout", "-1"], "--timeout"),
    (["serving", "smoke", "--url", "http://127.0.0.1:9", "--timeout", "0"], "--timeout"),
    (["delivery", "wait", "--env", "staging", "--timeout", "-1"], "--timeout"),
    # nan passes every range check (was socket's ValueError traceback); inf waited forever
    *[
        (["serving", "smoke", "--url", "http://127.0.0.1:9", "--timeout", t], "--timeout")
        for t in ("nan", "inf")
    ],
    (["delivery", "wait", "--env", "staging", "--timeout", "nan"], "--timeout"),
    (["pipeline", "tune", "--timeout", "inf"], "--timeout"),
    # bounded as the setting they override: delivery.sync_timeout_s (0 asked once, 1e9 was 31
    # years, a job GitHub stops at 6 h) and tune.timeout_s (7 days)
    *[(["delivery", "wait", "--env", "staging", "--timeout", t], "--timeout") for t in ("0", "21601", "1e9")],
    (["pipeline", "tune", "--timeout", "604801"], "--timeout"),
    # image.ready_timeout_s (1 h), the wait for /readyz of `make image` and `serve --smoke`
    *[
        (["serving", "smoke", "--url", "http://127.0.0.1:9", "--timeout", t], "--timeout")
        for t in ("3601", "1e9")
    ],
    # sample_data.rows (more than 0) and .seed (0 to 2**32 - 1): numpy's ValueError traceback for
    # -5 rows or seed -1; 0 rows wrote an empty table ("label rate nan")
    *[(["pipeline", "generate", "--rows", n], "--rows") for n in ("0", "-5")],
    *[(["pipeline", "generate", "--seed", n], "--seed") for n in ("-1", str(2**32))],
    (["delivery", "e2e", "--image", "x", "--engine", "dockr"], "--engine"),  # was "no cluster"
    (["serving", "smoke", "--url", "localhost:3000"], "--url"),  # was a failed smoke test, exit 1
    (["delivery", "smoke", "--env", "staging", "--url", "localhost:3000"], "--url"),
    # an environment params.yaml does not list (was "nosuch has never been deployed")
    *[
        (["delivery", command, "--env", "nosuch"], "--env")
        for command in ("accept", "rollback", "smoke", "wait")
    ],
    (["delivery", "deploy", "--env", "nosuch", "--image", "x@sha256:" + "0" * 64], "--env"),
    # a folder where a file goes
    (["--params", "{dir}", "pipeline", "train"], "--params"),
    (["pipeline", "validate", "--input", "{dir}"], "--input"),
    (["pipeline", "evaluate", "--metrics", "{dir}"], "--metrics"),
    (["serving", "score", "--input", "x.csv", "--output", "{dir}"], "--output"),
    (["monitor", "run", "--source", "x.csv", "--json", "{dir}"], "--json"),
    (["monitor", "run", "--source", "x.csv", "--github-output", "{dir}"], "--github-output"),
    (["monitor", "metrics", "--out", "{dir}"], "--out"),
    (["report", "run", "--summary", "{dir}"], "--summary"),
    (["delivery", "check-workflows", "--makefile", "{dir}"], "--makefile"),
    (["delivery", "check-workflows", "--makefile", "no-such-Makefile"], "--makefile"),
    # a file where a folder goes
    (["serving", "bento", "--docker-context", "{file}"], "--docker-context"),
    (["report", "run", "--out", "{file}"], "--out"),
    (["pipeline", "train", "--model-dir", "{file}"], "--model-dir"),
]


@pytest.mark.parametrize(("argv", "option"), REFUSED, ids=[" ".join(a) for a, _ in REFUSED])
def test_a_bad_argument_is_refused_by_name_before_any_work(
    argv: list[str],
    option: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("")
    monkeypatch.chdir(tmp_path)
    argv = [a.format(dir="a-folder", file="a-file") for a in argv]
    before = sorted(p.name for p in tmp_path.iterdir())

    assert run_main(monkeypatch, *argv) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"'{option}'" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # refused before writing anything


def test_a_monitor_report_that_is_not_json_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`monitor metrics --report` of an empty or cut-short file was a JSONDecodeError traceback."""
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "monitor.json").write_text('{"schema_version": 2, "sta')
    monkeypatch.chdir(tmp_path)
    assert run_main(monkeypatch, "monitor", "metrics", "--report", "monitor.json", "--out", "-") == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: monitor report monitor.json is not JSON (") and err.count("\n") == 1, err


def test_a_missing_required_option_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make e2e` without LOCAL_IMAGE said only "Missing option '--image'": make passes no option."""
    monkeypatch.delenv("LOCAL_IMAGE", raising=False)
    assert run_main(monkeypatch, "delivery", "e2e") == EXIT_ERROR
    assert "Missing option '--image' (env var: 'LOCAL_IMAGE')" in capsys.readouterr().err


def test_every_required_option_read_from_a_variable_names_it() -> None:
    import click

    from mlapp.cli import cli

    def options(command: click.Command, path: str) -> list[tuple[str, click.Parameter]]:
        found = [(path, p) for p in command.params]
        for name, sub in getattr(command, "commands", {}).items():
            found += options(sub, f"{path} {name}")
        return found

    silent = [
        f"{path} {p.opts[0]}"
        for path, p in options(cli, "mlapp")
        if isinstance(p, click.Option) and p.required and p.envvar and not p.show_envvar
    ]
    assert not silent, f"required, read from a variable the error would not name: {silent}"


@pytest.mark.parametrize(
    ("group", "command", "setting"),
    [
        ("delivery", "wait", "delivery.sync_timeout_s"),
        ("pipeline", "tune", "tune.timeout_s"),
        ("serving", "smoke", "image.ready_timeout_s"),
    ],
)
def test_a_time_option_takes_what_its_setting_takes(group: str, command: str, setting: str) -> None:
    """`delivery wait --timeout` took 0 and 1e9 while its setting refused both (more than 0, at most
    6 h): each end is where the setting's is, so a value moves between file and option unchanged."""
    import click

    from mlapp.cli import cli
    from mlapp.params import Params

    section, key = setting.split(".")
    field = Params.model_fields[section].annotation.model_fields[key]
    high = next(limit.le for limit in field.metadata if getattr(limit, "le", None) is not None)
    option = next(p for p in cli.commands[group].commands[command].params if p.name == "timeout")
    assert option.type.convert(str(high), option, None) == high
    for refused in ("0", str(high + 1)):
        with pytest.raises(click.BadParameter):
            option.type.convert(refused, option, None)


@pytest.mark.parametrize("argv", [["delivery", "wait", "--env", "staging"], ["pipeline", "tune"]])
def test_a_time_with_a_unit_is_refused_as_not_a_number_of_seconds(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--timeout 30s` (a unit typed out of habit): click said "is not a valid float range"."""
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert run_main(monkeypatch, *argv, "--timeout", "30s") == EXIT_ERROR
    assert (
        "'--timeout': '30s' is not a number of seconds: write them as a bare number (30, 1.5, 3600)"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["delivery", "wait", "--env", "staging", "--timeout", "0"],
            "'--timeout': 0: must be more than 0 and at most 21600 (the range of delivery.sync_timeout_s)",
        ),
        (
            ["serving", "smoke", "--url", "http://127.0.0.1:9", "--timeout", "1e9"],
            "'--timeout': 1e9: must be more than 0 and at most 3600 (the range of image.ready_timeout_s)",
        ),
        (
            ["pipeline", "generate", "--rows", "0"],
            "'--rows': 0: must be more than 0 (the range of sample_data.rows)",
        ),
        (
            ["pipeline", "generate", "--seed", "-1"],
            "'--seed': -1: must be from 0 to 4294967295 (the range of sample_data.seed)",
        ),
    ],
)
def test_an_option_out_of_range_names_the_setting_it_overrides(
    argv: list[str],
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """click said "0.0 is not in the range 0<x<=21600.": neither the setting whose range it is
    nor where to change that range."""
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert run_main(monkeypatch, *argv) == EXIT_ERROR
    assert said in capsys.readouterr().err

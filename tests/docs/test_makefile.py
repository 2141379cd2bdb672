"""The Makefile's own interface: `make help` shows every documented target in one of its groups."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mlapp.metrics import TASK_METRICS
from mlapp.workflows import make_targets
from tests.conftest import REPO, sh
from tests.full_disk import fill, small_tmpfs

GROUPS = ["daily work", "pull requests", "delivery", "maintenance"]
ROW = re.compile(r"^  make (\S+)\s+\S")


def test_help_lists_every_documented_target_once_in_a_group() -> None:
    out = subprocess.run(["make", "--no-print-directory", "help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    titles = [line.rstrip(":") for line in out.stdout.splitlines() if line and not line.startswith(" ")]
    assert titles == GROUPS, "a documented target no group names shows under 'more:'"
    shown = [m[1] for line in out.stdout.splitlines() if (m := ROW.match(line))]
    documented = re.findall(r"^([^\s:#=]+):.*## ", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert "e2e" in documented  # a name with a digit
    assert sorted(shown) == sorted(documented)
    assert set(shown) <= make_targets(REPO / "Makefile")


def test_make_exps_keeps_the_metrics_of_every_task() -> None:
    line = re.search(r"^EXPS_KEEP \?= (.+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert line, "EXPS_KEEP not found in the Makefile"
    keep = re.compile(line[1].replace("$$", "$"))
    for task, names in TASK_METRICS.items():
        kept = [name for name in names if keep.match(name)]
        # the metric each task is usually gated on, and another beside it
        assert len(kept) >= 2 and {"roc_auc", "f1_macro", "rmse"} & set(kept), (task, kept)


def _done_line(env: dict[str, str]) -> str:
    out = subprocess.run(["make", "--no-print-directory", "-n", "run"], cwd=REPO, capture_output=True,
                         text=True, env=env, check=True)  # fmt: skip
    return next(line for line in out.stdout.splitlines() if "Done." in line)


def test_make_run_points_at_the_tracking_store_it_used() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    assert "sqlite:///mlflow.db" in _done_line(env)  # the local default: the ui command
    served = _done_line({**env, "MLFLOW_TRACKING_URI": "https://mlflow.example.com"})
    assert "https://mlflow.example.com" in served and "sqlite" not in served


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Makefile in a git + DVC project whose default remote is an empty local folder, made
    once: each test copies it (``_dvc_project``). The remote is named relative to .dvc/config,
    so a copy's is its own folder."""
    root = tmp_path_factory.mktemp("dvc-project")
    shutil.copy(REPO / "Makefile", root / "Makefile")
    sh("git", "init", "-q", cwd=root)
    sh("dvc", "init", "-q", cwd=root)
    (root / "remote").mkdir()
    sh("dvc", "remote", "add", "-d", "sample", "remote", cwd=root)
    assert "url = ../remote" in (root / ".dvc" / "config").read_text()
    return root


def _dvc_project(made: Path, root: Path) -> None:
    shutil.copytree(made, root, symlinks=True, dirs_exist_ok=True)


def test_make_run_says_why_the_data_cannot_be_pulled(dvc_project: Path, tmp_path: Path) -> None:
    """A teammate's clone of a branch whose `dvc add data` was never pushed: `dvc pull --quiet`
    failed without a word and `make run` ended with `make: *** [Makefile:56: run] Error 1`."""
    _dvc_project(dvc_project, tmp_path)
    missing = "0123456789abcdef0123456789abcdef.dir"  # in neither the cache nor the remote
    (tmp_path / "data.dvc").write_text(
        f"outs:\n- md5: {missing}\n  size: 1\n  nfiles: 1\n  hash: md5\n  path: data\n"
    )
    # RUN= : the tools of this environment (sh puts them on PATH) instead of `uv run` in the copy.
    out = sh("make", "--no-print-directory", "run", "RUN=", cwd=tmp_path, check=False)
    assert out.returncode != 0
    # `data.dvc` alone: a bare push also copies the split and the model into the bundled remote,
    # the folder the message says to commit
    assert "`uv run dvc push data.dvc`, and commit .dvc/sample-remote" in out.stderr, out.stderr
    assert "ERROR: failed to pull data from the cloud" in out.stderr  # DVC's own reason, not hidden


@pytest.mark.slow
def test_make_run_names_the_full_disk_the_data_cannot_be_pulled_to(dvc_project: Path, tmp_path: Path) -> None:
    """`dvc pull --quiet` on a full disk printed nothing, and `make run` blamed the remote."""
    with small_tmpfs(tmp_path / "disk") as root:
        _dvc_project(dvc_project, root)
        (root / "data").mkdir()
        (root / "data" / "table.csv").write_bytes(b"a\n" + b"1\n" * 500_000)  # 1 MB
        sh("dvc", "add", "-q", "data", cwd=root)
        sh("dvc", "push", "-q", cwd=root)
        shutil.rmtree(root / "data")
        shutil.rmtree(root / ".dvc" / "cache")
        fill(root)
        out = sh("make", "--no-print-directory", "run", "RUN=", cwd=root, check=False)
    assert out.returncode != 0
    assert "No space left on device" in out.stderr and f"{root}/.dvc/cache/" in out.stderr, out.stderr
    assert "a full disk (No space left on device) needs room for data/" in out.stderr


def test_make_run_says_to_add_or_drop_data_edited_by_hand(dvc_project: Path, tmp_path: Path) -> None:
    """Rows added to the data file without `dvc add data`: DVC's pull refuses to overwrite them,
    and `make run` said the data was in neither the cache nor the remote."""
    _dvc_project(dvc_project, tmp_path)
    table = tmp_path / "data" / "table.csv"
    table.parent.mkdir()
    table.write_text("a,b\n1,2\n")
    sh("dvc", "add", "-q", "data", cwd=tmp_path)
    sh("dvc", "push", "-q", cwd=tmp_path)
    table.write_text("a,b\n1,2\n3,x\n")  # a row added by hand
    out = sh("make", "--no-print-directory", "run", "RUN=", cwd=tmp_path, check=False)
    assert out.returncode != 0
    assert "uv run dvc add data" in out.stderr and "uv run dvc checkout --force data.dvc" in out.stderr
    assert "`uv run dvc push data.dvc`, and commit data.dvc" in out.stderr, out.stderr
    assert "neither the DVC cache nor the remote" not in out.stderr, out.stderr
    assert table.read_text() == "a,b\n1,2\n3,x\n"


def test_make_run_says_something_when_dvc_repro_stops_silently(tmp_path: Path) -> None:
    """`dvc repro --quiet` prints nothing when DVC itself stops (another `make run` in the same
    checkout holds DVC's lock): `make run` ended with a bare `make: *** [...] Error 255`."""
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    fake = tmp_path / "bin" / "dvc"  # pull succeeds, repro stops without a word, as DVC's --quiet does
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\n[ "$1" = repro ] && exit 255\nexit 0\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    out = subprocess.run(["make", "--no-print-directory", "run", "RUN="], cwd=tmp_path, capture_output=True,
                         text=True, env=env)  # fmt: skip
    assert out.returncode != 0
    assert "`dvc repro` stopped" in out.stderr and "holds its lock" in out.stderr, out.stderr
    assert "killed a stage out of memory" in out.stderr  # SIGKILL: the stage cannot say it either
    assert "== 3/4" not in out.stdout


def _install_uv(tmp_path: Path, *, uv_on_path: bool) -> str:
    """`make install-uv` where uv is importable (`python3 -m uv`, as pip --user leaves it) and,
    unless uv_on_path, its command is not on PATH (a shell started before ~/.local/bin existed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python3 = '"-m uv") ;;\n"-m site") echo /home/newcomer/.local ;;\n*) exit 1 ;;'
    scripts = {"python3": f'case "$1 $2" in\n{python3}\nesac'}
    if uv_on_path:
        scripts["uv"] = "exit 0"
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    make = shutil.which("make")
    assert make
    out = subprocess.run([make, "--no-print-directory", "-f", str(REPO / "Makefile"), "install-uv"],
                         cwd=tmp_path, env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
                         capture_output=True, text=True, check=True)  # fmt: skip
    return out.stdout + out.stderr


def test_install_uv_says_how_to_put_uv_on_path(tmp_path: Path) -> None:
    """Debian's pip installs uv with --user: `make run` worked through `python3 -m uv`, and then
    every `uv run ...` of README's first 10 minutes was "uv: command not found"."""
    note = _install_uv(tmp_path, uv_on_path=False)
    assert 'export PATH="/home/newcomer/.local/bin:$PATH"' in note, note
    (tmp_path / "on-path").mkdir()
    assert _install_uv(tmp_path / "on-path", uv_on_path=True) == ""


def test_make_actionlint_without_go_says_what_it_needs(tmp_path: Path) -> None:
    """Without Go, `make actionlint` ended with bash's `go: command not found` and Error 127."""
    make = shutil.which("make")
    assert make
    command = [make, "--no-print-directory", "-f", str(REPO / "Makefile"), "actionlint"]
    out = subprocess.run(command, cwd=tmp_path, env={"PATH": str(tmp_path)}, capture_output=True, text=True)
    assert out.returncode != 0
    assert "needs Go" in out.stderr and "command not found" not in out.stderr, out.stderr


def test_make_init_removes_the_old_name_from_the_environment(tmp_path: Path) -> None:
    """`make init NAME=acme` re-synced with --inexact, which kept the old package: `uv run mlapp`
    then ended in a ModuleNotFoundError traceback instead of "no such command"."""
    log = tmp_path / "uv.log"
    uv = tmp_path / "uv"
    uv.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    uv.chmod(0o755)
    argv = ["make", "--no-print-directory", "-f", str(REPO / "Makefile"), "init", "NAME=acme", f"UV={uv}"]
    environ = {k: v for k, v in os.environ.items() if k != "UV_PROJECT_ENVIRONMENT"}
    subprocess.run(argv, cwd=tmp_path, env=environ, check=True, capture_output=True)
    calls = log.read_text().splitlines()
    assert calls.index("pip uninstall --quiet --python .venv mlapp") > calls.index("lock"), calls
    # The environment uv makes elsewhere when told to (.venv then names none: init failed).
    log.unlink()
    subprocess.run(argv, cwd=tmp_path, env={**environ, "UV_PROJECT_ENVIRONMENT": "/opt/env"}, check=True)
    assert "pip uninstall --quiet --python /opt/env mlapp" in log.read_text().splitlines()


def test_make_init_without_a_name_states_the_rule_init_applies() -> None:
    from mlapp.template import InitError, check_name

    out = subprocess.run(["make", "--no-print-directory", "init"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 2
    with pytest.raises(InitError) as refused:
        check_name("Bad")
    rule = str(refused.value).split(": use ", 1)[1]
    assert f"NAME=<{rule}>" in out.stdout, (rule, out.stdout)


def test_make_serve_takes_its_port_from_params_unless_port_is_given() -> None:
    """params.yaml is the one source of the port: a second default in the Makefile would win over it."""

    env = {k: v for k, v in os.environ.items() if k != "PORT"}  # make reads the environment's PORT too

    def serve(*extra: str) -> str:
        argv = ["make", "--no-print-directory", "-n", "serve", *extra]
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=True)
        return done.stdout.strip().splitlines()[-1]

    assert serve().endswith("mlapp serving serve"), serve()
    assert serve("PORT=8080").endswith("mlapp serving serve --port 8080"), serve("PORT=8080")

"""The one way this package runs an external command (git, dvc, gh, kubectl, podman, uv).

Every call gets the same environment handling (``env`` merged over ``os.environ``, ``LC_ALL=C``
so tools print stable, untranslated text) and the same failure type: ``CommandError`` carries
the command, its exit code and its output. Callers decide what to do from ``returncode``
(or the subclass), never from the wording of stderr.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlapp.errors import UserError

NOT_FOUND = 127  # what a shell reports for a missing program
TIMED_OUT = 124  # what coreutils' timeout(1) reports
_MESSAGE_LINES = 20  # the tail of stderr worth showing in a one-line-per-error CLI


class CommandError(UserError, RuntimeError):
    """An external command failed (non-zero exit, missing program, or timeout)."""

    def __init__(self, cmd: Sequence[str], returncode: int, stderr: str = "", stdout: str = "") -> None:
        self.cmd = [str(part) for part in cmd]
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"`{shlex.join(self.cmd)}` failed (exit {self.returncode})"
        detail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-_MESSAGE_LINES:]
        return head + (":\n" + "\n".join(detail) if detail else "")

    def __reduce__(self) -> tuple[type[CommandError], tuple[list[str], int, str, str]]:
        return (type(self), (self.cmd, self.returncode, self.stderr, self.stdout))


class CommandNotFound(CommandError):
    """The program is not installed (or not on PATH)."""

    def _message(self) -> str:
        return f"{self.cmd[0]} not found on PATH (needed for `{shlex.join(self.cmd)}`)"


class CommandTimeout(CommandError):
    """The command ran longer than its timeout and was killed."""


Env = Mapping[str, str | None]


def environment(env: Env | None = None) -> dict[str, str]:
    """``os.environ`` with ``env`` on top (a ``None`` value removes the variable) and ``LC_ALL=C``."""
    merged = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    merged["LC_ALL"] = "C"
    return merged


def _decode(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data


def run(
    cmd: Sequence[str | Path],
    *,
    cwd: str | Path | None = None,
    env: Env | None = None,
    check: bool = True,
    input: str | None = None,
    capture: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` and return its result as text; raise ``CommandError`` when it fails and ``check``.

    With ``capture=False`` the command writes to this process's stdout/stderr (progress the user
    should see) and ``stdout``/``stderr`` of the result are ``None``.
    """
    argv = [str(part) for part in cmd]
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=environment(env),
            input=input,
            capture_output=capture,
            timeout=timeout,
            check=False,
            encoding="utf-8",
            errors="replace",
        )
    except FileNotFoundError as exc:
        if cwd is not None and not Path(cwd).is_dir():
            raise  # a wrong working directory is a bug in the caller, not a missing program
        raise CommandNotFound(argv, NOT_FOUND) from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandTimeout(
            argv, TIMED_OUT, _decode(exc.stderr) or f"timed out after {timeout:g}s", _decode(exc.output)
        ) from exc
    if check and done.returncode != 0:
        raise CommandError(argv, done.returncode, _decode(done.stderr), _decode(done.stdout))
    return done


def tool(name: str) -> list[str]:
    """A console script of this very environment (dvc, bentoml), whatever PATH says."""
    path = Path(sys.executable).parent / name
    return [str(path)] if path.exists() else [sys.executable, "-m", name]


def output(
    cmd: Sequence[str | Path],
    *,
    cwd: str | Path | None = None,
    env: Env | None = None,
    timeout: float | None = None,
) -> str:
    """The stripped stdout of a command that must succeed (the common ``git rev-parse`` case)."""
    return run(cmd, cwd=cwd, env=env, timeout=timeout).stdout.strip()

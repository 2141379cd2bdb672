"""`make audit`'s wiring, offline: what it hands pip-audit, and how pip-audit is told to judge it.

The audit itself needs PyPI's JSON API (the audit workflow runs it); here the export step runs for
real (`uv export --frozen` reads uv.lock only) and the pip-audit command is read from `make -n`.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

from tests.conftest import REPO

PIN = re.compile(r"^([A-Za-z0-9][\w.-]*)==(\S+)")


def audit_commands() -> tuple[list[str], list[str]]:
    """The `uv export` and the `pip-audit` command lines of `make audit`, as argv lists."""
    out = subprocess.run(["make", "--no-print-directory", "-n", "audit"], cwd=REPO, capture_output=True,
                         text=True, check=True)  # fmt: skip
    lines = [shlex.split(line) for line in out.stdout.replace("\\\n", " ").splitlines()]
    export = next(argv for argv in lines if "export" in argv)
    audit = next(argv for argv in lines if "pip-audit" in argv)
    return export, audit[audit.index("pip-audit") :]


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def pins(requirements: Path) -> dict[str, str]:
    return {m[1].lower(): m[2] for line in requirements.read_text().splitlines() if (m := PIN.match(line))}


def test_audit_covers_every_locked_package_with_its_hash(tmp_path: Path) -> None:
    export, audit = audit_commands()
    assert option(export, "--output-file") == option(audit, "--requirement")
    out = tmp_path / "audit-requirements.txt"
    export[export.index("--output-file") + 1] = str(out)
    subprocess.run(export, cwd=REPO, check=True, capture_output=True)
    audited = pins(out)
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"]
    locked = {p["name"]: p["version"] for p in lock["package"] if p["name"] != project}
    # Every set a job installs is in there: the serving image's (`mlapp serving image` exports its
    # requirements from the same lock), the pipeline's, the dev tools'.
    assert audited == locked
    text = out.read_text()
    assert text.count("--hash=sha256:") >= len(locked), "pins without hashes: --require-hashes fails"


def test_a_package_pip_audit_cannot_look_up_fails_the_audit() -> None:
    _, audit = audit_commands()
    # Without --strict, pip-audit skips such a package and still prints "No known vulnerabilities
    # found", exit 0: an index that answers 404 for every version made every package "clean".
    assert "--strict" in audit
    assert {"--require-hashes", "--disable-pip"} <= set(audit)


def test_every_accepted_advisory_says_why_in_the_makefile() -> None:
    _, audit = audit_commands()
    ignored = [audit[i + 1] for i, word in enumerate(audit) if word == "--ignore-vuln"]
    comments = [line for line in (REPO / "Makefile").read_text().splitlines() if line.startswith("#")]
    for advisory in ignored:
        assert any(advisory in line for line in comments), f"{advisory}: ignored without a comment saying why"

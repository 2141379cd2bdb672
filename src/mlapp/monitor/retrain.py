"""The retraining pull request: prepare the branch, publish it, open or update the one PR.

Three commands, one workflow step each (.github/workflows/retrain.yml), all runnable and
tested locally. The branch (``monitor.retrain.branch``) is re-created from the base on every
run and force-pushed: it only ever holds "base + refreshed data + retrained outputs", so
there is exactly one retraining PR and never a push to the base branch.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlapp.git
from mlapp import gha, proc
from mlapp.errors import redact
from mlapp.monitor import schema
from mlapp.monitor.rows import MonitorError
from mlapp.params import Params

REMOTE = "origin"
PR_TITLE = "Retrain on fresh data (continuous training)"
PR_INTRO = (
    "Opened by the continuous-training workflow (`.github/workflows/retrain.yml`) because "
    "`mlapp monitor run` recommended retraining. This branch refreshes the data pointer and "
    "retrains; the PR report and quality gate decide whether the new model is better. "
    "Each scheduled run re-creates the branch from the base and updates this PR.\n\n"
)


def run(*args: str | Path) -> str:
    return proc.output(args)


def git(*args: str | Path, env: dict[str, str] | None = None) -> str:
    """Its stripped stdout; may prompt: a person runs these steps locally against their remote."""
    return mlapp.git.output(*args, env=env, prompt=True)


def _guard(params: Params) -> tuple[str, str]:
    branch, base = params.monitor.retrain.branch, params.monitor.retrain.base
    if branch == base:
        raise MonitorError(f"monitor.retrain.branch must differ from the base branch '{base}'")
    return branch, base


def _reasons(params: Params, source: str) -> list[str]:
    """The last monitor report's reasons, if that report checked this very source."""
    path = params.monitor.report_json
    if not path.is_file():
        return []
    report = schema.read(path)
    if report.source != redact(source):  # e.g. `make monitor SOURCE=a.csv`, then retrain-branch on b.csv
        print(f"{path} checked {report.source}, not {redact(source)}: the commit message gives no reasons")
        return []
    return list(report.reasons) if isinstance(report, schema.MonitorReport) else []


def _in_repo_remote() -> Path | None:
    """The default DVC remote when it is a folder inside this repository (the bundled sample).

    Such a remote travels with the commit; any other remote receives ``dvc push``.
    """
    from mlapp.monitor.refresh import dvc  # lazy: as in ``prepare``

    name = dvc("config", "core.remote", check=False)
    url = dvc("config", f"remote.{name}.url", check=False) if name else ""
    if not url or "://" in url:
        return None
    path, root = Path(url).resolve(), Path.cwd().resolve()  # DVC prints local remotes absolute
    return path.relative_to(root) if path.is_relative_to(root) else None


def prepare(
    params: Params, source: str, *, reproduce: bool = True, github_output: Path | None = None
) -> bool:
    """Re-create the branch from the base, refresh the data, retrain, commit.

    Returns False (and commits nothing) when the refreshed data equals the base's data.
    """
    # lazy: the data refresh reads and validates tables (pandas, pandera); publish and the PR do not
    from mlapp.monitor.refresh import dvc, labeled_rows, refresh

    branch, base = _guard(params)
    if git("status", "--porcelain", "--untracked-files=no"):
        raise MonitorError("the working tree has uncommitted changes: commit or stash them first")
    # Read and checked before the switch: a batch that cannot be training data leaves the
    # checkout on its own branch, not on a re-created retraining branch.
    rows = None if params.monitor.retrain.refresh == "import" else labeled_rows(source, params)
    git("switch", "--quiet", "-C", branch, base)
    tracking = refresh(params, source, rows)
    if not git("status", "--porcelain", "--", tracking):
        print(f"{tracking} unchanged: the data already holds this batch; nothing to retrain on")
        gha.set_output("changed", False, github_output)
        return False
    if reproduce:
        dvc("repro")
    dvc("push", tracking)  # the PR's CI must be able to `dvc pull` the new data
    remote = _in_repo_remote()
    git("add", "--update")  # pointer, dvc.lock, metrics, plots: tracked files this run changed
    git("add", tracking, *([remote] if remote else []))
    reasons = _reasons(params, source)
    message = f"Retrain on fresh data from {redact(source)}\n\n" + "".join(f"- {r}\n" for r in reasons)
    git("commit", "--quiet", "-m", message)
    print(f"prepared {branch}: {git('log', '-1', '--format=%h %s')}")
    gha.set_output("changed", True, github_output)
    return True


def publish(params: Params) -> bool:
    """Force-push the branch, unless the remote branch already holds the same tree. In CI the
    token comes from ``GH_TOKEN`` for these calls only: the checkout keeps no credentials while
    the pipeline runs (its token could push any branch, the deploy branch too)."""
    branch, _ = _guard(params)
    if git("branch", "--show-current") != branch:
        raise MonitorError(f"not on {branch}: run `mlapp monitor retrain-prepare` first")
    auth = mlapp.git.auth_env(mlapp.git.remote_url(REMOTE) or "")
    if git("ls-remote", "--heads", REMOTE, branch, env=auth):
        git("fetch", "--quiet", "--depth=1", REMOTE, f"refs/heads/{branch}", env=auth)
        if git("rev-parse", "FETCH_HEAD^{tree}") == git("rev-parse", "HEAD^{tree}"):
            print(f"{REMOTE}/{branch} already holds these files: not pushed")
            return False
    git("push", "--quiet", "--force", REMOTE, f"HEAD:refs/heads/{branch}", env=auth)
    print(f"pushed {branch} to {REMOTE}")
    return True


def open_pr(params: Params, body: Path) -> str:
    """Create the PR, or update the open one from the same branch (title and body)."""
    branch, base = _guard(params)
    text = PR_INTRO + (body.read_text() if body.is_file() else "(no monitor report found)\n")
    body_file = body.with_name("pr-body.md")
    body_file.write_text(text)
    listed = run("gh", "pr", "list", "--head", branch, "--base", base, "--state", "open",
                 "--json", "number,url", "--limit", "1")  # fmt: skip
    existing = json.loads(listed or "[]")
    if existing:
        number = str(existing[0]["number"])
        run("gh", "pr", "edit", number, "--title", PR_TITLE, "--body-file", body_file)
        print(f"updated pull request {existing[0]['url']}")
        return number
    url = run("gh", "pr", "create", "--head", branch, "--base", base, "--title", PR_TITLE,
              "--body-file", body_file)  # fmt: skip
    print(f"opened pull request {url}")
    return url

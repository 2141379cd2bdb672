"""The champion: the base ref's model and split, from DVC or rebuilt in a temporary worktree.

One mechanism covers both cases: check the base commit out in a temporary ``git worktree``
that shares this repository's DVC cache, and run ``dvc repro --pull <model stage>`` there.
DVC then restores each output the base's ``dvc.lock`` names from the cache (the PR's own
``dvc repro`` usually just wrote the unchanged upstream stages' there) or the remote when it can,
and only runs what is left, with the base's code (``src/`` of
the worktree comes first on ``PYTHONPATH``). A fork PR without remote credentials therefore
still gets a champion, and a second report is fast.

DVC runs inside the worktree, never in this repository, so its repo lock is not contended.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mlapp import git, proc
from mlapp.errors import ParamsError, UserError
from mlapp.model import Model, load
from mlapp.params import read_params_text
from mlapp.tables import read_frame


class ChampionError(UserError, RuntimeError):
    pass


class StaleOutputs(ChampionError):
    """The PR's model is not what its params, code and data make: its metrics.json is not either."""


@dataclass(frozen=True)
class Champion:
    commit: str
    model: Model
    train: pd.DataFrame
    test: pd.DataFrame
    params_text: str
    stages_run: list[str]  # stages DVC executed; empty when everything was restored
    matches_lock: bool  # outputs are exactly what the base's dvc.lock records
    seconds: float

    @property
    def how(self) -> str:
        if not self.stages_run:
            return "restored from the DVC cache/remote"
        return f"rebuilt in a temporary worktree (DVC ran: {', '.join(self.stages_run)})"


def _dvc(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return proc.run([*proc.tool("dvc"), *args], cwd=cwd, env=env, check=False)


def model_stage(lock_text: str, model_dir: str) -> str:
    """The stage of the base's dvc.lock whose outputs include the model folder."""
    stages: dict[str, Any] = (yaml.safe_load(lock_text) or {}).get("stages", {})
    for name, entry in stages.items():
        if any(
            str(out.get("path", "")).rstrip("/") == model_dir.rstrip("/") for out in entry.get("outs", [])
        ):
            return str(name)
    raise ChampionError(f"no stage in the base's dvc.lock produces {model_dir}")


def model_upstream(lock_text: str, model_dir: str) -> set[str]:
    """The stage that makes the model folder and every stage whose outputs it depends on."""
    stages: dict[str, Any] = (yaml.safe_load(lock_text) or {}).get("stages", {})
    made_by = {str(out.get("path")): name for name, entry in stages.items() for out in entry.get("outs", [])}
    found: set[str] = set()
    todo = [model_stage(lock_text, model_dir)]
    while todo:
        if (name := todo.pop()) not in found:
            found.add(name)
            deps = (str(dep.get("path")) for dep in stages[name].get("deps", []))
            todo += [made_by[path] for path in deps if path in made_by]
    return found


def pr_stale_stages(root: Path, model_dir: str) -> list[str]:
    """The PR's stages whose outputs do not match their inputs (``dvc status``); a ChampionError when
    the model or an input of it is among them: a verdict on the model on disk would judge a model
    the PR does not make (stale metrics alone are a warning)."""
    done = _dvc(root, "status", "--json")
    try:
        status: dict[str, Any] = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        return []
    lock = root / "dvc.lock"
    if lock.is_file() and (making := sorted(set(status) & model_upstream(lock.read_text(), model_dir))):
        # A fresh clone has no data yet: `dvc repro` alone stops at "missing data 'source'".
        fix = f"`uv run dvc pull` ({', '.join(unpulled)}), then " if (unpulled := not_pulled(status)) else ""
        raise StaleOutputs(
            f"the PR's pipeline outputs are stale (`dvc status`: {', '.join(making)}): the model on "
            f"disk is not the one this PR makes, so no verdict is given on it; run {fix}`uv run dvc repro` "
            "and commit"
        )
    return sorted(status)


def not_pulled(status: dict[str, Any]) -> list[str]:
    """The ``.dvc`` files of ``dvc status --json`` whose data is not in the checkout (not pulled)."""
    return sorted(
        name
        for name, changes in status.items()
        if name.endswith(".dvc")
        and any(
            state in ("not in cache", "deleted")
            for change in changes
            if isinstance(change, dict)
            for state in (change.get("changed outs") or {}).values()
        )
    )


def cache_dir(root: Path) -> str:
    """This repository's DVC cache: the default folder unless a repo config moves it."""
    configs = [root / ".dvc" / name for name in ("config", "config.local")]
    if not any("[cache]" in c.read_text() for c in configs if c.is_file()):
        return str(root / ".dvc" / "cache")  # saves starting DVC once
    done = _dvc(root, "cache", "dir")
    if done.returncode != 0:
        raise ChampionError(f"`dvc cache dir` failed: {done.stderr.strip()}")
    return done.stdout.strip()


def share_cache(root: Path, tree: Path) -> None:
    """The worktree uses this repository's DVC cache (and its local remote credentials)."""
    local = root / ".dvc" / "config.local"
    if local.is_file():  # credentials for a private remote live here, never in git
        shutil.copyfile(local, tree / ".dvc" / "config.local")
    done = _dvc(tree, "config", "--local", "cache.dir", cache_dir(root))
    if done.returncode != 0:
        raise ChampionError(f"could not point the worktree at the DVC cache: {done.stderr.strip()}")


def _stage_env(tree: Path, scratch: Path) -> dict[str, str]:
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if (tree / "src").is_dir():  # the base's code, not this checkout's (editable install)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree / "src"), os.environ.get("PYTHONPATH")]))
    # Upstream of the model there is no MLflow logging; should a base pipeline have some,
    # it goes to a throw-away store rather than into this run's tracking.
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch / 'mlflow.db'}"
    return env


def base_params_text(root: Path, commit: str) -> str | None:
    """The base's params.yaml, read without checking the base out, when it has a model to obtain
    (a dvc.lock too); None otherwise (``obtain`` names what is missing)."""
    if not git.ok("cat-file", "-e", f"{commit}:dvc.lock", cwd=root):
        return None
    return git.show(commit, "params.yaml", cwd=root)


def obtain(root: Path, commit: str) -> Champion:
    started = time.perf_counter()
    with git.worktree(root, commit) as tree:
        lock = tree / "dvc.lock"
        params_file = tree / "params.yaml"
        if absent := [file.name for file in (lock, params_file) if not file.is_file()]:
            # A first PR (the base predates the pipeline or never ran it): named, not guessed at.
            raise ChampionError(
                f"the base {commit[:12]} has no {' and no '.join(absent)}: no model to compare with"
            )
        params_text = params_file.read_text()
        try:  # read as mlapp and DVC read it: a key written twice stops `dvc repro` there too
            base = read_params_text(params_text, f"the base {commit[:12]}'s params.yaml")
        except ParamsError as exc:
            raise ChampionError(f"no model to compare with: {exc}") from exc
        try:
            model_dir, train_path, test_path = (
                base["train"]["model_dir"], base["split"]["train"], base["split"]["test"]
            )  # fmt: skip
        except (KeyError, TypeError) as exc:
            raise ChampionError(f"the base's params.yaml lacks {exc}: cannot locate its model") from exc
        share_cache(root, tree)
        stage = model_stage(lock.read_text(), str(model_dir))
        done = _dvc(tree, "repro", "--pull", stage, env=_stage_env(tree, tree.parent))
        if done.returncode != 0:
            raise ChampionError(
                f"could not restore or rebuild the champion at {commit[:12]} "
                f"(`dvc repro --pull {stage}` in a worktree):\n{(done.stdout + done.stderr)[-3000:]}"
            )
        stages_run = re.findall(r"Running stage '([^']+)'", done.stdout)
        # autostage adds a changed dvc.lock: any difference from the commit means other bytes.
        matches_lock = git.ok("diff", "--quiet", "HEAD", "--", "dvc.lock", cwd=tree)
        model = load(tree / model_dir)
        train, test = read_frame(tree / train_path), read_frame(tree / test_path)
    return Champion(
        commit=commit,
        model=model,
        train=train,
        test=test,
        params_text=params_text,
        stages_run=stages_run,
        matches_lock=matches_lock,
        seconds=round(time.perf_counter() - started, 1),
    )

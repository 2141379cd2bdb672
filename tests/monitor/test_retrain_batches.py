"""`mlapp monitor retrain-prepare` with a batch that cannot become training data: the error, and
the checkout left as it was (its branch, its data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlapp.errors import UserError
from mlapp.monitor import retrain
from mlapp.params import load_params
from tests.conftest import sh
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

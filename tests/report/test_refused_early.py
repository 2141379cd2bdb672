"""A PR whose model predicts something else than the base's is refused from the base's params.yaml,
before the base's model is restored or rebuilt (3 min 22 s under load, only to say the classes
changed; a changed label waits for the base's rows: tests/report/test_label_renamed.py). A real
base commit and real `obtain`: had it been reached, it would have stopped on this repository
having no DVC setup, with another message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from mlapp import model
from mlapp.errors import UserError
from mlapp.params import load_params
from mlapp.report import run, target
from mlapp.stages.train import base_spec
from tests.conftest import REPO, sh
from tests.pipeline.boosters import tiny_booster
from tests.report.helpers import commit_all, set_param


def _pr_against_base(root: Path, lines: dict[str, tuple[str, str]]) -> None:
    """A base commit (the shipped params.yaml and dvc.lock, each shipped line of ``lines`` as its
    base one), then the PR's (as its PR one) beside its model: two trees, the spec train writes."""
    sh("git", "init", "-q", "-b", "main", cwd=root)
    for name in ("params.yaml", "dvc.lock"):
        shutil.copy(REPO / name, root / name)
    for shipped, (base, _) in lines.items():
        set_param(root, shipped, base)
    commit_all(root, "base")
    for base, pr in lines.values():
        set_param(root, base, pr)
    params = load_params(root / "params.yaml")
    spec = base_spec(params.data.label, params.task, params.data.classes)
    model.save(tiny_booster(1), spec, root / "models")
    for split in (params.split.train, params.split.test):  # read before the base's model is obtained
        (root / split).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({params.data.label: ["0", "1"]}).to_parquet(root / split)
    commit_all(root, "pr")


@pytest.mark.parametrize(
    ("shipped", "base", "pr", "refusal"),
    [
        (
            "  classes: null ",
            '  classes: ["0", "1"] ',
            '  classes: ["1", "0"] ',
            "the positive class changed (base '1', PR '0': data.classes): the two models' scores and "
            "thresholds mean different things",
        ),
    ],
    ids=["positive-class"],
)
def test_a_pr_predicting_another_target_is_refused_before_the_bases_model_is_obtained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shipped: str, base: str, pr: str, refusal: str
) -> None:
    _pr_against_base(tmp_path, {shipped: (base, pr)})
    monkeypatch.chdir(tmp_path)
    params = load_params("params.yaml")
    with pytest.raises(UserError) as caught:
        run.build(params, Path("params.yaml").read_text(), tmp_path, "HEAD~1")
    assert str(caught.value) == refusal


def test_a_base_gate_the_prs_values_cannot_mend_is_refused_before_the_bases_model_is_obtained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The base's gate is judged on its params.yaml alone too (report.policy): a 150% rise of log
    loss is the PR's tolerance, not one of the base's pr_auc."""
    gate = {
        "  primary_metric: roc_auc ": ("  primary_metric: pr_auc ", "  primary_metric: log_loss "),
        "  max_regression: 0.005 ": ("  max_regression: 1.5 ", '  max_regression: "150%" '),
    }
    _pr_against_base(tmp_path, gate)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        UserError, match=r"^the base's gate: section is invalid:\n  - gate.max_regression: 150%"
    ):
        run.build(load_params("params.yaml"), Path("params.yaml").read_text(), tmp_path, "HEAD~1")


def test_a_base_whose_params_do_not_say_its_target_is_left_to_its_model() -> None:
    """An older base (no task:), a file that does not parse: nothing is refused on a guess."""
    assert target.of_params("data:\n  label: churned\n") is None
    assert target.of_params("task: binary\ntask: binary\n") is None
    assert target.of_params(None) is None
    shipped = target.of_params((REPO / "params.yaml").read_text())
    assert shipped == target.Target("binary", "churned", None)  # classes null: the labels' sorted values

from pathlib import Path

import pytest
import yaml

from mlapp.errors import ParamsError
from mlapp.params import load_params
from tests.conftest import REPO


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def one_line(raised: pytest.ExceptionInfo[ParamsError]) -> str:
    """A params error of one mistake is one line: the file, then the mistake (no list of one)."""
    text = str(raised.value)
    assert "\n" not in text and " is invalid: " in text, text
    return text.split(" is invalid: ", 1)[1]


def test_shipped_params_load() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.split.method in {"hash", "stratified", "time"}
    assert params.train.xgboost.tree_method == "hist"


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda p: p["train"]["xgboost"].update(max_dept=3))
    with pytest.raises(ParamsError, match="max_dept"):
        load_params(path)


def test_wrong_type_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda p: p["split"].update(test_size="a lot"))
    with pytest.raises(ParamsError, match="test_size"):
        load_params(path)


def test_out_of_range_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda p: p["split"].update(test_size=1.5))
    with pytest.raises(ParamsError, match="test_size"):
        load_params(path)


@pytest.mark.parametrize("value", [0, 2.5])
def test_a_dask_timeout_is_whole_seconds_never_zero(tmp_path: Path, value: float) -> None:
    """0 is XGBoost's tracker's "wait for ever", the hang train.dask.timeout_s bounds."""
    path = _write(tmp_path, lambda p: p["train"]["dask"].update(timeout_s=value))
    with pytest.raises(ParamsError, match="timeout_s"):
        load_params(path)


def test_a_dask_connect_timeout_is_positive(tmp_path: Path) -> None:
    """0 s would give a scheduler no time to answer the client's first connection."""
    path = _write(tmp_path, lambda p: p["train"]["dask"].update(connect_timeout_s=0))
    with pytest.raises(ParamsError, match="connect_timeout_s"):
        load_params(path)


def test_missing_file_says_where(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_gate_metric_must_belong_to_the_task(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda p: p.update(task="regression"))
    with pytest.raises(ParamsError, match="not a metric of task regression"):
        load_params(path)

    def regression(p: dict) -> None:
        p.update(task="regression")
        p["gate"].update(primary_metric="rmse", min_primary=5.0)
        p["monitor"]["decay_tolerance"] = {"rmse": 1.0}
        p["tune"].update(metric="r2")

    assert load_params(_write(tmp_path, regression)).task == "regression"


def test_a_new_task_names_every_metric_setting_to_change_at_once(tmp_path: Path) -> None:
    """Switching `task` to multiclass failed on gate.primary_metric, and after that was fixed, on
    monitor.decay_tolerance: one run per setting. Each is now a line of the one error."""
    with pytest.raises(ParamsError) as raised:
        load_params(_write(tmp_path, lambda p: p.update(task="multiclass")))
    lines = str(raised.value).splitlines()[1:]
    assert [line.split(":")[0] for line in lines] == [
        "  - gate.primary_metric",
        "  - monitor.decay_tolerance",
        "  - monitor.decay_tolerance",
        "  - tune.metric",
    ], lines
    assert all("is not a metric of task multiclass; choose one of ['accuracy'" in line for line in lines)


def test_a_tune_metric_of_another_task_is_named(tmp_path: Path) -> None:
    """`make tune` scores trials with tune.metric: roc_auc under task regression is the one line
    naming it, beside a fitting gate and decay metric."""

    def regression(p: dict) -> None:
        p.update(task="regression")
        p["gate"].update(primary_metric="rmse", min_primary=5.0)
        p["monitor"]["decay_tolerance"] = {"rmse": 1.0}

    with pytest.raises(ParamsError) as raised:
        load_params(_write(tmp_path, regression))
    assert one_line(raised) == (
        "tune.metric: 'roc_auc' is not a metric of task regression; "
        "choose one of ['rmse', 'mae', 'r2', 'rmsle']"
    )


def test_a_misspelt_metric_is_named_with_the_metrics_of_the_task(tmp_path: Path) -> None:
    """A name that is no metric at all (``rocauc``) listed every metric of every task, rmse and
    f1_macro for a binary model too: said now as another task's metric is, with the task's own."""

    def misspelt(p: dict) -> None:
        p["tune"]["metric"] = "rocauc"
        p["gate"]["primary_metric"] = "ROC_AUC"
        p["monitor"]["decay_tolerance"] = {"roc-auc": 0.05}

    with pytest.raises(ParamsError) as raised:
        load_params(_write(tmp_path, misspelt))
    binary = (
        "choose one of ['roc_auc', 'pr_auc', 'f1', 'precision', 'recall', 'accuracy', 'log_loss', 'brier']"
    )
    assert sorted(str(raised.value).splitlines()[1:]) == [
        f"  - gate.primary_metric: 'ROC_AUC' is not a metric of task binary; {binary}",
        f"  - monitor.decay_tolerance: 'roc-auc' is not a metric of task binary; {binary}",
        f"  - tune.metric: 'rocauc' is not a metric of task binary; {binary}",
    ]


def test_a_misspelt_metric_under_an_unknown_task_is_said_with_every_metric(tmp_path: Path) -> None:
    """Without a task to take the metrics from, both mistakes are named as they are."""

    def unknown(p: dict) -> None:
        p.update(task="ranking")
        p["tune"]["metric"] = "ndcg"

    with pytest.raises(ParamsError) as raised:
        load_params(_write(tmp_path, unknown))
    lines = str(raised.value).splitlines()[1:]
    assert [line.split(":")[0] for line in lines] == ["  - task", "  - tune.metric"], lines
    assert "tune.metric: 'ndcg': must be one of 'roc_auc', 'pr_auc', " in lines[1]


def test_binary_needs_two_declared_classes_and_the_id_is_optional(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="exactly two"):
        load_params(_write(tmp_path, lambda p: p["data"].update(classes=["a", "b", "c"])))
    assert load_params(_write(tmp_path, lambda p: p["data"].update(id_column=None))).data.id_column is None


def test_a_time_split_needs_a_time_column(tmp_path: Path) -> None:
    """Said when params.yaml is read (one `error:` line), not by a traceback in the split stage."""

    def no_time(p: dict) -> None:
        p["data"]["time_column"] = None
        p["split"]["method"] = "time"

    with pytest.raises(ParamsError, match=r"split\.method time needs data\.time_column"):
        load_params(_write(tmp_path, no_time))


def test_classes_may_be_written_as_numbers_and_true_false_must_be_quoted(tmp_path: Path) -> None:
    """The README's "class labels may be text or numbers" holds for data.classes too: [1, 0] is
    ["1", "0"]. YAML reads an unquoted true/false as yes/no values, which are not the labels' text;
    yes and no are text to YAML 1.2 (DVC's reader), so labels spelt so need no quotes."""
    numbers = load_params(_write(tmp_path, lambda p: p["data"].update(classes=[1, 0])))
    assert numbers.data.classes == ["1", "0"]
    path = tmp_path / "params.yaml"
    written = path.read_text()
    path.write_text(written.replace("- 1\n  - 0\n", "- no\n  - yes\n"))
    assert load_params(path).data.classes == ["no", "yes"]
    path.write_text(written.replace("- 1\n  - 0\n", "- False\n  - true\n"))
    with pytest.raises(ParamsError, match=r"quote them: \['false', 'true'\]"):
        load_params(path)


def test_a_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    """A mis-indented key is a ParamsError (the CLI's one `error:` line), not a YAML traceback."""
    path = tmp_path / "params.yaml"
    path.write_text(
        (REPO / "params.yaml").read_text().replace("  test_size: 0.2", "  test_size: 0.2\n test_sizes: 3")
    )
    line = next(n for n, text in enumerate(path.read_text().splitlines(), start=1) if "test_sizes" in text)
    with pytest.raises(ParamsError, match=rf"params.yaml is not valid YAML: (.|\n)*line {line}, column 2"):
        load_params(path)


def test_an_invalid_value_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    """Each mistake as `setting: value: what it must be`, without pydantic's internals (the
    whole params.yaml as input, links to its docs). One mistake is one line: it was a heading
    line and a list of one."""
    with pytest.raises(ParamsError) as raised:
        load_params(_write(tmp_path, lambda p: p["split"].update(test_size="a fifth")))
    assert str(raised.value) == (
        f"{tmp_path / 'params.yaml'} is invalid: split.test_size: 'a fifth': must be a number, more than 0 "
        "and less than 1"
    )
    with pytest.raises(ParamsError) as raised:
        load_params(_write(tmp_path, lambda p: p.update(task="regression")))
    assert str(raised.value).splitlines()[1:] == [
        f"  - {setting}: {metric!r} is not a metric of task regression; "
        "choose one of ['rmse', 'mae', 'r2', 'rmsle']"
        for setting, metric in [
            ("gate.primary_metric", "roc_auc"),
            ("monitor.decay_tolerance", "pr_auc"),  # yaml.safe_dump in _write sorts keys
            ("monitor.decay_tolerance", "roc_auc"),
            ("tune.metric", "roc_auc"),
        ]
    ]


def test_a_label_naming_several_columns_says_the_model_predicts_one(tmp_path: Path) -> None:
    """A multi-output table (several targets, as scikit-learn's linnerud has) written as a list
    of labels: one line saying to pick one, not pydantic's "Input should be a valid string"."""
    with pytest.raises(ParamsError) as raised:
        load_params(_write(tmp_path, lambda p: p["data"].update(label=["Weight", "Waist", "Pulse"])))
    assert one_line(raised) == (
        "data.label: ['Weight', 'Waist', 'Pulse']: the model predicts one column: pick one and "
        "list the others in data.ignore_columns"
    )


def _gate(task: str, metric: str, bound: float):
    """params.yaml switched to ``task`` with ``metric`` as the gate's and the monitor's, and
    ``bound`` as gate.min_primary."""

    def mutate(p: dict) -> None:
        p.update(task=task)
        p["gate"].update(primary_metric=metric, min_primary=bound)
        p["monitor"]["decay_tolerance"] = {metric: 0.05}
        p["tune"].update(metric=metric)
        if task != "binary":
            p["data"]["classes"] = None

    return mutate


MINIMUM = "the minimum {} the PR's model must reach"
MAXIMUM = "the maximum {} the PR's model may have (lower is better)"


@pytest.mark.parametrize(
    ("task", "metric", "bound", "role", "allowed"),
    [
        ("binary", "roc_auc", 75.0, MINIMUM, "from 0 to 1"),
        ("binary", "accuracy", -0.1, MINIMUM, "from 0 to 1"),
        ("binary", "brier", 1.5, MAXIMUM, "from 0 to 1"),
        ("binary", "log_loss", -0.2, MAXIMUM, "0 or more"),
        ("multiclass", "f1_macro", 2.0, MINIMUM, "from 0 to 1"),
        ("regression", "rmse", -1.0, MAXIMUM, "0 or more"),
        ("regression", "mae", -5.0, MAXIMUM, "0 or more"),
        ("regression", "r2", 1.2, MINIMUM, "at most 1"),
    ],
)
def test_a_gate_bound_the_metric_can_never_take_is_a_params_error(
    tmp_path: Path, task: str, metric: str, bound: float, role: str, allowed: str
) -> None:
    """A bound kept from another metric (0.75 for an rmse of house prices is plausible, 150000
    for accuracy is not) fails or passes every PR: refused when params.yaml is read, naming the
    setting, the metric, which side the bound is and the values it can take."""
    with pytest.raises(ParamsError) as refused:
        load_params(_write(tmp_path, _gate(task, metric, bound)))
    assert one_line(refused) == (
        f"gate.min_primary: {bound:g} is outside {metric}'s range ({allowed}): for "
        f"gate.primary_metric {metric} it is {role.format(metric)}, in {metric}'s units; "
        f"set a value {allowed}"
    )


@pytest.mark.parametrize(
    ("task", "metric", "bound"),
    [("binary", "roc_auc", 0.0), ("binary", "accuracy", 1.0), ("binary", "brier", 0.25),
     ("regression", "rmse", 0.75), ("regression", "rmse", 150000.0), ("regression", "r2", -0.5),
     ("multiclass", "log_loss", 3.0)],
)  # fmt: skip
def test_a_gate_bound_the_metric_can_take_loads(tmp_path: Path, task: str, metric: str, bound: float) -> None:
    """The range's own ends and any value between load: an rmse ceiling of 0.75 may be right for a
    label in small units, so it is not refused (the gate's reason says it is a ceiling, in rmse's units)."""
    assert load_params(_write(tmp_path, _gate(task, metric, bound))).gate.min_primary == bound

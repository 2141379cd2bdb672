"""params.yaml edits that used to load and then fail mid-run (a traceback after validate, split or
some tuning trials): each is now one params error naming the setting, before any work is done."""

from collections.abc import Callable
from pathlib import Path

import pytest

from mlapp.errors import ParamsError
from mlapp.params import load_params
from mlapp.stages import validate
from mlapp.stages.table_checks import check_null_overrides
from tests.conftest import REPO
from tests.pipeline.task_tables import table
from tests.pipeline.test_params import _write


def _setting(section: str, key: str, value: object) -> Callable[[dict], None]:
    """A change of params.yaml: ``section`` (dotted) ``key`` set to ``value``."""

    def mutate(raw: dict) -> None:
        part = raw
        for name in section.split("."):
            part = part[name]
        part[key] = value

    return mutate


PARAMS = load_params(REPO / "params.yaml")


@pytest.mark.parametrize(
    ("name", "bounds", "says"),
    [
        # a trial drawing these stopped the search with XGBoost's error, after the trials before it
        ("subsample", [0.5, 1.5], "must be more than 0 and at most 1"),
        ("colsample_bytree", [0, 1], "must be more than 0 and at most 1"),
        ("reg_lambda", [-1, 10], "must be at least 0"),
        # Optuna cannot put 0 on a log scale: the search stopped with a traceback
        ("learning_rate", [0, 0.3], "must be more than 0"),
        ("min_child_weight", [0, 10], "log scale"),
        ("reg_lambda", [0, 10], "log scale"),
        # a best trial of 0 was written into params.yaml, which then refused it
        ("max_depth", [0, 8], "must be from 1 to 2147483647"),
        ("max_depth", [0.5, 8], "must be from 1 to"),  # drawn as whole numbers from int(0.5) = 0
        ("n_estimators", [0, 100], "must be more than 0"),
        # XGBoost's ints are C ints: a range past them loaded, a trial drawing one stopped the search
        (
            "n_estimators",
            [100, 1e40],
            r"1e\+40, which train\.xgboost\.n_estimators refuses \(1e\+40: must be "
            r"more than 0 and at most 2147483647\)",
        ),
        ("max_depth", [3, 2**31], r"reaches 2147483648, .* from 1 to 2147483647"),
    ],
)
def test_a_tune_range_train_would_refuse_is_a_params_error(
    tmp_path: Path, name: str, bounds: list[float], says: str
) -> None:
    path = _write(tmp_path, lambda p: p["tune"].update(space={name: bounds}))
    with pytest.raises(ParamsError, match=rf"tune\.space\.{name}: \[.*\] .*{says}"):
        load_params(path)


def test_every_bad_tune_range_is_named_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda p: p["tune"].update(space={"subsample": [0.5, 1.5], "reg_lambda": [0, 1]}))
    with pytest.raises(ParamsError) as raised:
        load_params(path)
    assert "tune.space.subsample" in str(raised.value)
    assert "tune.space.reg_lambda" in str(raised.value)


def test_tune_ranges_at_the_edges_of_what_train_accepts_load(tmp_path: Path) -> None:
    space = {"subsample": [0.5, 1.0], "reg_lambda": [0.001, 10], "max_depth": [1, 8], "n_estimators": [1, 50]}
    assert load_params(_write(tmp_path, lambda p: p["tune"].update(space=space))).tune.space


def test_the_exact_tree_method_is_refused_with_what_it_cannot_train(tmp_path: Path) -> None:
    """XGBoost's exact method trains no categorical feature: the shipped schema has several, and the
    train stage stopped with XGBoost's traceback after validate and split had run."""
    path = _write(tmp_path, lambda p: p["train"]["xgboost"].update(tree_method="exact"))
    with pytest.raises(
        ParamsError, match=r"train\.xgboost\.tree_method: exact trains no categorical feature"
    ):
        load_params(path)
    assert load_params(_write(tmp_path, lambda p: p["train"]["xgboost"].update(tree_method="approx")))


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("train", "model_dir"),  # '' is the repository root: DVC stopped with "unexpected error"
        ("mlflow", "experiment"),  # MLflow refused it at evaluate, after train had run
        ("data", "raw"),
        ("data", "id_column"),  # may be null, not ''
        ("data", "csv_separator"),
        ("data", "decimal"),
    ],
)
def test_an_empty_value_is_a_params_error_naming_the_setting(tmp_path: Path, section: str, key: str) -> None:
    path = _write(tmp_path, lambda p: p[section].update({key: ""}))
    with pytest.raises(ParamsError, match=rf"{section}\.{key}: empty \(''\): give it a value"):
        load_params(path)


def test_a_tab_separator_is_not_empty(tmp_path: Path) -> None:
    assert (
        load_params(_write(tmp_path, lambda p: p["data"].update(csv_separator="\t"))).data.csv_separator
        == "\t"
    )


@pytest.mark.parametrize("name", ["satisfaction_scor", "churned"])  # a typo; the label (data.missing_label)
def test_a_null_share_override_of_no_checked_column_stops_validate_before_it_reads(
    tmp_path: Path, name: str
) -> None:
    """It was silently unused: the column it meant stayed under validate.max_null_share."""
    source = tmp_path / "table.csv"
    table("binary", 200).to_csv(source, index=False)
    settings = PARAMS.validate_.model_copy(update={"max_null_share_by_column": {name: 0.8}})
    params = PARAMS.model_copy(update={"validate_": settings})
    output, report = tmp_path / "validated.parquet", tmp_path / "validation.json"
    with pytest.raises(ParamsError, match=rf"validate\.max_null_share_by_column names \['{name}'\]"):
        validate.run(params, source=source, output=output, report=report)
    assert not output.exists() and not report.exists()
    right = PARAMS.validate_.model_copy(update={"max_null_share_by_column": {"satisfaction_score": 0.8}})
    assert (
        validate.run(PARAMS.model_copy(update={"validate_": right}), source=source, output=None, report=None)
        == 0
    )


def test_a_null_share_override_of_an_unset_group_column_names_the_setting() -> None:
    """A household column, data.group_column left null: the message named the id and time settings
    only, not the one whose column it is."""
    settings = PARAMS.validate_.model_copy(update={"max_null_share_by_column": {"household": 0.8}})
    with pytest.raises(ParamsError) as raised:
        check_null_overrides(PARAMS.model_copy(update={"validate_": settings}))
    said = str(raised.value)
    assert "nor the column of data.id_column ('customer_id'), data.time_column ('event_time') or " in said
    assert "data.group_column (null)" in said and "set the data setting whose column it is" in said
    grouped = PARAMS.data.model_copy(update={"group_column": "household"})
    check_null_overrides(PARAMS.model_copy(update={"validate_": settings, "data": grouped}))  # checked


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("train.xgboost", "learning_rate", float("inf")),  # trained one tree, threshold 1.0, exited 0
        ("monitor", "psi", float("inf")),  # was said as "severe_psi 0.5 is below psi inf"
        ("tune", "timeout_s", float("inf")),
        ("tune", "space", {"learning_rate": [0.01, float("inf")]}),
    ],
)
def test_an_infinite_number_is_a_params_error(tmp_path: Path, section: str, key: str, value: object) -> None:
    mutate = _setting(section, key, value)

    with pytest.raises(ParamsError, match=rf"{section}\.{key}(\.\w+\[1\])?: \.inf: must be "):
        load_params(_write(tmp_path, mutate))


@pytest.mark.parametrize(
    ("section", "key", "value", "says"),
    [
        ("validate", "max_null_share_by_column", {"satisfaction_score": 1.5}, "1.5: must be from 0 to 1"),
        ("validate", "max_null_share_by_column", {"satisfaction_score": -0.5}, "-0.5: must be from 0 to 1"),
        ("monitor", "psi_by_feature", {"discount_pct": 0}, "0: must be more than 0"),
    ],
)
def test_a_per_column_override_is_held_to_the_setting_it_overrides(
    tmp_path: Path, section: str, key: str, value: dict, says: str
) -> None:
    """max_null_share is a share from 0 to 1 and psi above 0: so are their per-column overrides."""
    path = _write(tmp_path, lambda p: p[section].update({key: value}))
    with pytest.raises(ParamsError, match=rf"{section}\.{key}\.\w+: {says}"):
        load_params(path)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("train.xgboost", "subsample", True),  # read as 1.0: trained on every row, said nowhere
        ("train.xgboost", "n_estimators", True),  # read as 1: one tree
        ("split", "test_size", False),  # was "Input should be greater than 0 (got False)"
        ("serving", "workers", True),
    ],
)
def test_a_yes_no_where_a_number_goes_is_a_params_error(
    tmp_path: Path, section: str, key: str, value: bool
) -> None:
    mutate = _setting(section, key, value)

    with pytest.raises(
        ParamsError, match=rf"{section}\.{key}: {str(value).lower()} is a yes/no, not the number"
    ):
        load_params(_write(tmp_path, mutate))


def test_a_yes_no_setting_still_takes_one(tmp_path: Path) -> None:
    params = load_params(_write(tmp_path, lambda p: p["gate"].update(require_significant=False)))
    assert params.gate.require_significant is False


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("train", "seed", -1),  # train stopped with numpy's traceback, after validate and split
        ("tune", "seed", -1),  # the search stopped with Optuna's
        ("report", "bootstrap_seed", -5),
        ("sample_data", "seed", 2**32),
    ],
)
def test_a_seed_numpy_refuses_is_a_params_error(tmp_path: Path, section: str, key: str, value: int) -> None:
    path = _write(tmp_path, lambda p: p[section].update({key: value}))
    with pytest.raises(ParamsError, match=rf"{section}\.{key}: {value}: must be from 0 to 4294967295$"):
        load_params(path)


@pytest.mark.parametrize("name", ["team/churn", "churn:v2", "  ", 'it\'s "x"', ".", "..churn"])
def test_a_model_name_mlflow_cannot_register_or_search_is_a_params_error(tmp_path: Path, name: str) -> None:
    """MLflow refused these after the run was logged, or could not search for them (a traceback)."""
    path = _write(tmp_path, lambda p: p["mlflow"].update(model_name=name))
    with pytest.raises(ParamsError, match=r"mlflow\.model_name: .*MLflow needs a name"):
        load_params(path)


def test_a_model_name_too_long_says_its_length_and_the_limit(tmp_path: Path) -> None:
    """A PostgreSQL-backed server refuses a 257-character name (its column) after the run is
    logged; before, the params error gave the limit but not how far over the name is."""
    too_long = _write(tmp_path, lambda p: p["mlflow"].update(model_name="c" * 300))
    with pytest.raises(
        ParamsError, match=r"mlflow\.model_name: 'c{40}'… is 300 characters, the server allows at most 256 "
    ):
        load_params(too_long)
    longest = _write(tmp_path, lambda p: p["mlflow"].update(model_name="c" * 256))
    assert load_params(longest).mlflow.model_name == "c" * 256


@pytest.mark.parametrize("value", [5, 1.5])
def test_a_learning_rate_above_one_is_a_params_error(tmp_path: Path, value: float) -> None:
    """XGBoost takes any step size: 5 (meant as 0.05 or 5%) trained one tree and exited 0."""
    path = _write(tmp_path, lambda p: p["train"]["xgboost"].update(learning_rate=value))
    with pytest.raises(
        ParamsError, match=rf"train\.xgboost\.learning_rate: {value}: must be more than 0 and at most 1$"
    ):
        load_params(path)
    assert load_params(_write(tmp_path, lambda p: p["train"]["xgboost"].update(learning_rate=1))).task


@pytest.mark.parametrize(
    ("setting", "column", "other"),
    [("id_column", "churned", "label"), ("time_column", "churned", "label"),
     ("time_column", "customer_id", "id_column")],
)  # fmt: skip
def test_a_column_in_two_parts_is_a_params_error(
    tmp_path: Path, setting: str, column: str, other: str
) -> None:
    """`id_column: churned` failed validate with "values are unique" on the label's 0s and 1s."""
    path = _write(tmp_path, lambda p: p["data"].update({setting: column}))
    with pytest.raises(
        ParamsError, match=rf"data\.{setting} '{column}' is also data\.{other}: a column plays one"
    ):
        load_params(path)


@pytest.mark.parametrize(
    ("section", "key"),
    [("data", "id_column"), ("data", "time_column"), ("train.dask", "scheduler"), ("monitor", "source"),
     ("delivery.argocd", "repo_url"), ("monitor", "severe_psi")],
)  # fmt: skip
@pytest.mark.parametrize("spelt", ["None", "none"])
def test_python_s_none_where_null_goes_is_a_params_error(
    tmp_path: Path, section: str, key: str, spelt: str
) -> None:
    """YAML reads None as text: `id_column: None` looked for a column named None, `scheduler: None`
    dialled a host "None", `repo_url: None` became Argo CD's git URL."""

    mutate = _setting(section, key, spelt)

    with pytest.raises(
        ParamsError, match=rf"{section}\.{key}: '{spelt}' is text to YAML, not its null .*: write null"
    ):
        load_params(_write(tmp_path, mutate))


def test_a_label_spelt_none_is_still_a_name(tmp_path: Path) -> None:
    """Only a setting that may be null refuses None: a label must name a column, whatever its name."""
    assert load_params(_write(tmp_path, lambda p: p["data"].update(label="None"))).data.label == "None"

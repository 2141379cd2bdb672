"""A setting's allowed values are said one way: by params.yaml's errors and by the CLI options that
override the setting. pydantic said "Input should be greater than 0" where `--timeout` said "must
be more than 0 and at most 21600 (the range of delivery.sync_timeout_s)"; `--chunk-rows 1e3` was
refused while `score_chunk_rows: 1e3` loaded."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, get_args

import click
import pytest
import yaml
from pydantic import BaseModel

from mlapp.cli import EXIT_ERROR, cli
from mlapp.errors import ParamsError
from mlapp.params import Params, load_params
from mlapp.params_words import PATTERNS
from tests.conftest import REPO, run_main


def _overriding(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[tuple[str, click.Option]]:
    """Every option overriding a params setting (``seconds_of``, ``count_of``), with its command."""
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _overriding(command, (*path, name))
        for param in command.params:
            if isinstance(param, click.Option) and hasattr(param.type, "setting"):
                found.append((" ".join((*path, name, param.opts[0])), param))
    return found


OVERRIDING = _overriding()


def _params_with(tmp_path: Path, setting: str, value: Any) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    *sections, key = setting.split(".")
    node = raw
    for section in sections:
        node = node[section]
    node[key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _option_says(option: click.Option, value: str) -> str:
    with pytest.raises(click.BadParameter) as refused:
        option.type.convert(value, option, None)
    return refused.value.message


def _file_says(tmp_path: Path, setting: str, value: Any) -> str:
    with pytest.raises(ParamsError) as refused:
        load_params(_params_with(tmp_path, setting, value))
    text = str(refused.value)
    assert "\n" not in text, text
    return text.split(" is invalid: ", 1)[1]


def test_every_option_overriding_a_setting_is_found() -> None:
    assert {option.type.setting for _, option in OVERRIDING} >= {
        "delivery.sync_timeout_s", "image.ready_timeout_s", "tune.timeout_s", "tune.trials",
        "serving.score_chunk_rows", "sample_data.rows", "sample_data.seed",
        "serving.port", "serving.probe_port",
    }  # fmt: skip


@pytest.mark.parametrize(("where", "option"), OVERRIDING, ids=[where for where, _ in OVERRIDING])
def test_an_option_and_the_file_refuse_a_value_in_the_same_words(
    tmp_path: Path, where: str, option: click.Option
) -> None:
    """-1 is below every such range: the option says `-1: must be <range> (the range of <setting>)`,
    params.yaml `<setting>: -1: must be <range>`."""
    setting = option.type.setting
    option_says = _option_says(option, "-1")
    assert option_says.startswith("-1: must be ") and option_says.endswith(f" (the range of {setting})")
    assert (
        _file_says(tmp_path, setting, -1)
        == f"{setting}: {option_says.removesuffix(f' (the range of {setting})')}"
    )


@pytest.mark.parametrize("setting", ["serving.score_chunk_rows", "sample_data.rows", "tune.trials"])
def test_a_whole_number_option_and_the_file_agree_on_floats(tmp_path: Path, setting: str) -> None:
    """YAML reads `1e3` as the float 1000.0 and params.yaml took it as 1000: so does the option now
    (it was "'1e3' is not a valid integer"); 1.5 is refused by both, in the same words."""
    option = next(option for _, option in OVERRIDING if option.type.setting == setting)
    assert option.type.convert("1e3", option, None) == option.type.convert("1000.0", option, None) == 1000
    *sections, key = setting.split(".")
    loaded: Any = load_params(_params_with(tmp_path, setting, 1e3))
    for name in (*sections, key):
        loaded = getattr(loaded, name)
    assert loaded == 1000 and isinstance(loaded, int)
    option_says = _option_says(option, "1.5")
    assert option_says == f"1.5: must be a whole number, {option_says.split(', ', 1)[1]}"
    assert (
        _file_says(tmp_path, setting, 1.5)
        == f"{setting}: {option_says.removesuffix(f' (the range of {setting})')}"
    )


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400"])
def test_a_timeout_that_is_no_finite_number_is_said_with_its_range(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Was "1e400 is not a number of seconds": 1e400 is one, too large (float reads it as inf)."""
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert run_main(monkeypatch, "delivery", "wait", "--env", "staging", "--timeout", value) == EXIT_ERROR
    err = capsys.readouterr().err
    said = (
        f"'--timeout': {value}: must be more than 0 and at most 21600 (the range of delivery.sync_timeout_s)"
    )
    assert said in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("split.test_size", 1.5, "split.test_size: 1.5: must be more than 0 and less than 1"),
        ("train.xgboost.max_depth", 0, "train.xgboost.max_depth: 0: must be from 1 to 2147483647"),
        ("split.method", "hashh", "split.method: 'hashh': must be one of 'hash', 'stratified', 'time': "
         "did you mean 'hash'?"),
        ("delivery.sync_timeout_s", "abc", "delivery.sync_timeout_s: 'abc': must be a whole number, more "
         "than 0 and at most 21600"),
        ("delivery.sync_timout_s", 900, "delivery.sync_timout_s: not a setting of delivery: did you mean "
         "delivery.sync_timeout_s?"),
        ("tune.space.max_depth", ["a", 8], "tune.space.max_depth[0]: 'a': must be a number"),
        ("tune.space.max_dept", [3, 8], "tune.space: 'max_dept': must be one of 'n_estimators', "
         "'max_depth', "),
    ],
)  # fmt: skip
def test_a_refused_setting_is_said_with_its_value_and_what_it_takes(
    tmp_path: Path, setting: str, value: Any, said: str
) -> None:
    """pydantic's words were "Input should be greater than 0", "Extra inputs are not permitted"
    and "tune.space.max_dept.[key]": no range, no setting meant, a location for a name."""
    assert _file_says(tmp_path, setting, value).startswith(said)


@pytest.mark.parametrize("setting", ["split.test_size", "train"])
def test_a_missing_setting_says_to_add_it(tmp_path: Path, setting: str) -> None:
    """pydantic's words were "split.test_size: Field required": not what to do about it."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    *sections, key = setting.split(".")
    node = raw
    for section in sections:
        node = node[section]
    del node[key]
    (path := tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError) as refused:
        load_params(path)
    assert f"{setting}: missing: add it (the template's params.yaml holds every setting" in str(refused.value)
    assert "Field required" not in str(refused.value)


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        # a section's lines commented out leave `serving:`, which YAML reads as null
        ("serving", None, "serving: null (or nothing after the colon): must be a section: its settings"),
        ("serving", 3000, "serving: 3000: must be a section: its settings"),
        ("monitor.decay_tolerance", [0.05], "monitor.decay_tolerance: [0.05]: must be a mapping"),
        ("data.ignore_columns", "notes", "data.ignore_columns: 'notes': must be a list"),
    ],
)
def test_a_setting_of_the_wrong_shape_says_what_it_takes(
    tmp_path: Path, setting: str, value: Any, said: str
) -> None:
    """pydantic's words were "Input should be a valid dictionary or instance of ServingParams"."""
    text = _file_says(tmp_path, setting, value)
    assert text.startswith(said), text
    assert "Input should be" not in text and "Params" not in text, text


def test_help_says_the_range_as_a_refusal_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--help said [0<x<=21600]: a third wording of the range."""
    monkeypatch.chdir(tmp_path)
    assert run_main(monkeypatch, "delivery", "wait", "--help") == 0
    assert "--timeout SECONDS" in (out := " ".join(capsys.readouterr().out.split()))
    assert "[more than 0 and at most 21600]" in out


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("data.label", 3, 'data.label: 3: must be text: quote it, "3", if that is the text meant'),
        ("mlflow.model_name", ["a"], "mlflow.model_name: ['a']: must be text, one value: not a list"),
        ("mlflow.experiment", {"a": 1}, "mlflow.experiment: {'a': 1}: must be text, one value on the "
         "setting's own line: not settings indented under it"),
        ("delivery.kubernetes_version", 1.32, 'delivery.kubernetes_version: 1.32: must be text: quote it, '
         '"1.32"'),
        ("data.raw", 5, 'data.raw: 5: must be a path (text): quote it, "5"'),
        ("data.id_column", datetime.date(2024, 1, 1), "data.id_column: 2024-01-01: must be text: YAML "
         'reads it as a date: quote it, "2024-01-01"'),
        ("data.ignore_columns", [7], 'data.ignore_columns[0]: 7: must be text: quote it, "7"'),
        ("image.name", None, "image.name: null (or nothing after the colon): must be text: write the text"),
        # a union: one error a member was two lines, serving.workers.literal['auto'] in pydantic's words
        ("serving.workers", "many", "serving.workers: 'many': must be a whole number or 'auto'"),
        ("gate.max_regression", [1], "gate.max_regression: [1]: must be a number or a share such as '2%'"),
        ("gate.require_significant", None, "gate.require_significant: null (or nothing after the colon): "
         "must be true or false"),
        ("delivery.environments", [], "delivery.environments: []: must hold at least 1 entry"),
        ("delivery.argocd.install_sha256", "abc", "delivery.argocd.install_sha256: 'abc': must be a "
         "sha256: 64 lower-case hex digits"),
        ("serving.bento_name", "Churn", "serving.bento_name: 'Churn': must be lower-case letters"),
        ("tune.space.max_depth", 3, "tune.space.max_depth: 3: must be a pair: [low, high]"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_kind_is_said_with_what_to_write(
    tmp_path: Path, setting: str, value: Any, said: str
) -> None:
    """pydantic's words were "Input should be a valid string", "Input is not a valid path for
    <class 'pathlib.Path'>", "String should match pattern '^[0-9a-f]{64}$'"."""
    text = _file_says(tmp_path, setting, value)
    assert text.startswith(said), text
    assert "Input " not in text and "should" not in text and "pattern" not in text, text


def _patterns(model: type[BaseModel]) -> set[str]:
    found = set()
    for field in model.model_fields.values():
        found |= {m.pattern for m in field.metadata if getattr(m, "pattern", None)}
        found |= {p for a in (field.annotation, *get_args(field.annotation)) if isinstance(a, type)
                  and issubclass(a, BaseModel) for p in _patterns(a)}  # fmt: skip
    return found


def test_every_pattern_a_setting_declares_is_said_in_words() -> None:
    declared = _patterns(Params)
    assert len(declared) >= 5 and declared <= set(PATTERNS), declared - set(PATTERNS)

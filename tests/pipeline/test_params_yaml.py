"""params.yaml as a hand edit leaves it: what YAML itself would read past is refused, naming the
setting, where it is and the fix, before any command does work."""

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlapp.cli import EXIT_ERROR
from mlapp.errors import ParamsError
from mlapp.params import load_params, read_params_text
from tests.conftest import REPO, run_main

SHIPPED = (REPO / "params.yaml").read_text()


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    assert old in SHIPPED, old
    path = tmp_path / "params.yaml"
    path.write_text(SHIPPED.replace(old, new, 1))
    return path


def _line(path: Path, text: str, nth: int = 0) -> int:
    return [n for n, line in enumerate(path.read_text().splitlines(), start=1) if line.startswith(text)][nth]


def test_a_key_written_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    """PyYAML keeps the last of two: `max_depth: 3` added below `max_depth: 5` trained depth 3,
    and the `mlapp` commands said nothing. The message says what DVC does with the file: its
    reader refuses it (the message once said YAML keeps the last, which DVC's does not)."""
    from dvc.utils.serialize import YAMLFileCorruptedError, parse_yaml

    path = _edited(tmp_path, "    max_depth: 5\n", "    max_depth: 5\n    max_depth: 3\n")
    with pytest.raises(ParamsError) as raised:
        load_params(path)
    first, second = _line(path, "    max_depth:"), _line(path, "    max_depth:", 1)
    assert str(raised.value) == (
        f"{path}: train.xgboost.max_depth is written twice, on line {first} (5) and line {second} (3); "
        "DVC refuses such a file (its repro and status stop: found duplicate key): delete the one you do "
        "not mean"
    )
    with pytest.raises(YAMLFileCorruptedError) as refused:  # what `dvc repro` and `dvc status` read it with
        parse_yaml(path.read_text(), str(path))
    assert "found duplicate key" in str(refused.value.__cause__)


def test_a_section_written_twice_is_refused(tmp_path: Path) -> None:
    """A second `split:` pasted at the end replaced the whole first one, every setting of it."""
    path = tmp_path / "params.yaml"
    path.write_text(SHIPPED + "\nsplit:\n  method: hash\n")
    with pytest.raises(ParamsError, match=r"split is written twice, on line \d+ \(a section\) and line \d+ "):
        load_params(path)


def test_a_key_twice_in_a_flow_mapping_is_refused(tmp_path: Path) -> None:
    path = _edited(tmp_path, "psi_by_feature: {}", "psi_by_feature: {tenure_months: 0.3, tenure_months: 0.4}")
    with pytest.raises(ParamsError, match=r"monitor\.psi_by_feature\.tenure_months is written twice"):
        load_params(path)


def test_a_merge_key_still_overrides(tmp_path: Path) -> None:
    """`<<: *anchor` then a key of the anchor's is YAML's override by design, not a key twice."""
    path = _edited(tmp_path, "\n  dask:", "\n  dask: &dask")
    path.write_text(path.read_text() + "\nx: {<<: *dask, workers: 3}\n")
    # read (the merge is no key twice), then refused as an unknown setting
    with pytest.raises(ParamsError, match=r"x: not a setting of params\.yaml \(its settings: task, data, "):
        load_params(path)


def test_a_command_stops_on_a_key_twice_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _edited(tmp_path, "  min_rows: 100 ", "  min_rows: 100\n  min_rows: 1 ")
    out = tmp_path / "validated.parquet"
    argv = ["pipeline", "validate", "--output", str(out), "--report", f"{out}.json"]
    assert run_main(monkeypatch, "--params", str(path), *argv) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "validate.min_rows is written twice" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    ("text", "held"),
    [("", "nothing (empty, or only comments)"), ("# to fill in\n", "nothing (empty, or only comments)"),
     ("- task\n- data\n", "['task', 'data'] where settings go")],
)  # fmt: skip
def test_a_file_without_settings_says_so_and_how_to_restore_it(tmp_path: Path, text: str, held: str) -> None:
    """An emptied file was "Input should be a valid dictionary or instance of Params (got None)"."""
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError) as raised:
        load_params(path)
    assert str(raised.value) == (
        f"{path} holds {held}, not its settings (`name: value` lines: task, data, train, ...): "
        f"restore the committed file with `git checkout -- {path}`"
    )


def test_a_file_that_is_not_utf8_says_which_line_and_how_to_mend_it(tmp_path: Path) -> None:
    """A Latin-1 label (churn\xe9) stopped every command with Python's UnicodeDecodeError traceback."""
    path = tmp_path / "params.yaml"
    path.write_bytes(SHIPPED.replace("label: churned", "label: churn\xe9").encode("latin-1"))
    with pytest.raises(ParamsError) as raised:
        load_params(path)
    line = next(n for n, text in enumerate(SHIPPED.splitlines(), start=1) if text.startswith("  label:"))
    assert str(raised.value).startswith(f"{path} is not UTF-8 text (line {line} holds the byte 0xe9)")
    assert "save it as UTF-8" in str(raised.value)


@pytest.mark.parametrize(
    ("old", "new"), [("  label: churned", "\tlabel: churned"), ("label: churned", "label:\tchurned")]
)
def test_a_tab_says_to_write_spaces(tmp_path: Path, old: str, new: str) -> None:
    """PyYAML's words name the tab and its line, not what to write instead."""
    with pytest.raises(ParamsError) as raised:
        load_params(_edited(tmp_path, old, new))
    assert "found character '\\t'" in str(raised.value)
    assert str(raised.value).endswith("\nwrite spaces there, not a tab")


DEPTH, DEPTHS = "train.xgboost.max_depth", "from 1 to 2147483647"


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        # the list was left out of the message, null was Python's "None"
        ("max_depth: 5\n", "max_depth: [5, 6]\n", f"{DEPTH}: [5, 6]: must be a whole number, {DEPTHS}"),
        ("max_depth: 5\n", "max_depth:\n",
         f"{DEPTH}: null (or nothing after the colon): must be a whole number, {DEPTHS}"),
        # a date-like column name was "got datetime.date(2024, 1, 1)", Python's words and no fix
        ("ignore_columns: []", "ignore_columns: [2024-01-01]",
         'data.ignore_columns[0]: 2024-01-01: must be text: YAML reads it as a date: quote it, "2024-01-01"'),
        ("max_depth: 5\n", "max_depth: .inf\n", f"{DEPTH}: .inf: must be {DEPTHS}"),
        # was "data: data.id_column ...": a section's own check names its settings
        ("id_column: customer_id", "id_column: churned", "data.id_column 'churned' is also data.label: "),
    ],
)  # fmt: skip
def test_a_refused_value_is_said_as_the_file_spells_it(tmp_path: Path, old: str, new: str, said: str) -> None:
    with pytest.raises(ParamsError) as raised:
        load_params(_edited(tmp_path, old, new))
    assert str(raised.value).startswith(f"{tmp_path / 'params.yaml'} is invalid: {said}")


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("timeout_s: 600 ", 'timeout_s: "600" ', "train.dask.timeout_s: '600' is quoted"),
        ("test_size: 0.2", "test_size: '0.2'", "split.test_size: '0.2' is quoted"),
        ("workers: auto ", 'workers: "2" ', "serving.workers: '2' is quoted"),  # a number, or auto
        ("max_null_share_by_column: {}", 'max_null_share_by_column: {satisfaction_score: "0.8"}',
         "validate.max_null_share_by_column: '0.8' is quoted"),
        ("max_depth: [3, 8]", 'max_depth: ["3", 8]', "tune.space: '3' is quoted"),
    ],
)  # fmt: skip
def test_a_quoted_number_where_a_number_goes_says_to_unquote_it(
    tmp_path: Path, old: str, new: str, said: str
) -> None:
    """pydantic read "600" as 600: a second spelling of each number, text to `dvc params diff`."""
    with pytest.raises(ParamsError) as raised:
        load_params(_edited(tmp_path, old, new))
    number = said.split("'")[1]
    assert str(raised.value).endswith(f"is invalid: {said}, so text to YAML: write {number} without quotes")


def test_quoted_text_that_looks_like_a_number_still_loads(tmp_path: Path) -> None:
    """A setting that takes text takes it quoted: classes "0" and "1", a tolerance (or "2%")."""
    path = _edited(tmp_path, "classes: null", 'classes: ["0", "1"]')
    path.write_text(path.read_text().replace("max_regression: 0.005 ", 'max_regression: "0.005" '))
    params = load_params(path)
    assert (params.data.classes, params.gate.max_regression) == (["0", "1"], 0.005)
    assert params.delivery.kubernetes_version == "1.32"  # shipped quoted: a version, not 1.32


@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_quoted_none_is_a_column_named_none(tmp_path: Path, quote: str) -> None:
    """YAML reads None and "None" alike (text); only the quotes say a name is meant."""
    path = _edited(tmp_path, "id_column: customer_id", f"id_column: {quote}None{quote}")
    assert load_params(path).data.id_column == "None"
    bare = _edited(tmp_path, "id_column: customer_id", "id_column: None")
    with pytest.raises(ParamsError, match=r"data\.id_column: 'None' is text to YAML, not its null"):
        load_params(bare)


def test_a_quoted_none_where_no_text_goes_still_says_null(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match=r"monitor\.severe_psi: 'None' is text to YAML, not its null"):
        load_params(_edited(tmp_path, "severe_psi: 0.5 ", 'severe_psi: "None" '))


@pytest.mark.parametrize(
    ("old", "setting", "bound"),
    [
        ("timeout_s: 600 ", "train.dask.timeout_s", 86400),
        ("connect_timeout_s: 60 ", "train.dask.connect_timeout_s", 3600),
        ("  timeout_s: 900 ", "tune.timeout_s", 604800),
        ("sync_timeout_s: 900 ", "delivery.sync_timeout_s", 21600),
        ("ready_timeout_s: 120 ", "image.ready_timeout_s", 3600),
        ("  timeout_s: 30 ", "serving.timeout_s", 3600),
        ("body_timeout_s: 10 ", "serving.body_timeout_s", 3600),
    ],
)
def test_a_time_in_seconds_past_its_bound_is_a_params_error(
    tmp_path: Path, old: str, setting: str, bound: int
) -> None:
    """1e9 s (31 years) was taken: a typo, and a wait nothing would ever end."""
    key = old.split(":")[0]
    with pytest.raises(ParamsError) as raised:
        load_params(_edited(tmp_path, old, f"{key}: 1000000000 "))
    # the range as `--timeout` says it: "more than 0 and at most 3600", "from 1 to 86400"
    assert re.search(
        rf"{setting}: 1000000000: must be (more than 0 and at most|from 1 to) {bound}$", str(raised.value)
    )
    assert load_params(_edited(tmp_path, old, f"{key}: {bound} "))


def test_a_poll_longer_than_the_wait_is_refused_naming_both(tmp_path: Path) -> None:
    """poll_s 1000 with sync_timeout_s 900 loaded: `delivery wait` asked once, then gave up."""
    with pytest.raises(ParamsError) as raised:
        load_params(_edited(tmp_path, "poll_s: 10 ", "poll_s: 1000 "))
    assert str(raised.value).endswith(
        "is invalid: delivery.poll_s 1000 is more than delivery.sync_timeout_s 900: the wait would ask "
        "the service once; set poll_s to at most 900"
    )
    assert load_params(_edited(tmp_path, "poll_s: 10 ", "poll_s: 900 ")).delivery.poll_s == 900


@pytest.mark.parametrize(
    ("spelt", "number"),
    [
        *((spelt, 1000) for spelt in ("1e3", "1E3", "1.0e3", "+1e3", "10e2")),
        *((spelt, 12) for spelt in ("0012", "012", "+0012", "0_012", "0o14", "0xC", "0b1100")),
        # A whole float where a whole number goes is that number: DVC reads 06.0 as 6.0 and takes
        # 6 -> 06.0 as no change (`dvc params diff` lists nothing, `dvc status` is up to date);
        # 6.5 is refused ("a fractional part", below).
        *((spelt, 6) for spelt in ("6.0", "06.0", "6.", "6e0")),
    ],
)
def test_a_number_is_the_number_dvc_reads(tmp_path: Path, spelt: str, number: int) -> None:
    """YAML 1.1 (PyYAML) and YAML 1.2 (DVC's reader) disagreed: PyYAML read 1e3 as text (it wants a
    dot and a signed exponent), refused with "unable to parse string as an integer" while `dvc params
    diff` showed 1000.0; and 0012 as octal, 10: mlapp trained 10 trees while DVC showed 12."""
    from dvc.utils.serialize import parse_yaml

    path = _edited(tmp_path, "n_estimators: 400", f"n_estimators: {spelt}")
    dvc_reads = parse_yaml(path.read_text(), str(path))["train"]["xgboost"]["n_estimators"]
    assert load_params(path).train.xgboost.n_estimators == dvc_reads == number


@pytest.mark.parametrize(
    ("spelt", "said"),
    [
        ("1e-1", "0.1"),
        ("6.5", "6.5"),
        # PyYAML read 6:40 as 400 (YAML 1.1's base 60), DVC's reader as the text 6:40.
        ("6:40", "'6:40'"),
    ],
)
def test_a_number_dvc_reads_as_no_whole_number_is_refused_where_one_goes(
    tmp_path: Path, spelt: str, said: str
) -> None:
    with pytest.raises(ParamsError) as raised:
        load_params(_edited(tmp_path, "n_estimators: 400", f"n_estimators: {spelt}"))
    assert str(raised.value).endswith(
        f"train.xgboost.n_estimators: {said}: must be a whole number, more than 0 and at most 2147483647"
    )


@pytest.mark.parametrize(
    ("key", "spelt", "said"),
    [
        # pydantic said "Unable to parse input string as an integer, exceeded maximum size", no range
        ("n_estimators: 400", "1e40", "1e+40: must be a whole number, more than 0 and at most 2147483647"),
        ("max_depth: 5", "1e40", "1e+40: must be a whole number, from 1 to 2147483647"),
        # XGBoost's ints are C ints: loaded, then train stopped with "expect int"
        ("max_depth: 5", "2147483648", "2147483648: must be from 1 to 2147483647"),
    ],
)
def test_a_whole_number_past_what_xgboost_takes_is_refused_with_the_range(
    tmp_path: Path, key: str, spelt: str, said: str
) -> None:
    name = key.split(":")[0]
    with pytest.raises(ParamsError) as raised:
        load_params(_edited(tmp_path, key, f"{name}: {spelt}"))
    assert str(raised.value).endswith(f"train.xgboost.{name}: {said}")


@pytest.mark.parametrize(
    ("old", "key", "said"),
    [
        ("task: binary", "? [a, b]\n: 1", "the key [a, b] is a list"),
        ("task: binary", "{a: 1}: 2", "the key {a: 1} is a section"),
        ("  label: churned", "  [label, id]: x", "the key [label, id] under data is a list"),
    ],
)
def test_a_key_that_is_a_list_or_section_says_its_line_and_what_to_write(
    tmp_path: Path, old: str, key: str, said: str
) -> None:
    """PyYAML said "found unhashable key" at two marks, one of them the file's first line."""
    path = _edited(tmp_path, old, f"{old}\n{key}")
    with pytest.raises(ParamsError) as raised:
        load_params(path)
    line = _line(path, key.splitlines()[0])
    assert str(raised.value) == (
        f"{path}: line {line}: {said}, not a name: write `name: value`, with a list or section after the "
        "colon (`name: [a, b]`), as the template's params.yaml does"
    )


# Spellings YAML 1.1 (PyYAML, mlapp's reader until it read as DVC does) and 1.2 (DVC's) read apart,
# and their neighbours: each must be the same value, of the same type, to mlapp and to DVC.
SPELLINGS = (
    ".1e0", ".1e+0", ".5E3", "1.", "-.1e-2", "1e3", "1_000", "1_0.5", "0012", "0o14", "0o8", "0x1F",
    "0b101", "6:40", "1:20:30", "yes", "No", "ON", "off", "y", "n", "true", "False", "TRUE", "~",
    "Null", "null", ".inf", "-.Inf", ".NaN", "+12", "0.", "'0012'", '"yes"', "!!str 12", "!!int '7'",
)  # fmt: skip


@pytest.mark.parametrize("spelt", SPELLINGS)
def test_mlapp_reads_each_value_as_dvc_does(spelt: str) -> None:
    """`.1e0` was 0.1 to mlapp and text to DVC, `0o14` text and 12, `yes` a yes/no and text: mlapp
    trained on one value while `dvc params diff` and `dvc exp show` showed another."""
    from dvc.utils.serialize import parse_yaml

    text = f"value: {spelt}\n"
    mlapp_reads, dvc_reads = read_params_text(text)["value"], parse_yaml(text, "params.yaml")["value"]
    assert (repr(mlapp_reads), type(mlapp_reads).__name__.replace("Quoted", "str")) == (
        repr(dvc_reads), type(dvc_reads).__name__,
    )  # fmt: skip


def test_mlapp_reads_every_short_number_spelling_as_dvc_does() -> None:
    """Every spelling of 1 to 3 characters of digits, signs, dots, exponents, underscores, base
    prefixes and colons (2,954): 36 were read apart before (+09, ._1, +_0: YAML 1.1's octal and
    underscores), and the named ones above; a file neither reads is an error to both."""
    from dvc.utils.serialize import parse_yaml

    def read(parse: Callable[[str], Any], text: str) -> tuple[str, str]:
        try:
            value = parse(text)["value"]
        except Exception:  # each reader's own error: only "neither reads it" compares
            return "error", ""
        return repr(value), type(value).__name__.replace("Quoted", "str")

    spellings = ("".join(t) for n in (1, 2, 3) for t in itertools.product("0179_.eE+-xob:", repeat=n))
    apart = [
        spelt
        for spelt in spellings
        if read(read_params_text, text := f"value: {spelt}\n")
        != read(lambda t: parse_yaml(t, "params.yaml"), text)
    ]
    assert apart == []


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_a_yaml_version_directive_is_read_as_dvc_reads_it_or_refused(tmp_path: Path, version: str) -> None:
    """`%YAML 1.1` switched DVC's reader to YAML 1.1 (`n_estimators: 0012` was 10 to DVC, 12 to mlapp)."""
    path = tmp_path / "params.yaml"
    path.write_text(f"%YAML {version}\n---\n" + SHIPPED.replace("n_estimators: 400", "n_estimators: 0012"))
    if version == "1.2":
        assert load_params(path).train.xgboost.n_estimators == 12
        return
    with pytest.raises(ParamsError) as raised:
        load_params(path)
    assert str(raised.value) == (
        f"{path} starts with %YAML 1.1: DVC would read it by YAML 1.1's rules (yes as true, 0012 as 10) "
        "and mlapp by YAML 1.2's: delete the %YAML line"
    )


@pytest.mark.parametrize("version", ["1.0", "1.3"])
def test_a_yaml_version_dvc_cannot_read_is_refused_as_such(tmp_path: Path, version: str) -> None:
    """ruamel.yaml knows YAML 1.1 and 1.2 only: `%YAML 1.3` stops DVC (an AssertionError), it does
    not switch it to other rules."""
    path = tmp_path / "params.yaml"
    path.write_text(f"%YAML {version}\n---\n" + SHIPPED)
    with pytest.raises(ParamsError) as raised:
        load_params(path)
    assert str(raised.value) == (
        f"{path} starts with %YAML {version}: DVC cannot read it (its reader knows YAML 1.1 and 1.2 "
        "only): delete the %YAML line"
    )


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        # pydantic read the text .1e0 as 0.1; YAML 1.2 reads a leading dot's unsigned exponent as text
        ("learning_rate: 0.05 ", "learning_rate: .5e-1 ", None),
        ("learning_rate: 0.05 ", "learning_rate: .1e0 ", "train.xgboost.learning_rate: .1e0 is text to "
         "YAML 1.2, as DVC reads it (`dvc params diff` shows it so), not a number: write 0.1"),
        ("n_estimators: 400", "n_estimators: .4E3", "train.xgboost.n_estimators: .4E3 is text to YAML "
         "1.2, as DVC reads it (`dvc params diff` shows it so), not a number: write 400"),
        ("learning_rate: [0.01, 0.3]", "learning_rate: [.1e-1, .3e0]", "tune.space: .3e0 is text"),
        # pydantic read yes, on and 1 as true: DVC reads text and a number
        ("require_significant: true ", "require_significant: yes ", "gate.require_significant: yes is "
         "text to YAML 1.2, as DVC reads it, not a yes/no (only true and false are): write true"),
        ("require_significant: true ", "require_significant: Off ", "gate.require_significant: Off is "
         "text to YAML 1.2, as DVC reads it, not a yes/no (only true and false are): write false"),
        ("require_significant: true ", "require_significant: 'true' ", "gate.require_significant: true "
         "is text to YAML 1.2, as DVC reads it, not a yes/no (only true and false are): write true"),
        ("require_significant: true ", "require_significant: 1 ", "gate.require_significant: 1 is a "
         "number, not a yes/no (only true and false are): write true"),
        ("n_estimators: 400", "n_estimators: on", "train.xgboost.n_estimators: 'on': must be a whole "
         "number, more than 0"),
    ],
)  # fmt: skip
def test_text_dvc_reads_is_never_used_as_a_number_or_yes_no(
    tmp_path: Path, old: str, new: str, said: str | None
) -> None:
    path = _edited(tmp_path, old, new)
    if said is None:  # a signed exponent: a number to both
        assert load_params(path).train.xgboost.learning_rate == 0.05
        return
    with pytest.raises(ParamsError) as raised:
        load_params(path)
    assert f"is invalid: {said}" in str(raised.value)


def test_yes_and_on_are_text_where_text_goes(tmp_path: Path) -> None:
    """mlapp refused `id_column: yes` ("quote a name spelt so") as a yes/no; DVC reads the text yes."""
    path = _edited(tmp_path, "id_column: customer_id", "id_column: yes")
    assert load_params(path).data.id_column == "yes"
    for value in ("true", "False"):
        with pytest.raises(ParamsError, match=rf"data\.id_column: {value.lower()} is a yes/no, not the"):
            load_params(_edited(tmp_path, "id_column: customer_id", f"id_column: {value}"))

"""``params.yaml``'s text read as DVC reads it: the one loader of every ``mlapp`` command and report.

DVC reads params.yaml with ruamel.yaml's safe loader (YAML 1.2: ``dvc params diff``, ``dvc exp
show``, the params a stage's lock records); mlapp reads it with PyYAML (YAML 1.1), a core
dependency (ruamel.yaml is the pipeline extra's: the PR comment job and the image have none), and
the two disagreed on what a value is: ``0012`` (octal 10 to YAML 1.1, 12 to 1.2), ``1e3`` (text,
a number), ``0o14`` (text, 12), ``.1e0`` (0.1, text), an unquoted yes, no, on or off (a yes/no,
text): mlapp used one value while DVC showed another. So PyYAML resolves plain scalars here with
YAML 1.2's rules as ruamel.yaml writes them (its ``resolver.implicit_resolvers`` for 1.2), and
reads integers as it does; tests/pipeline/test_params_yaml.py compares the two readers spelling
by spelling. ``mlapp.params_base`` refuses the text pydantic would still read as a number or a yes/no.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from mlapp.errors import ParamsError
from mlapp.params_base import Quoted

DEFAULT_PARAMS = Path("params.yaml")


def read_params_text(text: str, source: Path | str = DEFAULT_PARAMS) -> Any:
    """A params.yaml's text as DVC reads it (quoted text as ``Quoted``), unchecked: what
    ``load_params`` validates, and how the report reads a base's (older) file."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if loader.yaml_version not in (None, (1, 2)):  # DVC's reader would switch to that version's rules
            version = ".".join(map(str, loader.yaml_version))
            # ruamel.yaml knows 1.1 and 1.2 only: another version stops DVC (an AssertionError).
            why = (
                "DVC would read it by YAML 1.1's rules (yes as true, 0012 as 10) and mlapp by YAML 1.2's"
                if loader.yaml_version == (1, 1)
                else "DVC cannot read it (its reader knows YAML 1.1 and 1.2 only)"
            )
            raise ParamsError(f"{source} starts with %YAML {version}: {why}: delete the %YAML line")
        if node is not None and (wrong := _key_problem(node, (), text)):
            raise ParamsError(f"{source}: {wrong}")
        return loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:  # its text names the line and column
        # PyYAML names the tab it refuses, not what to write instead.
        tab = "\nwrite spaces there, not a tab" if "'\\t'" in str(exc) else ""
        raise ParamsError(f"{source} is not valid YAML: {exc}{tab}") from exc
    finally:
        loader.dispose()


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's plain scalars, and a quoted scalar as ``Quoted``:
    `id_column: "None"` names a column, `id_column: None` is Python's null (both text to YAML)."""

    def construct_yaml_str(self, node: yaml.Node) -> str:
        text = str(super().construct_yaml_str(node))
        return Quoted(text) if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"') else text

    def construct_int(self, node: yaml.ScalarNode) -> int:
        """As YAML 1.2 and DVC: 0012 is 12 (YAML 1.1's octal 10: `n_estimators: 0012` trained 10
        trees while `dvc params diff` said 12), 0o14 is octal 12 (YAML 1.1's text)."""
        text = str(self.construct_scalar(node)).replace("_", "")
        sign, digits = (-1 if text.startswith("-") else 1), text.lstrip("+-")
        base = {"0b": 2, "0o": 8, "0x": 16}.get(digits[:2])
        return sign * (int(digits[2:], base) if base else int(digits))


_BOOL, _INT, _FLOAT = (f"tag:yaml.org,2002:{kind}" for kind in ("bool", "int", "float"))
_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# ruamel.yaml's YAML 1.2 patterns, in its order: only true and false are a yes/no (yes, on, y are
# text); a float needs a dot or an exponent, and after a leading dot a signed one (.1e0 is text);
# an integer may be 0b, 0o or 0x, its underscores ignored (YAML 1.1's 6:40, 400, is text).
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)
_Loader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_constructor("tag:yaml.org,2002:str", _Loader.construct_yaml_str)
_Loader.add_constructor(_INT, _Loader.construct_int)


def _key_problem(node: yaml.Node, path: tuple[str, ...], text: str) -> str | None:
    """The first key of a mapping under ``node`` that is a list or a mapping (``_not_a_name``), or
    that it writes twice, said with its setting and both lines. Which of two was meant is not the
    reader's to guess (PyYAML kept the last silently: `max_depth: 5`, further down `max_depth: 3`,
    trained depth 3). DVC 3's reader (ruamel.yaml)
    refuses the file: `dvc repro` and `dvc status` stop with "found duplicate key", `dvc params
    diff` shows every setting of the file as removed."""
    if isinstance(node, yaml.SequenceNode):
        return next((found for item in node.value if (found := _key_problem(item, path, text))), None)
    if not isinstance(node, yaml.MappingNode):
        return None
    seen: dict[tuple[str, str], tuple[yaml.Node, yaml.Node]] = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            return _not_a_name(key, path, text)
        if key.tag == "tag:yaml.org,2002:merge":
            continue  # a `<<: *anchor` merge overrides by design
        setting = ".".join((*path, str(key.value)))
        first, first_value = seen.setdefault((str(key.tag), key.value), (key, value))
        if first is not key:
            return (
                f"{setting} is written twice, on line {first.start_mark.line + 1} ({_shown(first_value)}) "
                f"and line {key.start_mark.line + 1} ({_shown(value)}); DVC refuses such a file (its repro "
                "and status stop: found duplicate key): delete the one you do not mean"
            )
        if found := _key_problem(value, (*path, str(key.value)), text):
            return found
    return None


def _not_a_name(key: yaml.Node, path: tuple[str, ...], text: str) -> str:
    """A key written as a list (`? [a, b]`) or a mapping (`{a: 1}: 2`): PyYAML said "found
    unhashable key" with its own mark, not what to write; no setting is named so (DVC's reader
    takes a list key as a pair, and refuses a mapping key)."""
    written = text[key.start_mark.index : key.end_mark.index].strip()
    under = f" under {'.'.join(path)}" if path else ""
    return (
        f"line {key.start_mark.line + 1}: the key {written}{under} is {_shown(key)}, not a name: "
        "write `name: value`, with a list or section after the colon (`name: [a, b]`), as the "
        "template's params.yaml does"
    )


def _shown(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value) or "empty"
    return "a section" if isinstance(node, yaml.MappingNode) else "a list"

"""What a params setting takes, said one way: in params.yaml's errors (``mlapp.params``) and by the
CLI options that override a setting (``mlapp.cli.common``).

pydantic said "Input should be greater than 0" where `--timeout` said "must be more than 0 and at most
21600 (the range of delivery.sync_timeout_s)": two wordings of one range, pydantic's without its
other end, and a wrong kind ("Input should be a valid integer, got a number with a fractional
part") without the range at all. Both paths now call ``must_be``.

Imported by ``mlapp.params`` only once a file is refused: a stage that runs never needs it.
"""

from __future__ import annotations

import datetime
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

BOUNDS = ("gt", "ge", "lt", "le")
KINDS = {int: "a whole number", float: "a number"}
# pydantic's error types by what they refuse: a value out of range (an infinity or .nan too: no
# range holds it), a value of the wrong kind, a value not among the choices.
RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"}
# int_parsing_size: a whole number past what pydantic reads (1e40 where an int goes).
KIND_ERRORS: dict[str, type] = {
    "int_type": int,
    "int_parsing": int,
    "int_from_float": int,
    "int_parsing_size": int,
}
KIND_ERRORS |= {"float_type": float, "float_parsing": float}
# A value where a section, a mapping or a list goes: pydantic named the section's class
# ("a valid dictionary or instance of ServingParams"); said as the file writes each instead.
SHAPES = {
    "model_type": "a section: its settings indented under it, one `name: value` line each",
    "dict_type": "a mapping: `name: value` lines indented under it",
    "list_type": "a list: [a, b] ([] for none)",
    "tuple_type": "a pair: [low, high]",
}
# Text where the file holds a number, a list or a section: pydantic's "Input should be a valid string".
TEXT_KINDS = {"string_type": "text", "path_type": "a path (text)"}
# The patterns of params' text settings, said as what to write (tests/core/test_setting_words.py
# checks that every pattern a setting declares is here).
PATTERNS = {
    r"^[0-9a-f]{40}$": "a git commit: its 40 lower-case hex digits (`git rev-parse <tag>` prints them)",
    r"^[0-9a-f]{64}$": "a sha256: 64 lower-case hex digits (`sha256sum <file>` prints them)",
    r"^\d+\.\d+$": 'a version major.minor, quoted: "1.32"',
    r"^[^@\s]+@sha256:[0-9a-f]{64}$": "an image pinned by its digest: <name>@sha256:<64 hex digits>",
    r"^[a-z0-9][a-z0-9._-]*$": "lower-case letters, digits, '.', '_' and '-', a letter or digit first",
}


@dataclass(frozen=True)
class Allowed:
    """What a setting (or an item of its list) takes: its kind (int or float) and bounds, or choices."""

    kind: type | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    choices: tuple[object, ...] = ()


def _number(bound: float) -> str:
    # 4294967295, not :g's 4.29497e+09; 0.5 and 1e-06 as :g writes them
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def range_words(allowed: Allowed) -> str:
    """Bounds in words, each end as declared: "more than 0 and at most 21600", "at least 1"."""
    low = ("more than", allowed.gt) if allowed.gt is not None else ("at least", allowed.ge)
    high = ("less than", allowed.lt) if allowed.lt is not None else ("at most", allowed.le)
    if allowed.ge is not None and allowed.le is not None and allowed.gt is None and allowed.lt is None:
        return f"from {_number(allowed.ge)} to {_number(allowed.le)}"
    return " and ".join(f"{words} {_number(end)}" for words, end in (low, high) if end is not None)


def must_be(shown: str, allowed: Allowed, *, of_kind: bool = False) -> str:
    """``shown`` (the value as written) and what the setting takes instead: "0: must be more than 0
    and at most 21600"; with ``of_kind``, its kind first: "2.5: must be a whole number, at least 1"."""
    if allowed.choices:
        what = "one of " + ", ".join(map(repr, allowed.choices))  # quoted, as the value refused is
    else:
        kind = KINDS.get(allowed.kind) if of_kind and allowed.kind else None
        what = ", ".join(filter(None, (kind, range_words(allowed))))
    return f"{shown}: must be {what}"


def _unwrapped(annotation: Any, metadata: list[Any]) -> Any:
    """``annotation`` without Annotated (its constraints added to ``metadata``) and without None."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation, *extra = get_args(annotation)
            for item in extra:
                metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        elif get_origin(annotation) in (Union, UnionType):
            members = [m for m in get_args(annotation) if m is not type(None)]
            if len(members) != 1:  # a real union: pydantic's location names the member, unknown here
                return annotation
            annotation = members[0]
        else:
            return annotation


def _at(model: type[BaseModel], loc: Sequence[str | int]) -> tuple[Any, list[Any]] | None:
    """The annotation and constraints at a pydantic error location under ``model``, if known."""
    annotation: Any = model
    metadata: list[Any] = []
    # A key refused is (..., key, "[key]"): the key's type is the mapping's first argument.
    if tuple(loc[-1:]) == ("[key]",):
        loc = (*loc[:-2], "[key]")
    for part in loc:
        annotation = _unwrapped(annotation, [])
        origin, args = get_origin(annotation), get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(part, str):
            field = next((f for n, f in annotation.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return None
            annotation, metadata = field.annotation, list(field.metadata)
        elif origin in (list, tuple) and isinstance(part, int) and args:
            fixed = origin is tuple and args[-1] is not Ellipsis and part < len(args)  # tuple[float, float]
            annotation = args[part] if fixed else args[0]
        elif origin is dict and args:
            annotation = args[0] if part == "[key]" else args[1]
        else:
            return None
    return _unwrapped(annotation, metadata), metadata


def allowed_at(model: type[BaseModel], loc: Sequence[str | int]) -> Allowed | None:
    """What the setting at ``loc`` (a pydantic error location, or a setting's dotted name split)
    takes, from its annotation: its kind, its Field bounds, its Literal choices."""
    found = _at(model, loc)
    if found is None:
        return None
    annotation, metadata = found
    if get_origin(annotation) is Literal:
        return Allowed(choices=get_args(annotation))
    bounds = {
        attr: getattr(m, attr) for m in metadata for attr in BOUNDS if getattr(m, attr, None) is not None
    }
    return Allowed(kind=annotation if annotation in KINDS else None, **bounds)


def setting_name(loc: Sequence[str | int]) -> str:
    """A pydantic error location as the setting's name: data.ignore_columns[0], tune.space (a key)."""
    name = ""
    for part in loc[:-2] if tuple(loc[-1:]) == ("[key]",) else loc:  # a key refused: the key is the value
        name += f"[{part}]" if isinstance(part, int) else f".{part}" if name else str(part)
    return name


def _unknown(model: type[BaseModel], loc: Sequence[str | int]) -> str:
    """A key no section has: the setting it may have meant, else the section's settings."""
    parent = _at(model, loc[:-1])
    section = parent[0] if parent else None
    if not (isinstance(section, type) and issubclass(section, BaseModel)):
        return "not a setting"
    names = [field.alias or name for name, field in section.model_fields.items()]
    where = setting_name(loc[:-1])
    of, prefix = (f" of {where}", f"{where}.") if where else (" of params.yaml", "")
    if close := difflib.get_close_matches(str(loc[-1]), names, n=1):
        return f"not a setting{of}: did you mean {prefix}{close[0]}?"
    return f"not a setting{of} (its settings: {', '.join(names)})"


def refused(error: Mapping[str, Any], model: type[BaseModel], shown: str) -> str | None:
    """A pydantic error on a setting of ``model`` in ``must_be``'s words (``shown``: the value as
    written), or None for the errors said otherwise (a validator's own words, a string's type)."""
    kind, loc = error["type"], tuple(error["loc"])
    if kind == "extra_forbidden":
        return _unknown(model, loc)
    if kind == "missing":  # pydantic's "Field required": no default to fall back on, so say what to do
        return "missing: add it (the template's params.yaml holds every setting, with what it takes)"
    if kind in SHAPES:
        return f"{shown}: must be {SHAPES[kind]} (the template's params.yaml shows it)"
    allowed = allowed_at(model, loc) or Allowed(
        **{attr: value for attr, value in (error.get("ctx") or {}).items() if attr in BOUNDS}
    )
    if kind in RANGE_ERRORS:  # finite_number with no bounds to say: a pair of tune.space's
        return must_be(shown, allowed) if range_words(allowed) else f"{shown}: must be a finite number"
    if kind in KIND_ERRORS:
        return must_be(shown, replace(allowed, kind=KIND_ERRORS[kind], choices=()), of_kind=True)
    if kind in TEXT_KINDS:
        value = error.get("input")
        if isinstance(value, datetime.date):  # shown with the fix to quote it: said once, here
            quote = f'YAML reads it as a date: quote it, "{value}"'
            return f"{value.isoformat()}: must be {TEXT_KINDS[kind]}: {quote}"
        return f"{shown}: must be {TEXT_KINDS[kind]}{_as_text(value)}"
    if kind == "bool_type":  # null: any other value is refused before, as YAML 1.2 reads it
        return f"{shown}: must be true or false"
    if kind == "string_pattern_mismatch":
        pattern = str((error.get("ctx") or {}).get("pattern"))
        return f"{shown}: must be {PATTERNS.get(pattern, f'text matching {pattern}')}"
    if kind == "too_short":
        least = int((error.get("ctx") or {}).get("min_length", 1))
        return f"{shown}: must hold at least {least} {'entry' if least == 1 else 'entries'}"
    if kind == UNION:
        return f"{shown}: must be {(error.get('ctx') or {}).get('expected')}"
    if kind == "literal_error" and allowed.choices:
        close = difflib.get_close_matches(str(error.get("input")), list(map(str, allowed.choices)), n=1)
        return must_be(shown, allowed) + (f": did you mean {close[0]!r}?" if close else "")
    return None


def _as_text(value: object) -> str:
    """How to write as text what YAML read as something else (a number, a list, a section)."""
    if isinstance(value, list | tuple):
        return ", one value: not a list"
    if isinstance(value, dict):
        return ", one value on the setting's own line: not settings indented under it"
    if value is None:
        return ": write the text meant"
    return f': quote it, "{value}", if that is the text meant'


UNION = "union"  # the type of the one error ``merged`` makes of a union's, one a member


def _members(annotation: Any) -> list[Any]:
    """A real union's members (None aside; ``_at`` has unwrapped it), each Annotated as declared: a
    member's description is its words."""
    if get_origin(annotation) not in (Union, UnionType):
        return []
    return [m for m in get_args(annotation) if m is not type(None)]


def _member_words(member: Any) -> str:
    described = [m.description for m in get_args(member)[1:] if isinstance(m, FieldInfo) and m.description]
    if described:
        return described[0]
    bare = _unwrapped(member, [])
    if get_origin(bare) is Literal:
        return " or ".join(map(repr, get_args(bare)))
    return KINDS.get(bare) or TEXT_KINDS["path_type" if bare is Path else "string_type"]


def _union_at(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], list[Any]]:
    """The setting (a prefix of ``loc``) of the union ``loc`` passes through, the part after it
    naming a member, and the union's members; ((), []) when it passes through none."""
    for at in range(1, len(loc)):
        if loc[at] == "[key]":  # a mapping's key refused: (..., key, "[key]"), no member
            break
        if (found := _at(model, loc[:at])) and (members := _members(found[0])):
            return loc[:at], members
    return (), []


def merged(errors: Sequence[Mapping[str, Any]], model: type[BaseModel]) -> list[Mapping[str, Any]]:
    """``errors`` with a union setting's (pydantic gives one a member, its location naming the
    member: serving.workers.int, serving.workers.literal['auto']) made one, ``UNION``, whose
    ``expected`` says every member: "a whole number or 'auto'"."""
    kept: list[Mapping[str, Any]] = []
    unions: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for error in errors:
        loc = tuple(error["loc"])
        setting, members = _union_at(model, loc)
        if not members:
            kept.append(error)
        elif setting not in unions:
            expected = " or ".join(_member_words(m) for m in members)
            union = {**error, "type": UNION, "loc": setting, "ctx": {"expected": expected}}
            kept.append(unions.setdefault(setting, union))
    return kept

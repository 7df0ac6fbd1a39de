"""Every setting stated once: a field of a typed frozen dataclass with its default, range and doc.

A field's allowed values are declared in its annotation (`Annotated[float, Range(0, 10, lo_open=True)]`,
`Annotated[str, Choice("fp32", "bf16")]`, `Annotated[str, Pattern(r"cpu|cuda(:[0-9]+)?", "cpu or cuda:N")]`)
and its one-line doc is the string literal under it (read from the source, as litgpt and tyro do). One
validator (`validate`, called from `__post_init__`) enforces the declarations; the command line, its help,
`key=value` parsing, "did you mean" and the Python API are all read from the same fields (`describe`,
`from_mapping`), so nothing else states a default or a range.
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import inspect
import math
import re
import textwrap
import types
import typing
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError


@dataclass(frozen=True)
class Range:
    """Numeric bounds of a field: lo <= value <= hi (either side open or absent)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def check(self, name: str, value) -> None:
        if value is None:
            return
        low_bad = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        high_bad = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        if low_bad or high_bad:
            raise ConfigError(f"{name}={value} must lie in {self.text()}", param=name)

    def text(self) -> str:
        lo = "-inf" if self.lo is None else _num(self.lo)
        hi = "inf" if self.hi is None else _num(self.hi)
        return f"{'(' if self.lo_open or self.lo is None else '['}{lo}, {hi}{')' if self.hi_open or self.hi is None else ']'}"


@dataclass(frozen=True)
class Choice:
    """The values a text field may take."""

    values: tuple[str, ...]

    def __init__(self, *values: str):
        object.__setattr__(self, "values", tuple(values))

    def check(self, name: str, value) -> None:
        if value is None:
            return
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if item not in self.values:
                raise ConfigError(f"{name}={item!r} must be one of {', '.join(self.values)}{suggest(item, self.values)}",
                                  param=name)

    def text(self) -> str:
        return "{" + ", ".join(self.values) + "}"


@dataclass(frozen=True)
class Pattern:
    """A text field's allowed values as a regular expression (matched whole, ASCII), shown as `text`."""

    regex: str
    shown: str
    """The allowed values in words, for messages and the help ("auto, cpu, cuda, cuda:N or mps")."""

    def check(self, name: str, value) -> None:
        if value is None:
            return
        if not isinstance(value, str) or not re.fullmatch(self.regex, value, re.ASCII):
            raise ConfigError(f"{name}={value!r} must be {self.shown}", param=name)

    def text(self) -> str:
        return self.shown


def _num(x: float) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        x = int(x)
    return f"{x:,}".replace(",", "_") if isinstance(x, int) and abs(x) >= 10_000 else str(x)


def suggest(name: str, known) -> str:
    """'; did you mean X?' for the closest known name, or '' (difflib, as argparse does since 3.12)."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown(what: str, name: str, known) -> ConfigError:
    """The one error for an unknown name: what it is, the known ones and the closest."""
    known = list(known)
    return ConfigError(f"unknown {what} {name!r}; known: {', '.join(map(str, known))}{suggest(name, known)}")


# ----------------------------------------------------------------------------- reading the declarations
def _metadata(annotation) -> tuple[object, list]:
    """(the bare type, [Range/Choice/Pattern ...]) of a possibly Annotated field type."""
    if typing.get_origin(annotation) is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return base, [m for m in meta if isinstance(m, (Range, Choice, Pattern))]
    return annotation, []


@functools.cache
def _hints(cls) -> dict[str, object]:
    return typing.get_type_hints(cls, include_extras=True)


@functools.cache
def field_docs(cls) -> dict[str, str]:
    """Each field's doc: the string literal right under it in the class body (first sentence kept whole)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, nxt in zip(body, body[1:]):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
                docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


@dataclass(frozen=True)
class FieldInfo:
    """One setting as the help and the API show it."""

    name: str
    type: object
    """The bare type (Annotated metadata stripped)."""
    default: object
    doc: str
    range: Range | None
    choice: Choice | None
    pattern: Pattern | None = None

    @property
    def allowed(self) -> str:
        """The range, choices or pattern as text ('' when free)."""
        return ((self.range.text() if self.range else "") or (self.choice.text() if self.choice else "")
                or (self.pattern.text() if self.pattern else ""))

    @property
    def type_name(self) -> str:
        return _type_name(self.type)


def describe(cls) -> list[FieldInfo]:
    """Every field of a settings dataclass with its type, default, range or choices, and doc."""
    hints, docs, out = _hints(cls), field_docs(cls), []
    for f in dataclasses.fields(cls):
        base, meta = _metadata(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        out.append(FieldInfo(f.name, base, default, docs.get(f.name, ""),
                             next((m for m in meta if isinstance(m, Range)), None),
                             next((m for m in meta if isinstance(m, Choice)), None),
                             next((m for m in meta if isinstance(m, Pattern)), None)))
    return out


def format_default(value) -> str:
    """A default as it would be typed after `key=`: 30_000, 0.01, true, none, protocol,best."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return _num(value)
    if isinstance(value, tuple):  # as parse_value reads it: "5,7" flat, "5,7;2,3" nested
        return (";" if any(isinstance(v, tuple) for v in value) else ",").join(format_default(v) for v in value)
    return str(value)


def help_text(f: FieldInfo) -> str:
    """One field's help line: its doc, its range, choices or pattern, its default."""
    allowed = (f" Range {f.range.text()}." if f.range else f" One of {', '.join(f.choice.values)}." if f.choice
               else f" One of {f.pattern.text()}." if f.pattern else "")
    doc = f.doc if not f.doc or f.doc.endswith((".", "?", ")")) else f.doc + "."
    return f"{doc}{allowed} Default: {format_default(f.default)}.".strip()


def metavar(f: FieldInfo) -> str:
    """The placeholder of a field's value in the help: INT, FLOAT, TEXT, BOOL or LIST."""
    base = f.type
    if typing.get_origin(base) in (typing.Union, types.UnionType):
        base = next(a for a in typing.get_args(base) if a is not type(None))
    if typing.get_origin(base) is tuple:
        return "LIST"
    return {int: "INT", float: "FLOAT", bool: "BOOL", str: "TEXT", Path: "PATH"}.get(base, "VALUE")


def bare_types(cls) -> dict[str, object]:
    """Field name -> its type without the Annotated metadata (for parsing text)."""
    return {f.name: _metadata(t)[0] for f, t in zip(dataclasses.fields(cls), [_hints(cls)[f.name]
                                                                                for f in dataclasses.fields(cls)])}


# ----------------------------------------------------------------------------- parsing and validating
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_value(annotation, raw, name: str):
    """Turn a command-line string or a JSON value into the annotated type; never evaluates code."""
    annotation, _ = _metadata(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation):
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none")):
            return None
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return parse_value(inner, raw, name)
    if annotation in (int, float) and isinstance(raw, str) and not raw.isascii():
        raise ConfigError(f"{name}={raw!r} is not a valid {annotation.__name__}", param=name)  # int() takes any script's digits
    try:
        if annotation is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError
        if annotation is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(raw)
        if annotation is float:
            if isinstance(raw, bool):
                raise ValueError
            value = float(raw)
            if not math.isfinite(value):
                raise ConfigError(f"{name}={raw!r} is not a finite number", param=name)
            return value
        if annotation is str:
            if not isinstance(raw, str):
                raise ValueError
            return raw
        if annotation is Path:
            if not isinstance(raw, (str, Path)) or not str(raw):
                raise ValueError
            return Path(raw)
        if origin is tuple:
            args = typing.get_args(annotation)
            if isinstance(raw, str):
                # "5,7;2,3" -> ((5, 7), (2, 3)) for tuples of tuples, "5,7" -> (5, 7) for flat ones.
                sep = ";" if typing.get_origin(args[0]) is tuple else ","
                raw = [] if not raw.strip() else [part for part in raw.split(sep)]
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(parse_value(args[0], item, name) for item in raw)
            if len(raw) != len(args):
                raise ValueError
            return tuple(parse_value(a, item, name) for a, item in zip(args, raw))
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON integer beyond any float
        pass
    else:
        raise ConfigError(f"{name}: unsupported field type {annotation}")
    raise ConfigError(f"{name}={raw!r} is not a valid {_type_name(annotation)}", param=name)


def _type_name(annotation) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def validate(obj, names=None) -> None:
    """Coerce every field of a settings dataclass to its type and enforce its Range, Choice and Pattern: the
    one validator, called from `__post_init__` (cross-field rules stay in the class, after this call).
    names: only these fields (those of other kinds, such as a tuple of dataclasses, checked by the class)."""
    wanted = {f.name for f in dataclasses.fields(obj)} if names is None else set(names)
    for name, annotation in _hints(type(obj)).items():
        if name not in wanted:
            continue
        value = getattr(obj, name)
        parsed = parse_value(annotation, value, name)
        if parsed != value or type(parsed) is not type(value):
            object.__setattr__(obj, name, parsed)
        for meta in _metadata(annotation)[1]:
            meta.check(name, parsed)


def from_mapping(cls, values: dict, what: str):
    """Build a settings dataclass from a mapping of text or JSON values, naming any key it does not know
    (with the closest known one)."""
    known = bare_types(cls)
    for key in values:
        if key not in known:
            raise unknown(f"{what} setting", key, known)
    obj = cls(**{k: parse_value(known[k], v, k) for k, v in values.items()})
    validate(obj)  # ranges and choices hold even for a class whose __post_init__ does not call validate
    return obj

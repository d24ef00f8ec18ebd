"""The OData pieces the fake Dataverse understands: $filter expressions, $expand lists, row serialization."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.fake_dataverse_seed import LOOKUPS, Attr, Ref, Table

FORMATTED = "@OData.Community.Display.V1.FormattedValue"
LOOKUP_NAME = "@Microsoft.Dynamics.CRM.lookuplogicalname"
NAV_NAME = "@Microsoft.Dynamics.CRM.associatednavigationproperty"
TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:[^']|'')*')
    |(?P<date>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)
    |(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?![\w-])
    |(?P<num>-?\d+(?:\.\d+)?)(?![\w-])
    |(?P<paren>[(),])
    |(?P<word>[A-Za-z_][\w/.]*))""", re.X)
OPS = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
       "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}
Getter = Callable[[str], Any]
Predicate = Callable[[Getter], bool]


class ODataError(Exception):
    def __init__(self, status: int, message: str, code: str = "0x80060888") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ODataError(400, f"Syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _literal(kind: str, text: str) -> Any:
    if kind == "str":
        return text[1:-1].replace("''", "'")
    if kind == "guid":
        return text.lower()
    if kind == "date":  # rows hold ISO 8601 UTC text, which orders as the instants do
        return text
    if kind == "num":
        return float(text) if "." in text else int(text)
    return {"true": True, "false": False, "null": None}.get(text, ODataError)


def parse_filter(text: str) -> Predicate:
    """Comparisons joined by and/or/not with parentheses; strings compare case-insensitively, as Dataverse does."""
    tokens = _tokens(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise ODataError(400, f"Unexpected end of $filter '{text}'.")
        pos += 1
        return tokens[pos - 1]

    def expr() -> Predicate:
        left = term()
        while (t := peek()) and t[1] == "or":
            take()
            left = _either(left, term())
        return left

    def term() -> Predicate:
        left = factor()
        while (t := peek()) and t[1] == "and":
            take()
            left = _both(left, factor())
        return left

    def factor() -> Predicate:
        kind, value = take()
        if value == "(":
            inner = expr()
            if take()[1] != ")":
                raise ODataError(400, f"Missing ')' in $filter '{text}'.")
            return inner
        if value == "not":
            inner = factor()
            return lambda g: not inner(g)
        if value in STRING_FUNCTIONS and (t := peek()) and t[1] == "(":  # contains(fullname,'meg')
            take()
            prop = take()[1]
            comma, (lit_kind, lit_text), close = take(), take(), take()
            if comma[1] != "," or close[1] != ")" or lit_kind != "str":
                raise ODataError(400, f"Bad {value}() in $filter '{text}'.")
            return _string_function(value, prop, _unlike(_literal(lit_kind, lit_text)))
        if kind != "word":
            raise ODataError(400, f"Expected a property name in $filter '{text}', got {value!r}.")
        op = take()[1]
        lit_kind, lit_text = take()
        literal = _literal(lit_kind, lit_text)
        if op not in OPS or literal is ODataError:
            raise ODataError(400, f"Unsupported comparison '{value} {op} {lit_text}'.")
        return _comparison(value, OPS[op], literal)

    result = expr()
    if pos != len(tokens):
        raise ODataError(400, f"Unexpected '{tokens[pos][1]}' in $filter '{text}'.")
    return result


def _unlike(pattern: str) -> str:
    """This fake treats only bracketed characters ([%], [_], [[]) as LIKE escapes; a bare wildcard is refused
    so a test notices unescaped user text."""
    out, pos = [], 0
    while pos < len(pattern):
        if pattern[pos] == "[" and pos + 2 < len(pattern) and pattern[pos + 2] == "]":
            out.append(pattern[pos + 1])
            pos += 3
            continue
        if pattern[pos] in "%_[":
            raise ODataError(400, f"This fake does not run LIKE wildcards ({pattern[pos]!r} in {pattern!r}).")
        out.append(pattern[pos])
        pos += 1
    return "".join(out)


STRING_FUNCTIONS = {"contains": lambda a, b: b in a, "startswith": lambda a, b: a.startswith(b),
                    "endswith": lambda a, b: a.endswith(b)}


def _string_function(name: str, path: str, literal: str) -> Predicate:
    test = STRING_FUNCTIONS[name]
    return lambda get: isinstance(get(path), str) and test(get(path).casefold(), literal.casefold())


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda get: a(get) or b(get)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda get: a(get) and b(get)


def _comparison(path: str, op: Callable[[Any, Any], bool], literal: Any) -> Predicate:
    return lambda get: _compare(get(path), literal, op)


def _compare(actual: Any, literal: Any, op: Callable[[Any, Any], bool]) -> bool:
    if isinstance(actual, Ref):
        actual = actual.id
    if isinstance(actual, str) and isinstance(literal, str):
        return op(actual.casefold(), literal.casefold())
    if actual is None or literal is None:
        return op(actual is None, literal is None) if op in (OPS["eq"], OPS["ne"]) else False
    try:
        return op(actual, literal)
    except TypeError:
        return False


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split at `sep` outside parentheses: 'a($select=x,y),b' -> ['a($select=x,y)', 'b']."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_expand(text: str) -> dict[str, dict[str, str]]:
    """'nav($select=a,b;$filter=...)' items -> {nav: {'$select': 'a,b', ...}}."""
    out = {}
    for item in split_top(text):
        name, _, rest = item.partition("(")
        options = {}
        for opt in split_top(rest[:-1] if rest.endswith(")") else rest, ";"):
            key, _, value = opt.partition("=")
            options[key.strip()] = value.strip()
        out[name.strip()] = options
    return out


def formatted(attr: Attr | None, value: Any) -> str | None:
    if attr is None or value is None:
        return None
    if attr.options:
        return attr.label_of(value)
    if attr.type == "Boolean":
        return "Yes" if value else "No"
    if attr.type == "Money":
        return f"${value:,.2f}"
    if attr.type in ("Integer", "BigInt"):
        return f"{value:,}"
    if attr.type == "DateTime":
        return str(value)
    return None


def serialize(table: Table, row: dict[str, Any], select: list[str] | None, annotate: bool,
              name_of: Callable[[Ref], str]) -> dict[str, Any]:
    """One row as the Web API returns it: `_x_value` for lookups, annotations when asked for with Prefer."""
    if select is None:
        select = [f"_{k}_value" if isinstance(v, Ref) or (k in table.attrs and table.attrs[k].type in LOOKUPS)
                  else k for k, v in row.items()]
    out: dict[str, Any] = {}
    for col in select:
        if col.startswith("_") and col.endswith("_value"):
            name = col[1:-6]
            attr = table.attrs.get(name)
            if table.strict and (attr is None or attr.type not in LOOKUPS):
                raise _no_property(table, col)
            ref = row.get(name)
            out[col] = ref.id if isinstance(ref, Ref) else None
            if annotate and isinstance(ref, Ref):
                out[col + LOOKUP_NAME] = ref.kind
                out[col + FORMATTED] = name_of(ref)
                out[col + NAV_NAME] = f"{name}_{ref.kind}" if attr and attr.type == "Customer" else name
            continue
        attr = table.attrs.get(col)
        if table.strict and (attr is None or attr.type in LOOKUPS | {"PartyList"}):
            raise _no_property(table, col)
        value = row.get(col)
        out[col] = value.id if isinstance(value, Ref) else value
        text = formatted(attr, value) if annotate else None
        if text is not None:
            out[col + FORMATTED] = text
    return out


def _no_property(table: Table, col: str) -> ODataError:
    return ODataError(400, f"Could not find a property named '{col}' on type "
                           f"'Microsoft.Dynamics.CRM.{table.logical}'.", "0x80060888")


def label(text: str) -> dict[str, Any]:
    item = {"Label": text, "LanguageCode": 1033}
    return {"LocalizedLabels": [item], "UserLocalizedLabel": item}

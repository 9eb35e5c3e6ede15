"""``$filter``: parsed with lark into a tree, compiled into SQLAlchemy expressions.

Never string-built SQL: every literal becomes a bind parameter, every property a column of the
entity's whitelist (:class:`FilterContext`), every function one of :data:`FUNCTIONS`. Anything
else (an unknown property, a wrong number of arguments, a syntax error) is a
:class:`FilterError`, which the API answers with ``400``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, VisitError
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    and_,
    extract,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    true,
)

from kommune.errors import DomainError

MAX_FILTER_LENGTH = 2000

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> negation
         | comparison
?comparison: sum (COMPOP sum)?
?sum: product (ADDOP product)*
?product: unary (MULOP unary)*
?unary: "-" unary -> minus
      | atom
?atom: DATETIME -> datetime
     | NUMBER -> number
     | STRING -> string
     | _TRUE -> true
     | _FALSE -> false
     | _NULL -> null
     | function
     | path
     | "(" or_expr ")"
function: NAME "(" [or_expr ("," or_expr)*] ")"
path: NAME ("/" NAME)*

_OR.2: /or\b/
_AND.2: /and\b/
_NOT.2: /not\b/
_TRUE.2: /true\b/
_FALSE.2: /false\b/
_NULL.2: /null\b/
COMPOP.2: /(eq|ne|gt|ge|lt|le)\b/
ADDOP.2: /(add|sub)\b/
MULOP.2: /(mul|div|mod)\b/
DATETIME.3: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})/
NUMBER: /\d+(\.\d+)?([eE][+-]?\d+)?/
STRING: /'([^']|'')*'/
NAME: /[A-Za-z_@][A-Za-z0-9_.@]*/
%import common.WS
%ignore WS
"""

_PARSER = Lark(GRAMMAR, parser="lalr", maybe_placeholders=False)


class FilterError(DomainError):
    status_code = 400
    code = "invalid_filter"
    title = "Invalid $filter"


Column = Any
"""An SQLAlchemy expression (typed loosely: literals, columns and functions mix)."""
Resolver = Callable[[list[str]], Column]


@dataclass(frozen=True)
class FilterContext:
    """What a filter on one entity set may name: ``resolve(["Datastream", "id"])`` → column."""

    resolve: Resolver
    names: Mapping[str, Column] = field(default_factory=dict)


def _like(method: str) -> Callable[[Column, Column], Column]:
    """``a.<method>(b)`` with LIKE wildcards in a literal ``b`` escaped (a ``%`` is a ``%``)."""

    def build(a: Column, b: Column) -> Column:
        if isinstance(b, BindParameter) and isinstance(b.value, str):
            return getattr(a, method)(b.value, autoescape=True)
        return getattr(a, method)(b)

    return build


FUNCTIONS: dict[str, tuple[int, Callable[..., Column]]] = {
    "substringof": (2, lambda a, b: _like("contains")(b, a)),
    "contains": (2, _like("contains")),
    "startswith": (2, _like("startswith")),
    "endswith": (2, _like("endswith")),
    "length": (1, lambda a: func.length(a)),
    "tolower": (1, lambda a: func.lower(a)),
    "toupper": (1, lambda a: func.upper(a)),
    "trim": (1, lambda a: func.trim(a)),
    "concat": (2, lambda a, b: func.concat(a, b)),
    "indexof": (2, lambda a, b: func.strpos(a, b) - 1),
    "substring": (2, lambda a, b: func.substr(a, b + 1)),
    "year": (1, lambda a: extract("year", func.timezone("UTC", a))),
    "month": (1, lambda a: extract("month", func.timezone("UTC", a))),
    "day": (1, lambda a: extract("day", func.timezone("UTC", a))),
    "hour": (1, lambda a: extract("hour", func.timezone("UTC", a))),
    "minute": (1, lambda a: extract("minute", func.timezone("UTC", a))),
    "second": (1, lambda a: extract("second", func.timezone("UTC", a))),
    "now": (0, lambda: func.now()),
    "round": (1, lambda a: func.round(a)),
    "floor": (1, lambda a: func.floor(a)),
    "ceiling": (1, lambda a: func.ceil(a)),
}

_COMPARE = {
    "eq": lambda a, b: a.is_(None) if _is_null(b) else a == b,
    "ne": lambda a, b: a.is_not(None) if _is_null(b) else a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}
_ARITHMETIC = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "mod": lambda a, b: a % b,
}


def _is_null(value: Any) -> bool:
    return getattr(value, "_kommune_null", False)


class _Compiler(Transformer[Token, Column]):
    def __init__(self, context: FilterContext) -> None:
        super().__init__()
        self.context = context

    def number(self, items: list[Token]) -> Column:
        text = str(items[0])
        return literal(float(text) if any(c in text for c in ".eE") else int(text))

    def string(self, items: list[Token]) -> Column:
        return literal(str(items[0])[1:-1].replace("''", "'"))

    def datetime(self, items: list[Token]) -> Column:
        return literal(datetime.fromisoformat(str(items[0])))

    def true(self, _: list[Token]) -> Column:
        return true()

    def false(self, _: list[Token]) -> Column:
        return false()

    def null(self, _: list[Token]) -> Column:
        value = null()
        value._kommune_null = True  # type: ignore[attr-defined]
        return value

    def path(self, items: list[Token]) -> Column:
        return self.context.resolve([str(item) for item in items])

    @v_args(inline=True)
    def minus(self, value: Column) -> Column:
        return -value

    def function(self, items: list[Any]) -> Column:
        name, *args = items
        spec = FUNCTIONS.get(str(name))
        if spec is None:
            raise FilterError(f"Unknown function {str(name)!r}.")
        arity, build = spec
        if len(args) != arity:
            raise FilterError(f"{name}() takes {arity} argument(s).")
        return build(*args)

    def comparison(self, items: list[Any]) -> Column:
        left, op, right = items
        return _COMPARE[str(op)](left, right)

    def _fold(self, items: list[Any], table: Mapping[str, Callable[[Any, Any], Column]]) -> Column:
        result = items[0]
        for op, operand in zip(items[1::2], items[2::2], strict=True):
            result = table[str(op)](result, operand)
        return result

    def sum(self, items: list[Any]) -> Column:
        return self._fold(items, _ARITHMETIC)

    def product(self, items: list[Any]) -> Column:
        return self._fold(items, _ARITHMETIC)

    def and_expr(self, items: list[Column]) -> Column:
        return and_(*items)

    def or_expr(self, items: list[Column]) -> Column:
        return or_(*items)

    @v_args(inline=True)
    def negation(self, value: Column) -> Column:
        return not_(value)


def compile_filter(text: str, context: FilterContext) -> Column:
    """The SQLAlchemy condition of an OData ``$filter`` (400 for anything it cannot compile)."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"$filter is longer than {MAX_FILTER_LENGTH} characters.")
    try:
        tree = _PARSER.parse(text)
        result = _Compiler(context).transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, FilterError):
            raise error.orig_exc from None
        raise FilterError("The $filter cannot be applied to these properties.") from None
    except (LarkError, RecursionError):
        raise FilterError("The $filter is not valid OData syntax.") from None
    if not isinstance(result, ColumnElement):
        raise FilterError("The $filter is not a condition.")
    return result

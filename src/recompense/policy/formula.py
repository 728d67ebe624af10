"""The weight formula: a tiny, safe expression language over per-user features.

Grammar (no ``eval``; a hand-written recursive-descent parser)::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("-" | "+") unary | power
    power  := atom ("^" unary)?            # "**" is accepted as a synonym of "^"
    atom   := NUMBER | NAME | FUNC "(" expr ("," expr)* ")" | "(" expr ")"

Functions: ``min(a, b, ...)``, ``max(a, b, ...)``, ``sqrt(x)``, ``log1p(x)``,
``pow(x, y)``. Names must be features in :data:`FEATURES`; anything else is refused
with the position of the mistake.

Semantics, identical on every backend and in :func:`evaluate_numpy`:

- division by zero yields 0 (Spark raises, DuckDB returns NULL: we define it);
- ``sqrt`` of a negative number, ``log1p`` of a number ≤ −1 and ``pow`` of a negative
  base yield NULL; the allocation step refuses NULL, NaN or negative weights for
  eligible users, naming them, so a formula mistake can't silently pay someone $0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from recompense.errors import InputError

FEATURES: Mapping[str, str] = {
    "loss_usd": "liquidation loss in the window, USD (cents-exact)",
    "net_assets_usd": "net assets at the snapshot, USD (cents-exact, may be ≤ 0)",
    "loss_ratio_capped": "min(loss / net assets, 1); 1 where net assets ≤ 0",
    "incident_loss_usd": "part of the loss from fills inside an incident window, USD",
    "vip_tier": "VIP tier at the snapshot (0 = regular)",
    "account_age_days": "whole days from registration to the snapshot",
}
FUNCTIONS: Mapping[str, tuple[int, int | None]] = {
    "min": (2, None),
    "max": (2, None),
    "sqrt": (1, 1),
    "log1p": (1, 1),
    "pow": (2, 2),
}


class FormulaError(InputError):
    """The weight formula does not parse, or names something unknown."""


@dataclass(frozen=True, slots=True)
class Num:
    value: float


@dataclass(frozen=True, slots=True)
class Name:
    name: str


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Node


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str  # one of + - * / ^
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Node, ...]


Node = Num | Name | Neg | BinOp | Call


@dataclass(frozen=True, slots=True)
class Formula:
    """A parsed formula: its source text, its tree and the features it uses."""

    source: str
    tree: Node

    @property
    def names(self) -> frozenset[str]:
        return frozenset(_names(self.tree))


def parse(source: str) -> Formula:
    """Parse ``source``; raise :class:`FormulaError` naming the position of a mistake."""
    tokens = _tokenize(source)
    parser = _Parser(source, tokens)
    tree = parser.expr()
    if parser.peek() is not None:
        parser.fail("unexpected text after the end of the formula")
    return Formula(source, tree)


def compile_expr(formula: Formula, columns: Mapping[str, Any]) -> Any:
    """Compile to an expression over ``columns`` (Ibis columns by feature name).

    Returns an Ibis float64 expression; the caller decides where it is evaluated.
    """
    import ibis

    def go(node: Node) -> Any:
        match node:
            case Num(value):
                return ibis.literal(value, type="float64")
            case Name(name):
                return columns[name].cast("float64")
            case Neg(operand):
                return -go(operand)
            case BinOp("+", left, right):
                return go(left) + go(right)
            case BinOp("-", left, right):
                return go(left) - go(right)
            case BinOp("*", left, right):
                return go(left) * go(right)
            case BinOp("/", left, right):
                num, den = go(left), go(right)
                return ibis.ifelse(den == 0, ibis.literal(0.0), num / den)
            case BinOp("^", left, right) | Call("pow", (left, right)):
                base, exp = go(left), go(right)
                return ibis.ifelse(base < 0, ibis.null("float64"), base**exp)
            case Call("sqrt", (arg,)):
                x = go(arg)
                return ibis.ifelse(x < 0, ibis.null("float64"), x.sqrt())
            case Call("log1p", (arg,)):
                x = go(arg)
                return ibis.ifelse(x <= -1, ibis.null("float64"), (x + 1).ln())
            case Call("min", args):
                return ibis.least(*[go(a) for a in args])
            case Call("max", args):
                return ibis.greatest(*[go(a) for a in args])
        raise AssertionError(f"unhandled node {node!r}")  # pragma: no cover

    return go(formula.tree)


def evaluate_numpy(formula: Formula, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Evaluate with numpy (float64), with the same semantics as :func:`compile_expr`.

    NULL results are NaN here. Used by the what-if simulator and by tests that check
    the engine against an independent evaluation.
    """

    def go(node: Node) -> np.ndarray:
        match node:
            case Num(value):
                return np.asarray(value, dtype=np.float64)
            case Name(name):
                return np.asarray(columns[name], dtype=np.float64)
            case Neg(operand):
                return -go(operand)
            case BinOp(op, left, right) if op in "+-*/":
                return _NUMPY_OPS[op](go(left), go(right))
            case BinOp("^", left, right) | Call("pow", (left, right)):
                base, exp = np.broadcast_arrays(go(left), go(right))
                with np.errstate(all="ignore"):
                    return np.where(base < 0, np.nan, np.power(np.abs(base), exp))
            case Call("sqrt", (arg,)):
                x = go(arg)
                with np.errstate(all="ignore"):
                    return np.where(x < 0, np.nan, np.sqrt(np.abs(x)))
            case Call("log1p", (arg,)):
                x = go(arg)
                with np.errstate(all="ignore"):
                    return np.where(x <= -1, np.nan, np.log1p(np.maximum(x, -0.5)))
            case Call("min", args):
                return np.asarray(_reduce_nan(np.fmin, [go(a) for a in args]))
            case Call("max", args):
                return np.asarray(_reduce_nan(np.fmax, [go(a) for a in args]))
        raise AssertionError(f"unhandled node {node!r}")  # pragma: no cover

    return np.asarray(go(formula.tree), dtype=np.float64)


def _reduce_nan(func: Callable[[Any, Any], Any], values: list[np.ndarray]) -> Any:
    # SQL LEAST/GREATEST ignore NULLs (DuckDB, Spark); fmin/fmax ignore NaN alike.
    result = values[0]
    for value in values[1:]:
        result = func(result, value)
    return result


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.broadcast_arrays(a, b)
    with np.errstate(all="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


_NUMPY_OPS: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": _safe_div,
}


def _names(node: Node) -> list[str]:
    match node:
        case Name(name):
            return [name]
        case Neg(operand):
            return _names(operand)
        case BinOp(_, left, right):
            return _names(left) + _names(right)
        case Call(_, args):
            return [n for a in args for n in _names(a)]
    return []


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>\*\*|[-+*/^(),]))"
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    source_len = len(source)
    while pos < source_len:
        if source[pos:].strip() == "":
            break
        match = _TOKEN.match(source, pos)
        if match is None or match.lastgroup is None:
            bad = source[pos:].lstrip()[:1]
            at = source_len - len(source[pos:].lstrip())
            raise FormulaError(f"weight formula: unexpected character {bad!r} at position {at}")
        text = match.group(match.lastgroup)
        tokens.append(
            _Token(match.lastgroup, "^" if text == "**" else text, match.start(match.lastgroup))
        )
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, source: str, tokens: list[_Token]) -> None:
        self.source = source
        self.tokens = tokens
        self.i = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            self.fail("the formula ends too early")
        self.i += 1
        return token

    def fail(self, message: str) -> NoReturn:
        token = self.peek()
        where = f"position {token.pos} ({token.text!r})" if token else "the end"
        raise FormulaError(f"weight formula {self.source!r}: {message} at {where}")

    def expect(self, text: str) -> None:
        token = self.peek()
        if token is None or token.text != text:
            self.fail(f"expected {text!r}")
        self.i += 1

    def expr(self) -> Node:
        node = self.term()
        while (t := self.peek()) is not None and t.text in "+-" and t.kind == "op":
            self.i += 1
            node = BinOp(t.text, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while (t := self.peek()) is not None and t.text in ("*", "/"):
            self.i += 1
            node = BinOp(t.text, node, self.unary())
        return node

    def unary(self) -> Node:
        t = self.peek()
        if t is not None and t.text in ("-", "+"):
            self.i += 1
            operand = self.unary()
            return Neg(operand) if t.text == "-" else operand
        return self.power()

    def power(self) -> Node:
        node = self.atom()
        t = self.peek()
        if t is not None and t.text == "^":
            self.i += 1
            return BinOp("^", node, self.unary())
        return node

    def atom(self) -> Node:
        t = self.peek()
        if t is None:
            return self.fail("expected a number, a feature or a function")
        if t.kind == "num":
            self.i += 1
            value = float(t.text)
            if not math.isfinite(value):
                self.fail("number out of range")
            return Num(value)
        if t.text == "(":
            self.i += 1
            node = self.expr()
            self.expect(")")
            return node
        if t.kind == "name":
            return self.name_or_call(t)
        return self.fail("expected a number, a feature or a function")

    def name_or_call(self, t: _Token) -> Node:
        self.i += 1
        following = self.peek()
        if following is not None and following.text == "(":
            if t.text not in FUNCTIONS:
                self.i -= 1
                self.fail(f"unknown function {t.text!r}; allowed: {', '.join(FUNCTIONS)}")
            self.i += 1
            args = [self.expr()]
            while (c := self.peek()) is not None and c.text == ",":
                self.i += 1
                args.append(self.expr())
            self.expect(")")
            low, high = FUNCTIONS[t.text]
            if len(args) < low or (high is not None and len(args) > high):
                wanted = f"{low}" if low == high else f"at least {low}"
                raise FormulaError(
                    f"weight formula: {t.text}() at position {t.pos} takes {wanted} "
                    f"argument(s), got {len(args)}"
                )
            return Call(t.text, tuple(args))
        if t.text not in FEATURES:
            self.i -= 1
            self.fail(f"unknown name {t.text!r}; features: {', '.join(FEATURES)}")
        return Name(t.text)

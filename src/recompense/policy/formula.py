"""The weight formula: a tiny, safe expression language over per-user features.

Grammar (no ``eval``; a hand-written recursive-descent parser)::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("-" | "+") unary | power
    power  := atom ("^" unary)?            # "**" is accepted as a synonym of "^"
    atom   := NUMBER | NAME | FUNC "(" expr ("," expr)* ")" | "(" expr ")"

Names must be features in :data:`FEATURES`; anything else is refused with the position
of the mistake. A formula has at most :data:`MAX_TOKENS` tokens and nests at most
:data:`MAX_DEPTH` levels (operators, functions, parentheses and signs each count one):
deeper input is refused with the position where it crosses the limit, before any
compiler recurses into it.

Semantics: one definition, :data:`RULES`, drives both compilers —
:func:`compile_expr` (Ibis, for the engine on DuckDB or Spark) and
:func:`evaluate_numpy` (the what-if simulator). Every value is a finite float64 or NULL
(NaN in numpy):

=============  ==============================================================
``a + b``       IEEE float64 (also ``a - b``, ``a * b``, ``-a``)
``a / b``       0 where ``b = 0``; otherwise IEEE ``a / b``
``a ^ b``       NULL where ``a < 0``; otherwise ``pow(a, b)`` (so ``0 ^ 0 = 1``);
                ``pow(a, b)`` is the same function
``sqrt(a)``     NULL where ``a < 0``
``log1p(a)``    NULL where ``a ≤ −1``; otherwise ``ln(1 + a)``, the float sum first,
                as SQL engines compute it (no extra precision near 0)
``min``/``max`` the smallest / largest argument
=============  ==============================================================

and, for every operator and function alike:

- a NULL argument gives NULL (``min``/``max`` too, unlike SQL's ``LEAST``: an
  undefined input must not be hidden by another argument);
- a result that is not finite (overflow to ±∞) is NULL, and so is a feature that is
  NULL, NaN or infinite.

The allocation step refuses NULL or negative weights for eligible users, naming them,
so a formula mistake can't silently pay someone the floor. The numpy compiler calls
the C library's ``pow`` and ``log``, as DuckDB does (numpy's vectorised ``power`` and
``log`` differ from them in the last bit), and types literals as doubles, as numpy
does (DuckDB and Spark would read ``0.1`` as an exact decimal): on DuckDB the two agree
bit for bit. Spark's JVM ``pow`` and ``ln`` may differ in the last bit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

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
MAX_DEPTH = 64  # far above any sensible formula; keeps parser, compilers and SQL shallow
MAX_TOKENS = 1000
_LARGEST = float(np.finfo(np.float64).max)
_SMALLEST = float(np.finfo(np.float64).tiny)  # below any positive 1 + a (≥ 2⁻⁵³)


class FormulaError(InputError):
    """The weight formula does not parse, names something unknown, or is too big."""


class Kit(Protocol):
    """What a compiler provides beyond Python's operators (``+ - * / < <= == &``).

    Each method must never raise, whatever its input (NULL, NaN, ±∞): the rules
    below mask undefined results with :meth:`where`, they do not avoid computing them.
    """

    def const(self, value: float) -> Any: ...
    def column(self, name: str) -> Any: ...
    def finite(self, x: Any) -> Any: ...  # false (or NULL) for NULL, NaN and ±∞
    def where(self, condition: Any, then: Any) -> Any: ...  # NULL where not condition
    def null_if_zero(self, x: Any) -> Any: ...
    def zero_if_null(self, x: Any) -> Any: ...
    def least(self, xs: Sequence[Any]) -> Any: ...
    def greatest(self, xs: Sequence[Any]) -> Any: ...
    def sqrt(self, x: Any) -> Any: ...  # of x ≥ 0 (or NaN)
    def ln(self, x: Any) -> Any: ...  # of x > 0 (or NaN)
    def pow(self, x: Any, y: Any) -> Any: ...


Values = Sequence[Any]


@dataclass(frozen=True, slots=True)
class Rule:
    """One operator or function, for every compiler.

    ``value`` is the result where ``defined`` holds (``None``: everywhere), computed
    with arguments guarded so that no backend raises where it does not hold;
    ``overflows`` says whether a finite input can give an infinite result.
    """

    arity: tuple[int, int | None]
    value: Callable[[Kit, Values], Any]
    defined: Callable[[Kit, Values], Any] | None = None
    overflows: bool = True


RULES: Mapping[str, Rule] = {
    "+": Rule((2, 2), lambda k, a: a[0] + a[1]),
    "-": Rule((2, 2), lambda k, a: a[0] - a[1]),
    "*": Rule((2, 2), lambda k, a: a[0] * a[1]),
    "/": Rule((2, 2), lambda k, a: k.zero_if_null(a[0] / k.null_if_zero(a[1]))),
    "^": Rule((2, 2), lambda k, a: k.pow(a[0], a[1]), lambda k, a: a[0] >= 0),
    "neg": Rule((1, 1), lambda k, a: -a[0], overflows=False),
    "min": Rule((2, None), lambda k, a: k.least(a), overflows=False),
    "max": Rule((2, None), lambda k, a: k.greatest(a), overflows=False),
    "sqrt": Rule(
        (1, 1),
        lambda k, a: k.sqrt(k.greatest([a[0], k.const(0.0)])),
        lambda k, a: a[0] >= 0,
        overflows=False,
    ),
    "log1p": Rule(
        (1, 1),
        lambda k, a: k.ln(k.greatest([a[0] + k.const(1.0), k.const(_SMALLEST)])),
        lambda k, a: a[0] + k.const(1.0) > 0,
        overflows=False,
    ),
    "pow": Rule((2, 2), lambda k, a: k.pow(a[0], a[1]), lambda k, a: a[0] >= 0),
}
FUNCTIONS: Mapping[str, tuple[int, int | None]] = {
    name: RULES[name].arity for name in ("min", "max", "sqrt", "log1p", "pow")
}


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
        return frozenset(n.name for n in _nodes(self.tree) if isinstance(n, Name))


def parse(source: str) -> Formula:
    """Parse ``source``; raise :class:`FormulaError` naming the position of a mistake."""
    tokens = _tokenize(source)
    parser = _Parser(source, tokens)
    tree, _height = parser.expr()
    if parser.peek() is not None:
        parser.fail("unexpected text after the end of the formula")
    return Formula(source, tree)


def compile_expr(formula: Formula, columns: Mapping[str, Any]) -> Any:
    """Compile to an expression over ``columns`` (Ibis columns by feature name).

    Returns an Ibis float64 expression; the caller decides where it is evaluated.
    Each argument appears once in the values it feeds, so the SQL grows with the square
    of the depth at worst, never exponentially.
    """
    return _lower(formula, _IbisKit(columns))


def evaluate_numpy(formula: Formula, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Evaluate with numpy (float64), with the same rules as :func:`compile_expr`.

    NULL results are NaN here. Used by the what-if simulator and by tests that check
    the engine against an independent evaluation.
    """
    with np.errstate(all="ignore"):  # undefined values are computed, then masked
        return np.asarray(_lower(formula, _NumpyKit(columns)), dtype=np.float64)


def _lower(formula: Formula, kit: Kit) -> Any:
    """The formula through ``kit``: NULL wherever some step is undefined."""
    height = _height(formula.tree)
    if height > MAX_DEPTH:
        raise FormulaError(
            f"weight formula {_shown(formula.source)!r}: nests {height} levels deep; "
            f"at most {MAX_DEPTH} are allowed"
        )
    value, defined = _walk(formula.tree, kit)
    return value if defined is None else kit.where(defined, value)


def _walk(node: Node, kit: Kit) -> tuple[Any, Any]:
    """(value, where it is defined or ``None`` for everywhere) of ``node``.

    Depth is bounded by :data:`MAX_DEPTH` (checked by the caller), so recursion is safe.
    """
    args: tuple[Node, ...]
    match node:
        case Num(value):
            return kit.const(value), None
        case Name(name):
            column = kit.column(name)
            return column, kit.finite(column)
        case Neg(operand):
            rule, args = RULES["neg"], (operand,)
        case BinOp(op, left, right):
            rule, args = RULES[op], (left, right)
        case Call(func, args):
            rule = RULES[func]
        case _:  # pragma: no cover
            raise AssertionError(f"unhandled node {node!r}")
    parts = [_walk(arg, kit) for arg in args]
    values = [value for value, _ in parts]
    value = rule.value(kit, values)
    conditions = [defined for _, defined in parts if defined is not None]
    if rule.defined is not None:
        conditions.append(rule.defined(kit, values))
    if rule.overflows:
        conditions.append(kit.finite(value))
    if not conditions:
        return value, None
    defined = conditions[0]
    for condition in conditions[1:]:
        defined = defined & condition
    return value, defined


class _IbisKit:
    """Ibis expressions; DuckDB and Spark agree on every operation used here."""

    def __init__(self, columns: Mapping[str, Any]) -> None:
        import ibis

        self.ibis = ibis
        self.columns = columns

    def const(self, value: float) -> Any:
        # A bare 0.1 is a DECIMAL in DuckDB and Spark SQL, and 0.1 + 0.2 would be exact
        # decimal arithmetic (0.3, not IEEE's 0.30000000000000004): type it as a double.
        return self.ibis.literal(repr(value)).cast("float64")

    def column(self, name: str) -> Any:
        return self.columns[name].cast("float64")

    def finite(self, x: Any) -> Any:
        return x.abs() <= _LARGEST  # false for NaN (the largest value in SQL) and ±∞

    def where(self, condition: Any, then: Any) -> Any:
        return self.ibis.ifelse(condition, then, self.ibis.null("float64"))

    def null_if_zero(self, x: Any) -> Any:
        return x.nullif(0.0)

    def zero_if_null(self, x: Any) -> Any:
        return x.fill_null(0.0)

    def least(self, xs: Sequence[Any]) -> Any:
        return self.ibis.least(*xs)

    def greatest(self, xs: Sequence[Any]) -> Any:
        return self.ibis.greatest(*xs)

    def sqrt(self, x: Any) -> Any:
        return x.sqrt()

    def ln(self, x: Any) -> Any:
        return x.ln()

    def pow(self, x: Any, y: Any) -> Any:
        return x**y


class _NumpyKit:
    """numpy arrays, NaN for NULL; ``pow`` and ``ln`` through the C library, as DuckDB."""

    _log = np.frompyfunc(math.log, 1, 1)

    def __init__(self, columns: Mapping[str, np.ndarray]) -> None:
        self.columns = columns

    def const(self, value: float) -> Any:
        return np.float64(value)

    def column(self, name: str) -> Any:
        return np.asarray(self.columns[name], dtype=np.float64)

    def finite(self, x: Any) -> Any:
        return np.isfinite(x)

    def where(self, condition: Any, then: Any) -> Any:
        return np.where(condition, then, np.nan)

    def null_if_zero(self, x: Any) -> Any:
        return np.where(x == 0, np.nan, x)

    def zero_if_null(self, x: Any) -> Any:
        return np.where(np.isnan(x), 0.0, x)

    def least(self, xs: Sequence[Any]) -> Any:
        return _reduce(np.minimum, xs)

    def greatest(self, xs: Sequence[Any]) -> Any:
        return _reduce(np.maximum, xs)

    def sqrt(self, x: Any) -> Any:
        return np.sqrt(x)

    def ln(self, x: Any) -> Any:
        return np.asarray(self._log(x), dtype=np.float64)

    def pow(self, x: Any, y: Any) -> Any:
        return np.float_power(x, y)  # glibc's pow, bit for bit; np.power is not


def _reduce(func: Callable[[Any, Any], Any], values: Sequence[Any]) -> Any:
    result = values[0]
    for value in values[1:]:
        result = func(result, value)
    return result


def _children(node: Node) -> tuple[Node, ...]:
    match node:
        case Neg(operand):
            return (operand,)
        case BinOp(_, left, right):
            return (left, right)
        case Call(_, args):
            return args
    return ()


def _nodes(tree: Node) -> list[Node]:
    """Every node, without recursion (a tree may come from elsewhere than :func:`parse`)."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        todo.extend(_children(node))
    return found


def _height(tree: Node) -> int:
    """Levels of operators and functions above the deepest leaf, without recursion."""
    height, todo = 0, [(tree, 0)]
    while todo:
        node, level = todo.pop()
        height = max(height, level)
        todo.extend((child, level + 1) for child in _children(node))
    return height


def _shown(source: str) -> str:
    """The source for a message: long formulas are cut (a limit may be why it failed)."""
    return source if len(source) <= 80 else source[:77] + "…"


_SPACE = re.compile(r"\s*")
_TOKEN = re.compile(
    r"(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>\*\*|[-+*/^(),])"
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = _SPACE.match(source, 0).end()  # type: ignore[union-attr]  # \s* always matches
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None or match.lastgroup is None:
            raise FormulaError(
                f"weight formula: unexpected character {source[pos]!r} at position {pos}"
            )
        if len(tokens) == MAX_TOKENS:
            raise FormulaError(
                f"weight formula {_shown(source)!r}: more than {MAX_TOKENS} tokens "
                f"(numbers, names, operators) at position {pos}"
            )
        text = match.group()
        tokens.append(_Token(match.lastgroup, "^" if text == "**" else text, pos))
        pos = _SPACE.match(source, match.end()).end()  # type: ignore[union-attr]
    return tokens


_Tree = tuple[Node, int]  # a subtree and its height


class _Parser:
    """Recursive descent; every method returns the subtree and its height.

    ``nesting`` counts the recursive calls in progress (parentheses, function
    arguments, signs, exponents), so both the Python stack and the tree stay within
    :data:`MAX_DEPTH` levels; each is refused at the token that crosses it.
    """

    def __init__(self, source: str, tokens: list[_Token]) -> None:
        self.source = source
        self.tokens = tokens
        self.i = 0
        self.nesting = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def fail(self, message: str) -> NoReturn:
        token = self.peek()
        where = f"position {token.pos} ({token.text!r})" if token else "the end"
        raise FormulaError(f"weight formula {_shown(self.source)!r}: {message} at {where}")

    def expect(self, text: str) -> None:
        token = self.peek()
        if token is None or token.text != text:
            self.fail(f"expected {text!r}")
        self.i += 1

    def grown(self, height: int, at: int) -> int:
        """``height + 1``, refused past :data:`MAX_DEPTH` at token index ``at``."""
        if height + 1 > MAX_DEPTH:
            self.i = at
            self.fail(f"nests more than {MAX_DEPTH} levels deep")
        return height + 1

    def nested(self, parse: Callable[[], _Tree], at: int) -> _Tree:
        """``parse()`` one level deeper, refused past :data:`MAX_DEPTH` at token ``at``."""
        if self.nesting >= MAX_DEPTH:
            self.i = at
            self.fail(f"nests more than {MAX_DEPTH} levels deep")
        self.nesting += 1
        try:
            return parse()
        finally:
            self.nesting -= 1

    def expr(self) -> _Tree:
        node, height = self.term()
        while (t := self.peek()) is not None and t.text in ("+", "-"):
            at = self.i
            self.i += 1
            right, right_height = self.term()
            node, height = BinOp(t.text, node, right), self.grown(max(height, right_height), at)
        return node, height

    def term(self) -> _Tree:
        node, height = self.unary()
        while (t := self.peek()) is not None and t.text in ("*", "/"):
            at = self.i
            self.i += 1
            right, right_height = self.unary()
            node, height = BinOp(t.text, node, right), self.grown(max(height, right_height), at)
        return node, height

    def unary(self) -> _Tree:
        t = self.peek()
        if t is None or t.text not in ("-", "+"):
            return self.power()
        at = self.i
        self.i += 1
        operand, height = self.nested(self.unary, at)
        return (Neg(operand), self.grown(height, at)) if t.text == "-" else (operand, height)

    def power(self) -> _Tree:
        node, height = self.atom()
        t = self.peek()
        if t is None or t.text != "^":
            return node, height
        at = self.i
        self.i += 1
        exponent, exponent_height = self.nested(self.unary, at)
        return BinOp("^", node, exponent), self.grown(max(height, exponent_height), at)

    def atom(self) -> _Tree:
        t = self.peek()
        if t is None:
            self.fail("expected a number, a feature or a function")
        if t.kind == "num":
            self.i += 1
            value = float(t.text)
            if not math.isfinite(value):
                self.i -= 1
                self.fail("number out of range")
            return Num(value), 0
        if t.text == "(":
            self.i += 1
            tree = self.nested(self.expr, self.i - 1)
            self.expect(")")
            return tree
        if t.kind == "name":
            return self.name_or_call(t)
        self.fail("expected a number, a feature or a function")

    def name_or_call(self, t: _Token) -> _Tree:
        following = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
        if following is None or following.text != "(":
            if t.text not in FEATURES:
                self.fail(f"unknown name {t.text!r}; features: {', '.join(FEATURES)}")
            self.i += 1
            return Name(t.text), 0
        if t.text not in FUNCTIONS:
            self.fail(f"unknown function {t.text!r}; allowed: {', '.join(FUNCTIONS)}")
        at = self.i
        self.i += 2
        args = [self.nested(self.expr, at)]
        while (c := self.peek()) is not None and c.text == ",":
            self.i += 1
            args.append(self.nested(self.expr, at))
        self.expect(")")
        self.check_arity(t, len(args))
        height = self.grown(max(h for _, h in args), at)
        return Call(t.text, tuple(node for node, _ in args)), height

    def check_arity(self, t: _Token, count: int) -> None:
        low, high = FUNCTIONS[t.text]
        if count < low or (high is not None and count > high):
            wanted = f"{low}" if low == high else f"at least {low}"
            raise FormulaError(
                f"weight formula: {t.text}() at position {t.pos} takes {wanted} "
                f"argument(s), got {count}"
            )

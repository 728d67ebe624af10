"""Hypothesis strategies for weight formulas and their inputs (kept apart, as attrs does).

A formula is drawn as a plain tuple tree, ``("num", 2.0)``, ``("name", "loss_usd")``,
``(op, *args)``, and rendered to text; the tests evaluate the tuple tree with their own
reference, so nothing here goes through :mod:`recompense.policy.formula`.
"""

from __future__ import annotations

from hypothesis import strategies as st

FEATURE_NAMES = (
    "loss_usd",
    "net_assets_usd",
    "loss_ratio_capped",
    "incident_loss_usd",
    "vip_tier",
    "account_age_days",
)
BINARY = ("+", "-", "*", "/", "^")
UNARY = ("neg", "sqrt", "log1p")

# Values near every rule's edge: zero (division, pow), −1 and −0.5 (log1p, the old
# clamp), negatives (sqrt, pow), and magnitudes that overflow when multiplied or raised.
EDGE_CONSTANTS = (0.0, 1.0, 2.0, 0.5, 3.0, 10.0, 0.75, 1e-3, 1e150, 1e300)
EDGE_VALUES = (0.0, -0.0, 1.0, -1.0, -0.5, -0.9, 0.01, 2.0, -3.0, 50.0, 1e6, 1e200, -1e200)

constants = st.one_of(
    st.sampled_from(EDGE_CONSTANTS),
    st.integers(0, 1000).map(float),
    st.integers(1, 10**6).map(lambda n: n / 1000),
)
feature_values = st.one_of(
    st.sampled_from(EDGE_VALUES),
    st.integers(-(10**8), 10**8).map(lambda cents: cents / 100),  # cents-exact USD
    st.floats(-1.5, 1.5, allow_nan=False),
)


def _extend(children: st.SearchStrategy[tuple]) -> st.SearchStrategy[tuple]:
    return st.one_of(
        st.tuples(st.sampled_from(BINARY), children, children),
        st.tuples(st.sampled_from(UNARY), children),
        st.tuples(st.just("pow"), children, children),
        st.builds(
            lambda name, args: (name, *args),
            st.sampled_from(("min", "max")),
            st.lists(children, min_size=2, max_size=3),
        ),
    )


formula_trees = st.recursive(
    st.one_of(
        st.tuples(st.just("name"), st.sampled_from(FEATURE_NAMES)),
        st.tuples(st.just("num"), constants),
    ),
    _extend,
    max_leaves=12,
)


def render(tree: tuple) -> str:
    """The formula's text, fully parenthesised (precedence is tested separately)."""
    kind, *args = tree
    if kind == "num":
        return repr(args[0])
    if kind == "name":
        return args[0]
    if kind == "neg":
        return f"(-{render(args[0])})"
    if kind in BINARY:
        op = "**" if kind == "^" and len(render(args[0])) % 2 else kind  # both spellings
        return f"({render(args[0])} {op} {render(args[1])})"
    return f"{kind}({', '.join(render(a) for a in args)})"


@st.composite
def feature_rows(draw, min_rows: int = 1, max_rows: int = 6) -> dict[str, list[float | None]]:
    """Columns of the six features, same length, with a few NULLs (None)."""
    n = draw(st.integers(min_rows, max_rows))
    rows = {name: draw(st.lists(feature_values, min_size=n, max_size=n)) for name in FEATURE_NAMES}
    cells = st.tuples(st.sampled_from(FEATURE_NAMES), st.integers(0, n - 1))
    for name, row in draw(st.sets(cells, max_size=2)):  # NULL in the table, NaN in numpy
        rows[name][row] = None
    return rows

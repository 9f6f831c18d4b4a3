"""A formula in x and y as plain data, and the NumPy function built from it.

A typed surface is read and differentiated by SymPy in a worker process (``surface_program``); what
comes back is not code but nested tuples, built here into NumPy functions by a closed table of
operations. Nothing the user typed is compiled or evaluated in the server's interpreter.

Trees:
    ("x",), ("y",)                 the variables
    ("const", c)                   a finite float
    ("add", a, b, …), ("mul", a, b, …)
    ("pow", base, exponent)
    (name, a)                      name one of ``FUNCTIONS``: sin, cos, exp, log, tanh, sqrt, abs, sign,
                                   heaviside (H(0) = 1/2)
"""

import numpy as np

FUNCTIONS = {
    "sin": np.sin,
    "cos": np.cos,
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sign": np.sign,
    "heaviside": lambda a: np.heaviside(a, 0.5),
}
MAX_DEPTH = 80  # nesting of a tree; the worker refuses deeper formulas before they get here


class ExpressionError(ValueError):
    """A tree that is not a formula of this module (an unknown operation, a non-finite constant, too deep)."""


def _power(base, exponent):
    if exponent == 0.5:
        return np.sqrt(base)
    return np.power(base, exponent)


def compile_tree(tree, depth=0):
    """(x, y) → value: the function of ``tree``, broadcasting like NumPy. Raises ExpressionError."""
    if depth > MAX_DEPTH or not isinstance(tree, tuple) or not tree or not isinstance(tree[0], str):
        raise ExpressionError("not a formula tree, or nested too deeply")
    op, args = tree[0], tree[1:]
    if op == "x" and not args:
        return lambda x, y: x
    if op == "y" and not args:
        return lambda x, y: y
    if op == "const" and len(args) == 1:
        c = args[0]
        if not (isinstance(c, float) and np.isfinite(c)):
            raise ExpressionError(f"the constant {c!r} is not a finite float")
        return lambda x, y: c
    parts = [compile_tree(a, depth + 1) for a in args]
    if op == "add" and parts:
        return lambda x, y: sum(p(x, y) for p in parts)
    if op == "mul" and parts:
        return lambda x, y: _product(parts, x, y)
    if op == "pow" and len(parts) == 2:
        base, exponent = parts
        if tree[2][0] == "const":  # a fixed exponent: x**2, sqrt
            e = tree[2][1]
            return lambda x, y: _power(base(x, y), e)
        return lambda x, y: np.power(base(x, y), exponent(x, y))
    if op in FUNCTIONS and len(parts) == 1:
        fn, (inner,) = FUNCTIONS[op], parts
        return lambda x, y: fn(inner(x, y))
    raise ExpressionError(f"unknown operation {op!r} with {len(args)} argument(s)")


def _product(parts, x, y):
    out = parts[0](x, y)
    for p in parts[1:]:
        out = out * p(x, y)
    return out


def tree_size(tree):
    """The number of nodes of ``tree`` (what one evaluation costs, in NumPy operations)."""
    if tree[0] == "const":
        return 1
    return 1 + sum(tree_size(a) for a in tree[1:] if isinstance(a, tuple))

"""What the worker process does with a typed surface: SymPy reads it, differentiates it, and evaluates it once.

This module runs in a worker bounded in time and memory (``core.bounded``), never in the server's
interpreter: whatever a formula costs SymPy or Python's integers, the server only waits for the bound.
What it returns is plain data, a ``SurfaceProgram`` of formula trees (``core.analysis.curvature.expression``).

The checks of the unevaluated expression (exponents above ±50, constants that overflow a float) come
first: they refuse the usual costly inputs at once with a precise message. The bound catches the rest.
"""

import math
import tokenize
from dataclasses import asdict, dataclass, fields

import numpy as np

from core.analysis.curvature.expression import MAX_DEPTH, compile_tree, tree_size
from core.analysis.curvature.surfaces import SurfaceError

MAX_EXPONENT = 50  # |b| in a power a**b whose exponent is a number
MAX_NODES = 1_500  # operations in the formula and its five derivatives together: the cost of one evaluation
MAX_TEX = 4_000  # characters of the formula's LaTeX
TYPED_HALF_WIDTH = 2.0  # a typed surface is drawn on [−2, 2]²
GRID = 41  # the first evaluation: f, ∇f and H on a 41 × 41 grid of the plotted square


@dataclass(frozen=True)
class SurfaceProgram:
    """A typed surface as plain data: its formula and derivatives as trees, its LaTeX, where it has kinks.

    ``kinks`` are trees g(x, y) whose zero set is where the surface is not smooth (the arguments of abs
    and sign): the Hessian there is not the surface's curvature.
    """

    text: str
    tex: str
    f: tuple
    df: tuple  # (∂f/∂x, ∂f/∂y)
    d2f: tuple  # (∂²f/∂x², ∂²f/∂x∂y, ∂²f/∂y²)
    kinks: tuple
    half_width: float = TYPED_HALF_WIDTH


def _as_float(e):
    """A numeric sub-expression in plain floating point: overflow raises, nothing is computed exactly."""
    import sympy as sp

    if e.is_Number or e in (sp.pi, sp.E):
        return float(e)
    args = [_as_float(a) for a in e.args]
    if isinstance(e, sp.Add):
        return math.fsum(args)
    if isinstance(e, sp.Mul):
        return math.prod(args)
    if isinstance(e, sp.Pow):
        value = args[0] ** args[1]  # complex for (−8) ** (1/3)
        if isinstance(value, complex):
            raise ValueError("not real")
        return value
    functions = {
        sp.sin: math.sin,
        sp.cos: math.cos,
        sp.exp: math.exp,
        sp.log: math.log,
        sp.tanh: math.tanh,
        sp.Abs: abs,
    }
    if e.func not in functions:
        raise ValueError(f"cannot evaluate {e.func}")
    return functions[e.func](*args)


def _refuse_unsafe_numbers(tree):
    """Refuse, innermost first, a numeric exponent above ±MAX_EXPONENT and any constant that is not a finite float.

    ``tree`` is the unevaluated expression, so 9**9**9 is still three numbers, not a huge integer;
    constants are evaluated in floating point, where exp(exp(exp(10))) overflows at once instead of
    making SymPy compute with it.
    """
    import sympy as sp

    for node in sp.postorder_traversal(tree):
        if isinstance(node, sp.Pow) and not node.exp.free_symbols:
            try:
                b = _as_float(node.exp)
            except (OverflowError, ValueError, ZeroDivisionError):
                b = math.inf
            if not abs(b) <= MAX_EXPONENT:
                raise SurfaceError(
                    f"the exponent {sp.sstr(node.exp)} is too large or not a number: powers up to "
                    f"±{MAX_EXPONENT} are allowed"
                )
        if not node.free_symbols and not (node.is_Number or node in (sp.pi, sp.E)):
            try:
                value = _as_float(node)
            except OverflowError:
                value = math.inf
            except (ValueError, ZeroDivisionError):
                raise SurfaceError(f"{sp.sstr(node)} is not a real number") from None
            if not math.isfinite(value):
                raise SurfaceError(f"the number {sp.sstr(node)} is too large for floating point")


def to_tree(e, x, y, depth=0):
    """The ``expression`` tree of a SymPy expression in x and y; raise SurfaceError for what it cannot hold."""
    import sympy as sp

    if depth > MAX_DEPTH:
        raise SurfaceError(f"the formula is nested more than {MAX_DEPTH} levels deep")
    if e == x or e == y:
        return (str(e),)
    if e.is_Number or e.is_NumberSymbol:
        try:
            c = float(e)
        except (OverflowError, TypeError, ValueError):
            c = math.inf
        if not math.isfinite(c):
            raise SurfaceError(f"the number {sp.sstr(e)[:40]} is too large for floating point")
        return ("const", c)
    if isinstance(e, sp.DiracDelta):  # the second derivative of abs: 0 away from its kink
        return ("const", 0.0)
    ops = {
        sp.Add: "add",
        sp.Mul: "mul",
        sp.Pow: "pow",
        sp.sin: "sin",
        sp.cos: "cos",
        sp.exp: "exp",
        sp.log: "log",
        sp.tanh: "tanh",
        sp.Abs: "abs",
        sp.sign: "sign",
        sp.Heaviside: "heaviside",
    }
    op = ops.get(e.func)
    if op is None:
        raise SurfaceError(f"its derivative contains {e.func.__name__}, which cannot be evaluated here")
    args = e.args[:1] if op == "heaviside" else e.args
    return (op, *(to_tree(a, x, y, depth + 1) for a in args))


def _check_finite(program):
    """The first evaluation: f, ∇f and H on a grid of the plotted square; refuse the first non-finite value."""
    h = program.half_width
    xs, ys = np.meshgrid(np.linspace(-h, h, GRID), np.linspace(-h, h, GRID))
    where = f"of the plotted square [{-h:g}, {h:g}]²"
    title = program.text
    for what, trees in (
        (title, (program.f,)),
        (f"the gradient of {title}", program.df),
        (f"the Hessian of {title}", program.d2f),
    ):
        for tree in trees:
            with np.errstate(all="ignore"):
                v = np.broadcast_to(np.asarray(compile_tree(tree)(xs, ys), dtype=np.float64), xs.shape)
            bad = ~np.isfinite(v)
            if bad.any():
                i, j = np.argwhere(bad)[0]
                raise SurfaceError(
                    f"{what} is not finite (overflow, or outside its domain) at "
                    f"(x, y) = ({xs[i, j]:.3g}, {ys[i, j]:.3g}) {where}"
                )


def compile_surface(text):
    """A ``SurfaceProgram`` from a formula that passed the token whitelist (``surface_parser``); SymPy's
    ``parse_expr`` with a namespace of only the allowed names (no builtins) and three transformations:
    numbers as exact SymPy numbers, ^ as power, implicit multiplication (2x, 2(x + 1)).

    Raises:
        SurfaceError: one line naming the reason.
    """
    import sympy as sp
    from sympy.parsing.sympy_parser import auto_number, convert_xor, implicit_multiplication, parse_expr

    x, y = sp.symbols("x y", real=True)
    local = {
        "x": x,
        "y": y,
        "sin": sp.sin,
        "cos": sp.cos,
        "exp": sp.exp,
        "log": sp.log,
        "tanh": sp.tanh,
        "sqrt": sp.sqrt,
        "abs": sp.Abs,
        "pi": sp.pi,
        "E": sp.E,
    }
    glob = {
        "__builtins__": {},
        "Integer": sp.Integer,
        "Float": sp.Float,
        "Rational": sp.Rational,
        "Add": sp.Add,
        "Mul": sp.Mul,
        "Pow": sp.Pow,
    }
    kw = dict(local_dict=local, global_dict=glob, transformations=(auto_number, convert_xor, implicit_multiplication))
    try:
        _refuse_unsafe_numbers(parse_expr(text, evaluate=False, **kw))
        expr = parse_expr(text, **kw)
    except SurfaceError:
        raise
    except (SyntaxError, TypeError, ValueError, AttributeError, NameError, ArithmeticError, tokenize.TokenError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SurfaceError(f"could not read {text!r}: {reason}") from None
    if not isinstance(expr, sp.Expr) or not expr.free_symbols & {x, y}:
        raise SurfaceError(f"{text!r} does not depend on x or y: type a surface such as x**2 - y**2")
    if expr.has(sp.I, sp.zoo, sp.oo, sp.nan):
        raise SurfaceError(f"{text!r} is not a real, finite surface")

    fx, fy = sp.diff(expr, x), sp.diff(expr, y)
    trees = [to_tree(e, x, y) for e in (expr, fx, fy, sp.diff(fx, x), sp.diff(fx, y), sp.diff(fy, y))]
    kinks = tuple(to_tree(k.args[0], x, y) for k in sorted(expr.atoms(sp.Abs, sp.sign), key=sp.default_sort_key))
    size = sum(map(tree_size, trees)) + sum(map(tree_size, kinks))
    if size > MAX_NODES:
        raise SurfaceError(
            f"the formula and its derivatives need {size:,} operations per point, more than "
            f"{MAX_NODES:,}: type a shorter formula"
        )
    tex = sp.latex(expr)
    if len(tex) > MAX_TEX:
        raise SurfaceError(f"the formula's LaTeX has {len(tex):,} characters: type a shorter formula")
    program = SurfaceProgram(text, tex, trees[0], tuple(trees[1:3]), tuple(trees[3:]), kinks)
    _check_finite(program)
    return program


def compile_for_worker(text):
    """``compile_surface`` as the worker runs it: {"program": the SurfaceProgram's fields} or {"refused": one
    line}, plain JSON data (trees as nested lists)."""
    try:
        return {"program": asdict(compile_surface(text))}
    except SurfaceError as e:
        return {"refused": str(e)}
    except RecursionError:
        return {"refused": f"the formula is nested too deeply to read (at most {MAX_DEPTH} levels)"}
    except Exception as e:  # whatever SymPy raises reaches the user as one line
        if isinstance(e, ValueError) and "digits" in str(e):  # Python's limit on the digits of an integer
            return {"refused": "a number in it has more than 4,300 digits: type a smaller formula"}
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return {"refused": f"could not compute {text!r}: {reason[:120]}"}


def program_from_json(data):
    """The SurfaceProgram of ``compile_for_worker``'s "program" (nested lists back to tuples); ValueError when
    it is not one."""
    if not isinstance(data, dict) or set(data) != {f.name for f in fields(SurfaceProgram)}:
        raise ValueError("not a surface program")

    def tuples(v):
        return tuple(tuples(a) for a in v) if isinstance(v, list) else v

    d = {k: tuples(v) for k, v in data.items()}
    if not (isinstance(d["text"], str) and isinstance(d["tex"], str) and isinstance(d["half_width"], float)):
        raise ValueError("not a surface program")
    return SurfaceProgram(**d)

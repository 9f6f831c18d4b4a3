"""A surface z = f(x, y) typed by the user, read safely: a token whitelist, then SymPy behind a closed namespace.

User text is never evaluated as Python. Numbers that would make SymPy compute for ever (9**9**9,
exp(exp(exp(10)))) are refused before anything is evaluated, and the surface, its gradient and its
Hessian must be finite on the plotted square. Every refusal is a ``SurfaceError`` with one line.
"""

import io
import math
import tokenize

import numpy as np

from core.analysis.surfaces import Surface, SurfaceError

MAX_LENGTH = 120  # characters of a typed surface
MAX_EXPONENT = 50  # |b| in a power a**b whose exponent is a number
MAX_LITERAL = 1e12  # largest number a typed surface may contain
FUNCTIONS = ("sin", "cos", "exp", "log", "tanh", "sqrt", "abs")
NAMES = ("x", "y", *FUNCTIONS, "pi", "E")
OPERATORS = ("+", "-", "*", "/", "**", "^", "(", ")", ",")
TYPED_HALF_WIDTH = 2.0  # a typed surface is drawn on [−2, 2]²
ALLOWED = "use x, y, numbers, + - * / ^ ( ) and " + ", ".join(NAMES[2:])
UNICODE = {"−": "-", "–": "-", "·": "*", "×": "*", "²": "**2", "³": "**3", "π": "pi"}


def _refuse_tokens(text):
    """Walk Python's tokens of ``text``; raise SurfaceError naming the first one off the whitelist."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        raise SurfaceError(f"could not read {text!r}: check the parentheses") from None
    for tok in tokens:
        kind, s = tok.type, tok.string
        if kind in (tokenize.NEWLINE, tokenize.ENDMARKER):
            continue
        if kind == tokenize.NAME and s not in NAMES:
            hint = " (write E for Euler's number)" if s == "e" else " (write x*y)" if set(s) <= {"x", "y"} else ""
            raise SurfaceError(f"unknown name {s!r}{hint}: {ALLOWED}")
        if kind == tokenize.NUMBER:
            if not all(c in "0123456789.eE+-" for c in s):
                raise SurfaceError(f"the number {s!r} is not allowed: write plain decimals such as 2, 0.5 or 1e-3")
            if not float(s) <= MAX_LITERAL:
                raise SurfaceError(f"the number {s!r} is too large: numbers up to 1e12 are allowed")
        elif kind == tokenize.OP and s not in OPERATORS:
            raise SurfaceError(f"{s!r} is not allowed: {ALLOWED}")
        elif kind not in (tokenize.NAME, tokenize.NUMBER, tokenize.OP):
            raise SurfaceError(f"{s.strip()!r} is not allowed: {ALLOWED}")


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
    functions = {sp.sin: math.sin, sp.cos: math.cos, sp.exp: math.exp, sp.log: math.log, sp.tanh: math.tanh,
                 sp.Abs: abs}  # fmt: skip
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
                raise SurfaceError(f"the exponent {sp.sstr(node.exp)} is too large or not a number: powers up to "
                                   f"±{MAX_EXPONENT} are allowed")  # fmt: skip
        if not node.free_symbols and not (node.is_Number or node in (sp.pi, sp.E)):
            try:
                value = _as_float(node)
            except OverflowError:
                value = math.inf
            except (ValueError, ZeroDivisionError):
                raise SurfaceError(f"{sp.sstr(node)} is not a real number") from None
            if not math.isfinite(value):
                raise SurfaceError(f"the number {sp.sstr(node)} is too large for floating point")


def _check_finite(surface, n=41):
    """Evaluate f, ∇f and H on an n × n grid of the plotted square; refuse the first non-finite value."""
    xs, ys = np.meshgrid(np.linspace(*surface.xlim, n), np.linspace(*surface.ylim, n))
    where = f"of the plotted square [{surface.xlim[0]:g}, {surface.xlim[1]:g}]²"
    for what, fn in ((surface.title, surface.value), (f"the gradient of {surface.title}", surface.gradient),
                     (f"the Hessian of {surface.title}", surface.hessian)):  # fmt: skip
        try:
            with np.errstate(all="ignore"):
                v = np.asarray(fn(xs, ys))
        except OverflowError:
            raise SurfaceError(f"{what} overflows floating point {where}") from None
        except (ArithmeticError, TypeError, ValueError, NameError):
            raise SurfaceError(f"{what} cannot be evaluated with NumPy") from None
        bad = ~np.isfinite(v.reshape(n, n, -1)).all(axis=-1)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise SurfaceError(f"{what} is not finite (overflow, or outside its domain) at "
                               f"(x, y) = ({xs[i, j]:.3g}, {ys[i, j]:.3g}) {where}")  # fmt: skip


def parse_surface(text):
    """A ``Surface`` from a formula in x and y typed by the user, read safely.

    The text passes a token whitelist first (names x, y, sin, cos, exp, log, tanh, sqrt, abs, pi,
    E; decimal numbers; + - * / ** ^ ( ) ,), then SymPy's ``parse_expr`` with a namespace holding
    only those names (no builtins) and three transformations: numbers as exact SymPy numbers, ^ as
    power, and implicit multiplication (2x, 2(x + 1)). Powers with a numeric exponent above ±50
    are refused before anything is evaluated. Derivatives come from ``sympy.diff``, turned into
    NumPy functions by ``lambdify``; the second derivative of abs (a Dirac delta) is taken as 0.

    Raises:
        SurfaceError: with a one-line message naming the offending token or the reason.
    """
    import sympy as sp
    from sympy.parsing.sympy_parser import auto_number, convert_xor, implicit_multiplication, parse_expr

    text = str(text).strip()
    if not text:
        raise SurfaceError("type a formula in x and y, e.g. x**2 - y**2")
    if "\n" in text or "\r" in text:
        raise SurfaceError("type the formula on one line")
    if len(text) > MAX_LENGTH:
        raise SurfaceError(f"the formula has {len(text)} characters: at most {MAX_LENGTH} are allowed")
    for symbol, ascii_ in UNICODE.items():
        text = text.replace(symbol, ascii_)
    _refuse_tokens(text)

    x, y = sp.symbols("x y", real=True)
    local = {"x": x, "y": y, "sin": sp.sin, "cos": sp.cos, "exp": sp.exp, "log": sp.log, "tanh": sp.tanh,
             "sqrt": sp.sqrt, "abs": sp.Abs, "pi": sp.pi, "E": sp.E}  # fmt: skip
    glob = {"__builtins__": {}, "Integer": sp.Integer, "Float": sp.Float, "Rational": sp.Rational,
            "Add": sp.Add, "Mul": sp.Mul, "Pow": sp.Pow}  # fmt: skip
    kw = dict(local_dict=local, global_dict=glob, transformations=(auto_number, convert_xor, implicit_multiplication))
    try:
        _refuse_unsafe_numbers(parse_expr(text, evaluate=False, **kw))
        expr = parse_expr(text, **kw)
    except SurfaceError:
        raise
    except (
        SyntaxError,
        TypeError,
        ValueError,
        AttributeError,
        NameError,
        ArithmeticError,
        RecursionError,
        tokenize.TokenError,
    ) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SurfaceError(f"could not read {text!r}: {reason}") from None
    if not isinstance(expr, sp.Expr) or not expr.free_symbols & {x, y}:
        raise SurfaceError(f"{text!r} does not depend on x or y: type a surface such as x**2 - y**2")
    if expr.has(sp.I, sp.zoo, sp.oo, sp.nan):
        raise SurfaceError(f"{text!r} is not a real, finite surface")

    def numeric(e):
        return sp.lambdify((x, y), e.replace(sp.DiracDelta, lambda *a: sp.S.Zero), modules="numpy")

    fx, fy = sp.diff(expr, x), sp.diff(expr, y)
    d1 = numeric(sp.Tuple(fx, fy))
    d2 = numeric(sp.Tuple(sp.diff(fx, x), sp.diff(fx, y), sp.diff(fy, y)))
    h = TYPED_HALF_WIDTH
    surface = Surface("typed", text, sp.latex(expr), numeric(expr), d1, d2, (-h, h), (-h, h))
    _check_finite(surface)
    return surface

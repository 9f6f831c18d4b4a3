"""A surface z = f(x, y) typed by the user, read safely and at a bounded cost.

Two lines of defence. In the server, a token whitelist refuses at once anything but x, y, numbers,
operators and a few functions; user text is never evaluated as Python. Then SymPy reads, differentiates
and first evaluates the formula in a worker process bounded in time and memory (``surface_program``
through ``core.bounded``): a formula whose cost no check foresaw (``x + 9^(9^9 + x - x)``) is killed
there, and the server only ever waited for the bound. The worker's answer is plain data, built here
into NumPy functions. Every refusal is a ``SurfaceError`` with one line.
"""

import io
import tokenize
from functools import lru_cache

from core.analysis.curvature.expression import ExpressionError, compile_tree
from core.analysis.curvature.surface_program import program_from_json
from core.analysis.curvature.surfaces import SURFACES, Surface, SurfaceError
from core.bounded import Busy, TooCostly, run_bounded

MAX_LENGTH = 120  # characters of a typed surface
MAX_LITERAL = 1e12  # largest number a typed surface may contain
FUNCTIONS = ("sin", "cos", "exp", "log", "tanh", "sqrt", "abs")
NAMES = ("x", "y", *FUNCTIONS, "pi", "E")
OPERATORS = ("+", "-", "*", "/", "**", "^", "(", ")", ",")
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


def _first_checks(text):
    """The formula as the worker reads it, after the checks that cost nothing: one line, its length, the
    everyday symbols (−, ², π) in ASCII, and the token whitelist."""
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
    return text


@lru_cache(maxsize=256)
def _compiled(text):
    """(SurfaceProgram, None) or (None, reason) for a formula that passed ``_first_checks``, from a bounded
    worker; kept, refusals too, so the same costly formula typed again costs nothing. A busy server is not
    kept: it raises."""
    try:
        reply = run_bounded("surface", text)
    except Busy as e:
        raise SurfaceError(str(e)) from None
    except TooCostly as e:
        return None, f"this surface is too costly to compute ({e}): type a simpler formula"
    except RuntimeError as e:
        return None, f"could not compute {text!r}: {e}"
    if "refused" in reply:
        return None, str(reply["refused"])[:300]
    try:
        return program_from_json(reply.get("program")), None
    except (ValueError, TypeError, RecursionError):
        return None, "this surface could not be computed: try again, or type a simpler formula"


def parse_surface(text):
    """A ``Surface`` from a formula in x and y typed by the user, read safely and at a bounded cost.

    The text passes a token whitelist first (names x, y, sin, cos, exp, log, tanh, sqrt, abs, pi,
    E; decimal numbers; + - * / ** ^ ( ) ,). In a worker process (at most ``core.bounded.TIME_LIMIT_S``
    seconds and ``MEMORY_LIMIT_MB``), SymPy's ``parse_expr`` reads it with a namespace of only those
    names; powers with a numeric exponent above ±50 are refused before anything is evaluated;
    ``sympy.diff`` gives the exact derivatives (the second derivative of abs, a Dirac delta, is taken as
    0); f, ∇f and H must be finite on the plotted square. Here the derivatives become NumPy functions.

    Raises:
        SurfaceError: with a one-line message naming the offending token or the reason.
    """
    program, reason = _compiled(_first_checks(text))
    if reason:
        raise SurfaceError(reason)
    try:
        f, (fx, fy), (fxx, fxy, fyy) = (
            compile_tree(program.f),
            map(compile_tree, program.df),
            map(compile_tree, program.d2f),
        )
        kinks = tuple(map(compile_tree, program.kinks))
    except ExpressionError as e:
        raise SurfaceError(f"this surface cannot be evaluated: {e}") from None
    h = program.half_width
    return Surface(
        "typed",
        program.text,
        program.tex,
        f,
        lambda x, y: (fx(x, y), fy(x, y)),
        lambda x, y: (fxx(x, y), fxy(x, y), fyy(x, y)),
        (-h, h),
        (-h, h),
        kinks,
    )


def get_surface(key, text=""):
    """The built-in surface ``key``, or the typed formula ``text`` when key is "typed"."""
    if key == "typed":
        return parse_surface(text)
    if key not in SURFACES:
        raise SurfaceError(f"unknown surface {key!r}: choose one of {', '.join(SURFACES)} or 'typed'")
    return SURFACES[key]

"""Arithmetic formulas over named scores: the `calculate_output` of OpenAI's multi grader,
e.g. "0.5 * accuracy + 0.5 * min(style, 1)".

A formula is parsed with `ast` and checked node by node against a whitelist; it is never
handed to `eval`. Allowed: numbers, names, unary + and -, binary + - * / % **, parentheses
and calls to the functions in `FUNCTIONS` with positional arguments. Arithmetic is done in
floats, so `10 ** 10 ** 10` overflows at once instead of computing a huge integer.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache

from tuneloop_core.errors import InvalidRequestError

MAX_LENGTH = 1000  # characters of formula text
MAX_DEPTH = 40  # nesting of operations and calls: far beyond any real formula
DEFAULT_PARAM = "calculate_output"

# name → (function, fewest arguments, most arguments)
FUNCTIONS: Mapping[str, tuple[Callable[..., float], int, int]] = {
    "min": (min, 2, 64),
    "max": (max, 2, 64),
    "abs": (abs, 1, 1),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "exp": (math.exp, 1, 1),
    "sqrt": (math.sqrt, 1, 1),
    "log": (math.log, 1, 2),  # log(x) is natural, log(x, base) any base
}
_BINARY: Mapping[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: math.pow,  # a float or an error, never a complex number
}
_UNARY: Mapping[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: lambda a: a,
    ast.USub: lambda a: -a,
}
# What the user wrote, in words, for the constructs people try most often.
_FORBIDDEN: Mapping[type[ast.AST], str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripts",
    ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.Compare: "comparisons",
    ast.BoolOp: "and/or",
    ast.IfExp: "conditional expressions",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.NamedExpr: "assignments",
    ast.Starred: "* arguments",
    ast.JoinedStr: "strings",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "slices",
}
_OPERATOR_SYMBOLS: Mapping[type[ast.AST], str] = {
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.Not: "not",
    ast.Invert: "~",
}
_ALLOWED_TEXT = "numbers, grader names, + - * / % **, parentheses and calls to " + ", ".join(
    FUNCTIONS
)


def names(expression: str, *, param: str = DEFAULT_PARAM) -> set[str]:
    """The variable names `expression` uses; InvalidRequestError if it is no valid formula."""
    tree = _parse(expression, param)
    # Function names appear only as the callee of a call (_check_node makes sure of it).
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id not in FUNCTIONS
    }


def check(expression: str, known: Iterable[str], param: str) -> None:
    """InvalidRequestError unless `expression` is valid and uses only `known` names."""
    known_names = set(known)
    unknown = sorted(names(expression, param=param) - known_names)
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        what = "is not a grader name" if len(unknown) == 1 else "are not grader names"
        raise InvalidRequestError(
            f"the formula {_quoted(expression)} uses {listed}, which {what} "
            f"(known: {', '.join(sorted(known_names)) or 'none'})",
            param=param,
        )


def evaluate(expression: str, values: Mapping[str, float]) -> float:
    """The formula's value for `values`. ValueError on division by zero, a math domain
    error, overflow, a non-finite result or a name without a value; InvalidRequestError if
    the formula itself is invalid (`check` it first)."""
    tree = _parse(expression, DEFAULT_PARAM)
    try:
        result = _value(tree.body, values)
    except ZeroDivisionError as error:
        raise ValueError(f"the formula {_quoted(expression)} divides by zero") from error
    except OverflowError as error:
        raise ValueError(f"the formula {_quoted(expression)} overflows") from error
    except ValueError as error:
        raise ValueError(f"the formula {_quoted(expression)} failed: {error}") from error
    if not math.isfinite(result):
        raise ValueError(f"the formula {_quoted(expression)} is not finite ({result})")
    return result


@lru_cache(maxsize=256)
def _parse(expression: str, param: str) -> ast.Expression:
    """The checked syntax tree (cached: one formula is evaluated once per item)."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidRequestError("the formula is empty", param=param)
    if len(expression) > MAX_LENGTH:
        raise InvalidRequestError(
            f"the formula is {len(expression)} characters long; at most {MAX_LENGTH}",
            param=param,
        )
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise InvalidRequestError(
            f"the formula {_quoted(expression)} is not valid: {error.msg}", param=param
        ) from None
    except (RecursionError, MemoryError, ValueError):
        raise InvalidRequestError(
            f"the formula {_quoted(expression)} is nested too deeply", param=param
        ) from None
    _check_node(tree.body, expression, param, depth=0)
    return tree


def _check_node(node: ast.AST, expression: str, param: str, depth: int) -> None:
    def reject(what: str) -> InvalidRequestError:
        return InvalidRequestError(
            f"the formula {_quoted(expression)} contains {what}, which is not allowed; "
            f"use {_ALLOWED_TEXT}",
            param=param,
        )

    if depth > MAX_DEPTH:
        raise InvalidRequestError(
            f"the formula is nested more than {MAX_DEPTH} levels deep", param=param
        )
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise reject("strings" if isinstance(value, str | bytes) else repr(value))
        return
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise reject(f"{node.id} without a call (write {node.id}(...))")
        return
    if isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise reject(f"the operator {_OPERATOR_SYMBOLS.get(type(node.op), '?')}")
        _check_node(node.operand, expression, param, depth + 1)
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise reject(f"the operator {_OPERATOR_SYMBOLS.get(type(node.op), '?')}")
        _check_node(node.left, expression, param, depth + 1)
        _check_node(node.right, expression, param, depth + 1)
        return
    if isinstance(node, ast.Call):
        _check_call(node, reject)
        for argument in node.args:
            _check_node(argument, expression, param, depth + 1)
        return
    raise reject(_FORBIDDEN.get(type(node), type(node).__name__))


def _check_call(node: ast.Call, reject: Callable[[str], InvalidRequestError]) -> None:
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
        called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        raise reject(f"a call to {called}")
    if node.keywords:
        raise reject("keyword arguments")
    if any(isinstance(argument, ast.Starred) for argument in node.args):
        raise reject("* arguments")
    name = node.func.id
    _, fewest, most = FUNCTIONS[name]
    if not fewest <= len(node.args) <= most:
        wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
        count = len(node.args)
        raise reject(
            f"{name}() with {count} argument{'' if count == 1 else 's'} (it takes {wanted})"
        )


def _quoted(expression: str) -> str:
    """The formula for a message: quoted, and cut short when long."""
    return repr(expression if len(expression) <= 100 else expression[:97] + "...")


def _value(node: ast.expr, values: Mapping[str, float]) -> float:
    """Evaluate a tree `_check_node` accepted (its depth is bounded)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise ValueError(f"{node.id!r} has no value")
        value = float(values[node.id])
        if not math.isfinite(value):
            raise ValueError(f"{node.id!r} is {value}")
        return value
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_value(node.operand, values))
    if isinstance(node, ast.BinOp):
        left, right = _value(node.left, values), _value(node.right, values)
        return _finite(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function = FUNCTIONS[node.func.id][0]
        return _finite(float(function(*(_value(argument, values) for argument in node.args))))
    raise AssertionError(f"unchecked node {ast.dump(node)}")  # _check_node rejects it


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise OverflowError(value)
    return value

"""A python grader's source checked without running it (the gateway when an eval or a
grader is created, the evaluator when it takes a run): it must parse and define a
top-level `grade(sample, item)`."""

from __future__ import annotations

import ast

from tuneloop_core.errors import InvalidRequestError

MAX_SOURCE_BYTES = 256 * 1024  # OpenAI's limit on a python grader's source


def check_source(source: str, param: str) -> None:
    """InvalidRequestError unless `source` parses and defines a top-level `grade` that can
    be called with two arguments. Compiles only: nothing is executed."""
    if len(source.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise InvalidRequestError(
            f"the source is longer than {MAX_SOURCE_BYTES // 1024} KiB", param=param
        )
    try:
        tree = ast.parse(source, filename="<grader>")
    except SyntaxError as error:
        raise InvalidRequestError(syntax_error_message(error), param=param) from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise InvalidRequestError(f"the source cannot be compiled: {error}", param=param) from None
    grades = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "grade"
    ]
    if not grades:
        raise InvalidRequestError("the source does not define grade(sample, item)", param=param)
    grade = grades[-1]  # the last definition is the one that counts
    if isinstance(grade, ast.AsyncFunctionDef):
        raise InvalidRequestError(
            "grade(sample, item) must be a plain function, not async", param=param
        )
    if not _takes_two_arguments(grade.args):
        raise InvalidRequestError("grade must take two arguments: grade(sample, item)", param=param)


def syntax_error_message(error: SyntaxError) -> str:
    """What a user reads about a syntax error (sandbox_runner.py words it the same)."""
    if error.lineno is None:  # null bytes, for one
        return f"the source cannot be compiled: {error.msg}"
    return f"the source has a syntax error at line {error.lineno}: {error.msg}"


def _takes_two_arguments(arguments: ast.arguments) -> bool:
    positional = len(arguments.posonlyargs) + len(arguments.args)
    required = positional - len(arguments.defaults)
    # A keyword-only parameter without a default could never be given.
    keyword_only_required = any(default is None for default in arguments.kw_defaults)
    fits = required <= 2 and (positional >= 2 or arguments.vararg is not None)
    return fits and not keyword_only_required

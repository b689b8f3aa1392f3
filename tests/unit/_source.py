"""Parsing the project's source for the guard tests."""

from __future__ import annotations

import ast
import gc


def parse(source: str) -> ast.Module:
    """``ast.parse`` with the garbage collector held off.

    CPython 3.11 keeps the AST builder's recursion depth per interpreter: a collection
    that runs during the parse and whose finalizer formats a traceback (which parses
    source too) leaves it unbalanced, and the parse fails with "AST constructor recursion
    depth mismatch" (cpython gh-106905).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source)
    finally:
        if enabled:
            gc.enable()

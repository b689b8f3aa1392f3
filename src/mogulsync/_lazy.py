"""Package attributes imported on first use (PEP 562), so importing a package stays cheap.

A package ``__init__`` names its public objects and the module each lives in; the module is
imported only when one of them is first read. This keeps ``mogulsync --help`` from importing
httpx, SQLAlchemy or dlt through a package's re-exports.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each name in ``exports`` → its module."""

    def __getattr__(name: str) -> object:  # noqa: N807 - the module hook's required name
        module = exports.get(name)
        if module is None:
            message = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(message)
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later reads skip this hook
        return value

    def __dir__() -> list[str]:  # noqa: N807 - the module hook's required name
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__

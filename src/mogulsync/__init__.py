"""mogulsync: move data between your systems and ChartMogul."""

from __future__ import annotations

from mogulsync.errors import (
    ConfigError,
    FatalError,
    MogulsyncError,
    RetriableError,
    SkippableError,
)


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed metadata on first use (importlib.metadata
    costs ~50 ms of start-up that `mogulsync --help` need not pay)."""
    if name != "__version__":
        message = f"module 'mogulsync' has no attribute {name!r}"
        raise AttributeError(message)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mogulsync")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        return "0.0.0"


__all__ = [
    "ConfigError",
    "FatalError",
    "MogulsyncError",
    "RetriableError",
    "SkippableError",
    "__version__",
]

"""mogulsync: move data between your systems and ChartMogul."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from mogulsync.errors import (
    ConfigError,
    FatalError,
    MogulsyncError,
    RetriableError,
    SkippableError,
)

try:
    __version__ = version("mogulsync")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "ConfigError",
    "FatalError",
    "MogulsyncError",
    "RetriableError",
    "SkippableError",
    "__version__",
]

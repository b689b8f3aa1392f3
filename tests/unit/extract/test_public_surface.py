"""The package's public surface, and that importing it leaves dlt unloaded."""

from __future__ import annotations

import subprocess
import sys

import mogulsync.extract


def test_every_exported_name_exists() -> None:
    """Each name in ``__all__`` is an attribute of the package."""
    assert mogulsync.extract.__all__
    missing = [name for name in mogulsync.extract.__all__ if not hasattr(mogulsync.extract, name)]
    assert missing == []


def test_importing_the_package_does_not_load_dlt() -> None:
    """The Airbyte entry point's package import stays lean: dlt loads only when a run starts."""
    code = "import sys, mogulsync.extract, mogulsync.extract.cli; print('dlt' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"

"""Moved to :mod:`mogulsync.exit_codes` (exit codes belong to the CLI); kept for old imports."""

from __future__ import annotations

from mogulsync.exit_codes import BY_STATUS, CONFIG, FAILED, LOCKED, PARTIAL, SUCCESS, USAGE

__all__ = ["BY_STATUS", "CONFIG", "FAILED", "LOCKED", "PARTIAL", "SUCCESS", "USAGE"]

"""``python -m mogulsync``."""

from __future__ import annotations

from mogulsync.cli import main

main()

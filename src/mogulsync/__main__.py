"""``python -m mogulsync``."""

from __future__ import annotations

from mogulsync._entry import main

main()

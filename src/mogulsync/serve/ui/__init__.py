"""The web UI: Jinja2 templates and a little plain JavaScript, all shipped in the wheel."""

from __future__ import annotations

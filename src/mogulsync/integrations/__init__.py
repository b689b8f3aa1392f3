"""Adapters from other tools (Dagster, dbt) to mogulsync's library API.

Optional and imported only when used: nothing in the core imports this package.
"""

from __future__ import annotations

"""Every ``/v1`` route of the emulator, one module per API area."""

from __future__ import annotations

from starlette.routing import BaseRoute

from mogulsync.emulator.routes import account, data_sources

ALL_ROUTES: list[BaseRoute] = [
    *account.ROUTES,
    *data_sources.ROUTES,
]

__all__ = ["ALL_ROUTES"]

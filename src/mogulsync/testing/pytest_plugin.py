"""A pytest plugin: a local ChartMogul emulator for any test suite (entry point ``pytest11``).

Installing mogulsync registers it; a test asks for the ``chartmogul_emulator`` fixture and
gets a running emulator on a loopback port, with its base URL and API key::

    def test_creates_a_customer(chartmogul_emulator):
        config = chartmogul.Config(chartmogul_emulator.api_key)
        config.uri = chartmogul_emulator.url
        ...

Options come from the ``chartmogul_emulator`` marker or an indirect parameter (both take
the same keywords; the parameter wins): the limits ``rate_limit``, ``max_connections``,
``latency_ms`` (unlimited by default, so functional tests never meet a 429), ``faults``
(a dict of :class:`~mogulsync.emulator.settings.Faults` fields), ``clock`` (an aware
``datetime`` or an ISO 8601 string with a zone: the account's clock starts stopped there)
and any other :class:`~mogulsync.emulator.settings.EmulatorSettings` field (``api_keys``,
``read_only_keys``, ``account_name``, ``currency``, ``json_import_step_s``).

The account's clock stamps every ``created_at``/``updated_at`` the emulator writes and
decides which revenue movements are visible ("today"). A test drives it with
``drive_clock``/``advance_clock`` so it depends neither on today's date nor on its speed.

This module is imported by every pytest run where mogulsync is installed, so it imports
nothing heavy at module level: the emulator (Starlette, uvicorn) loads only when a test
uses the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mogulsync.emulator.server import EmulatorServer

MARKER = "chartmogul_emulator"
LIMIT_KEYS = frozenset({"rate_limit", "max_connections", "latency_ms"})


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (so ``--strict-markers`` suites accept it)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): settings of the chartmogul_emulator fixture (limits: "
        "rate_limit, max_connections, latency_ms; faults={...}; api_keys=[...]; ...)",
    )


@dataclass
class ChartMogulEmulator:
    """A running emulator, as the fixture gives it."""

    server: EmulatorServer
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the API is under ``/v1``, the admin API under
        ``/_emulator``)."""
        return self.server.base_url

    @property
    def url(self) -> str:
        """The API root to give a client, ``http://127.0.0.1:<port>/v1``."""
        return f"{self.server.base_url}/v1"

    @property
    def api_key(self) -> str:
        """An accepted API key (Basic auth, the key as the user name)."""
        return self.server.api_key

    def set_faults(self, **faults: Any) -> None:
        """Random faults from now on (``error_rate=0.2, seed=1``...); none when empty."""
        from mogulsync.emulator.settings import Faults

        self.server.emulator.faults.configure(Faults.model_validate(faults))

    def script_fault(
        self,
        fault: str,
        *,
        method: str | None = None,
        path_pattern: str | None = None,
        status: int = 500,
        query_pattern: str | None = None,
    ) -> None:
        """A one-shot fault for the next matching request: ``error`` (with ``status``),
        ``rate_limit``, ``drop``, ``lost_response``, ``error_after_write`` (the write is
        committed, then ``status`` answers) or ``malformed``. ``path_pattern`` and
        ``query_pattern`` are regexes searched in the path and the (decoded) query string."""
        from mogulsync.emulator.settings import ScriptedFault

        scripted = ScriptedFault(
            fault=fault,
            status=status,
            method=method,
            path_pattern=path_pattern,
            query_pattern=query_pattern,
        )
        self.server.emulator.faults.faults.script.append(scripted)

    def set_limits(self, **limits: Any) -> None:
        """Change ``rate_limit``, ``max_connections`` or ``latency_ms`` while running."""
        from mogulsync.emulator.settings import Limits

        emulator = self.server.emulator
        merged = emulator.settings.limits.model_dump() | limits
        emulator.settings.limits = Limits.model_validate(merged)
        emulator.bucket.configure(emulator.settings.limits.rate_limit)

    def now(self) -> datetime:
        """The account's current time (driven, or real time)."""
        return self.server.emulator.clock()

    def drive_clock(self, moment: datetime | str | None) -> datetime:
        """Stop the account's clock at ``moment`` (an aware ``datetime`` or an ISO 8601
        string with a zone) and return it; ``None`` follows real time again."""
        from pydantic import AwareDatetime, TypeAdapter

        emulator = self.server.emulator
        parsed = None if moment is None else TypeAdapter(AwareDatetime).validate_python(moment)
        emulator.drive_clock(parsed)
        return emulator.clock()

    def advance_clock(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Stop the clock ``delta`` (or ``timedelta(**parts)``: ``days=1``, ``hours=2``...)
        after its current time and return the new moment."""
        step = (delta or timedelta()) + timedelta(**parts)
        return self.server.emulator.advance_clock(step)

    def stats(self) -> dict[str, Any]:
        """Requests served by endpoint and status, 429s, 503s, faults injected."""
        emulator = self.server.emulator
        snapshot: dict[str, Any] = emulator.stats.snapshot(emulator.faults.injected)
        return snapshot

    def reset(self) -> None:
        """Forget every object and counter (settings stay)."""
        self.server.emulator.reset()


def emulator_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The marker's keywords, then an indirect parameter's, merged."""
    options: dict[str, Any] = {}
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keywords only")
        options.update(marker.kwargs)
    param = getattr(request, "param", None)
    if param is not None:
        if not isinstance(param, Mapping):
            raise pytest.UsageError(f"an indirect {MARKER} parameter must be a dict of options")
        options.update(param)
    return options


def build_settings(options: Mapping[str, Any]) -> Any:
    """:class:`EmulatorSettings` from fixture options (unlimited unless limits are given)."""
    from mogulsync.emulator.settings import EmulatorSettings, Limits

    limits = {"rate_limit": 0, "max_connections": 0} | {
        key: value for key, value in options.items() if key in LIMIT_KEYS
    }
    rest = {key: value for key, value in options.items() if key not in LIMIT_KEYS}
    return EmulatorSettings.model_validate({"limits": Limits.model_validate(limits), **rest})


@pytest.fixture
def chartmogul_emulator(request: pytest.FixtureRequest) -> Iterator[ChartMogulEmulator]:
    """A fresh ChartMogul emulator on a loopback port for this test."""
    import pydantic

    from mogulsync.emulator.server import EmulatorServer

    options = emulator_options(request)
    try:
        settings = build_settings(options)
    except pydantic.ValidationError as exc:  # name each bad option on one line
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise pytest.UsageError(f"invalid {MARKER} option(s): {problems}") from exc
    with EmulatorServer(settings) as server:
        yield ChartMogulEmulator(server, options)

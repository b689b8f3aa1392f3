"""The admin API outside ``/v1``: faults, limits, clock, stats and reset, for tests and
benchmarks."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mogulsync.emulator._http import json_body, parse_json
from mogulsync.emulator.settings import Faults, Limits, ScriptedFault
from mogulsync.emulator.state import emulator_of


def _errors(exc: ValidationError) -> list[Any]:
    """pydantic's errors as JSON-safe data (its own encoder turns any exception in a
    validator's context into text)."""
    errors: list[Any] = json.loads(exc.json(include_url=False))
    return errors


async def health(request: Request) -> JSONResponse:
    """``GET /_emulator/health``."""
    del request
    return JSONResponse({"status": "ok"})


async def stats(request: Request) -> JSONResponse:
    """``GET /_emulator/stats``; ``DELETE`` zeroes the counters."""
    emulator = emulator_of(request)
    if request.method == "DELETE":
        emulator.stats.reset()
        emulator.faults.injected.clear()
    return JSONResponse(emulator.stats.snapshot(emulator.faults.injected))


async def reset(request: Request) -> JSONResponse:
    """``POST /_emulator/reset``: forget all data and counters (settings stay)."""
    emulator_of(request).reset()
    return JSONResponse({"status": "reset"})


async def faults(request: Request) -> JSONResponse:
    """``GET`` fault settings; ``PUT`` replaces, ``PATCH`` changes some, ``DELETE`` clears."""
    emulator = emulator_of(request)
    current = emulator.faults.faults
    try:
        if request.method == "PUT":
            emulator.faults.configure(Faults.model_validate(await json_body(request)))
        elif request.method == "PATCH":
            merged = current.model_dump() | await json_body(request)
            emulator.faults.configure(Faults.model_validate(merged))
        elif request.method == "DELETE":
            emulator.faults.configure(Faults())
    except ValidationError as exc:
        return JSONResponse({"errors": _errors(exc)}, status_code=422)
    return JSONResponse(emulator.faults.faults.model_dump())


async def script(request: Request) -> JSONResponse:
    """``POST /_emulator/faults/script``: queue one-shot faults (a list or one object)."""
    emulator = emulator_of(request)
    raw = parse_json(await request.body())
    items = raw if isinstance(raw, list) else [raw]
    queued: list[ScriptedFault] = []
    errors: list[Any] = []
    for index, item in enumerate(items):
        try:
            queued.append(ScriptedFault.model_validate(item))
        except ValidationError as exc:
            where: tuple[int, ...] = (index,) if isinstance(raw, list) else ()
            errors += [{**error, "loc": [*where, *error["loc"]]} for error in _errors(exc)]
    if errors:  # all or nothing: a script half queued would run faults nobody asked for
        return JSONResponse({"errors": errors}, status_code=422)
    emulator.faults.faults.script.extend(queued)
    return JSONResponse({"script": [f.model_dump() for f in emulator.faults.faults.script]})


async def limits(request: Request) -> JSONResponse:
    """``GET`` the limits; ``PATCH`` changes rate_limit, max_connections or latency_ms."""
    emulator = emulator_of(request)
    if request.method == "PATCH":
        try:
            merged = emulator.settings.limits.model_dump() | await json_body(request)
            emulator.settings.limits = Limits.model_validate(merged)
        except ValidationError as exc:
            return JSONResponse({"errors": _errors(exc)}, status_code=422)
        emulator.bucket.configure(emulator.settings.limits.rate_limit)
    return JSONResponse(emulator.settings.limits.model_dump())


class ClockChange(BaseModel):
    """``PUT /_emulator/clock``: stop the clock at ``now``, or ``advance_seconds`` after
    its current time (exactly one of them)."""

    model_config = ConfigDict(extra="forbid")

    now: AwareDatetime | None = None
    advance_seconds: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one(self) -> ClockChange:
        if (self.now is None) == (self.advance_seconds is None):
            message = 'give exactly one of "now" (ISO 8601 with a zone) or "advance_seconds"'
            raise ValueError(message)
        return self


def _seconds(seconds: float) -> timedelta:
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"advance_seconds={seconds} is past the year 9999") from None


async def clock(request: Request) -> JSONResponse:
    """``GET`` the account's time; ``PUT`` stops it (``now`` or ``advance_seconds``);
    ``DELETE`` follows real time again."""
    emulator = emulator_of(request)
    if request.method == "PUT":
        try:
            change = ClockChange.model_validate(await json_body(request))
        except ValidationError as exc:
            return JSONResponse({"errors": _errors(exc)}, status_code=422)
        try:
            if change.now is not None:
                emulator.drive_clock(change.now)
            else:
                emulator.advance_clock(_seconds(change.advance_seconds or 0))
        except ValueError as exc:  # past the latest moment the clock can show
            field = "now" if change.now is not None else "advance_seconds"
            return JSONResponse({"errors": [{"loc": [field], "msg": str(exc)}]}, 422)
    elif request.method == "DELETE":
        emulator.drive_clock(None)
    return JSONResponse({"now": emulator.clock().isoformat(), "driven": emulator.clock_driven})


ADMIN_ROUTES = [
    Route("/_emulator/health", health, methods=["GET"]),
    Route("/_emulator/stats", stats, methods=["GET", "DELETE"]),
    Route("/_emulator/reset", reset, methods=["POST"]),
    Route("/_emulator/faults", faults, methods=["GET", "PUT", "PATCH", "DELETE"]),
    Route("/_emulator/faults/script", script, methods=["POST"]),
    Route("/_emulator/limits", limits, methods=["GET", "PATCH"]),
    Route("/_emulator/clock", clock, methods=["GET", "PUT", "DELETE"]),
]

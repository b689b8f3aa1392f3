"""What every resource group shares: the requester and typed parsing helpers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from mogulsync.chartmogul._requester import Requester
from mogulsync.chartmogul.errors import ResponseFormatError
from mogulsync.chartmogul.models import ChartMogulModel, reader
from mogulsync.chartmogul.pagination import Pager

M = TypeVar("M", bound=ChartMogulModel)


class Resource:
    """A group of API calls over one requester."""

    def __init__(self, requester: Requester) -> None:
        self._requester = requester

    def _pager(
        self,
        model: type[M],
        endpoint: str,
        *,
        key: str,
        path: Mapping[str, str | int] | None = None,
        params: Mapping[str, str | int | bool | None] | None = None,
        per_page: int,
        empty_on_not_found: bool = False,
    ) -> Pager[M]:
        return Pager(
            self._requester,
            endpoint,
            key=key,
            parse=reader(model, endpoint),
            path=path,
            params=params,
            per_page=per_page,
            empty_on_not_found=empty_on_not_found,
        )


def parse_one(model: type[M], endpoint: str, raw: Any) -> M:
    """One object from a response body."""
    return reader(model, endpoint)(expect_object(endpoint, raw))


def expect_object(endpoint: str, raw: Any) -> dict[str, Any]:
    """The body as a JSON object, or ResponseFormatError."""
    if not isinstance(raw, dict):
        raise ResponseFormatError(
            f"{endpoint} returned {type(raw).__name__}, not a JSON object",
            method="-",
            endpoint=endpoint,
        )
    return raw


def expect_list(endpoint: str, raw: Any, key: str) -> list[dict[str, Any]]:
    """``raw[key]`` as a list of JSON objects, or ResponseFormatError."""
    items = expect_object(endpoint, raw).get(key)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ResponseFormatError(
            f"{endpoint} returned no '{key}' list", method="-", endpoint=endpoint
        )
    return items


def first_match(items: list[dict[str, Any]], **wanted: str | None) -> dict[str, Any] | None:
    """The first item whose fields equal every non-None wanted value."""
    for item in items:
        if all(value is None or item.get(name) == value for name, value in wanted.items()):
            return item
    return None

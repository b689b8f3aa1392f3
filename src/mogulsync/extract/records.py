"""Turning the client's response models back into records shaped like the API's JSON.

The client parses every response into a pydantic model that keeps unknown fields; a record
is that model dumped with its wire names (``customer-since``, ``activity-mrr``) and only
the keys the API actually sent. Warehouse loads keep Python ``datetime`` values so columns
are typed; the Airbyte protocol needs JSON values (the API's own JSON, see
``_partitions.emit_page``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

Record = dict[str, Any]
RecordMode = Literal["python", "json"]


def to_record(model: BaseModel, mode: RecordMode = "python") -> Record:
    """One response model as a record with the API's own keys."""
    return model.model_dump(mode=mode, by_alias=True, exclude_unset=True)

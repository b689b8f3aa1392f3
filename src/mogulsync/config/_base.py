"""Base class for every configuration model: frozen, strict about unknown keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """Frozen pydantic model that rejects unknown keys (typos fail loudly)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

"""``chartmogul:`` — how to reach ChartMogul (or the emulator)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from mogulsync.config._base import ConfigModel

DEFAULT_BASE_URL = "https://api.chartmogul.com"


class ChartMogulConfig(ConfigModel):
    """API key (always from ``${ENV}``), endpoint and the account's limits."""

    api_key: SecretStr
    base_url: str = DEFAULT_BASE_URL
    rate_limit: float = Field(default=40.0, gt=0, description="requests per second for the account")
    max_in_flight: int = Field(default=20, ge=1, description="parallel requests for the account")
    json_import_timeout_s: float = Field(
        default=600.0, gt=0, description="how long a run waits for one bulk import to finish"
    )

"""`chartmogul.json_import_timeout_s` reaches the client's bulk-import polling."""

from __future__ import annotations

from mogulsync.config import parse_config
from mogulsync.sync.connect import client_settings


def test_json_import_timeout_reaches_the_client_settings():
    """The project file's bulk-import timeout becomes the client's polling timeout."""
    config = parse_config(
        {"chartmogul": {"api_key": "${K}", "json_import_timeout_s": 42}}, env={"K": "key"}
    )
    assert client_settings(config).json_import_polling.timeout_s == 42


def test_json_import_timeout_defaults_to_ten_minutes():
    """Without the key, a run polls one import for 600 s."""
    config = parse_config({"chartmogul": {"api_key": "${K}"}}, env={"K": "key"})
    assert client_settings(config).json_import_polling.timeout_s == 600

"""Links to the documentation, for messages and the web UI.

A pip install has no ``docs/`` folder: a message saying "see docs/extract.md" sent its
reader to a file they do not have. Messages name these addresses instead (kept in one
place; ``tests/unit/test_docs_links.py`` checks each page and heading exists).
"""

from __future__ import annotations

CONFIGURATION = "https://github.com/mogulsync/mogulsync/blob/main/docs/configuration.md"
WAREHOUSES = "https://github.com/mogulsync/mogulsync/blob/main/docs/configuration.md#warehouses"
EVENTS_CONFIGURE = "https://github.com/mogulsync/mogulsync/blob/main/docs/events.md#configure"
EXTRACT = "https://github.com/mogulsync/mogulsync/blob/main/docs/extract.md"
EXTRACT_DESTINATIONS = (
    "https://github.com/mogulsync/mogulsync/blob/main/docs/extract.md#destinations"
)
ALERTS = "https://github.com/mogulsync/mogulsync/blob/main/docs/operations.md#alerts"
EVENTS_ALERTS = "https://github.com/mogulsync/mogulsync/blob/main/docs/operations.md#events-alerts"
SYNC_LOGS = "https://github.com/mogulsync/mogulsync/blob/main/docs/operations.md#sync-logs"
SCHEDULES = "https://github.com/mogulsync/mogulsync/blob/main/docs/serve.md#schedules"

"""A parquet destination without pyarrow is refused before any page is fetched."""

from __future__ import annotations

import importlib.util

import pytest

from mogulsync.errors import ConfigError
from mogulsync.extract.destinations import parse_destination

URL = "file:///data/chartmogul?format=parquet"


def test_parquet_is_checked_when_the_url_is_parsed() -> None:
    """dlt failed in its normalize step, after the whole account was read, and named
    `dlt[parquet]` rather than mogulsync's extra."""
    if importlib.util.find_spec("pyarrow") is not None:
        assert parse_destination(URL).loader_file_format == "parquet"
        return
    with pytest.raises(ConfigError) as caught:
        parse_destination(URL)
    assert "the parquet format needs pyarrow" in caught.value.message
    assert caught.value.hint.startswith('pip install "mogulsync[parquet]"')

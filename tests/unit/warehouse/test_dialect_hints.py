"""A warehouse whose SQLAlchemy dialect is not installed names the package to install."""

from __future__ import annotations

import importlib.util

import pytest
from pydantic import SecretStr

from mogulsync.config import WarehouseConfig
from mogulsync.warehouse import SqlAlchemySource, WarehouseError

DATABRICKS = "databricks://token:secret-token@adb-1.azuredatabricks.net?http_path=/sql/1"


@pytest.mark.skipif(
    importlib.util.find_spec("databricks") is not None, reason="the dialect is installed here"
)
def test_a_databricks_url_without_its_dialect_names_the_extra_and_hides_the_token() -> None:
    """Census's Databricks source: `pip install 'mogulsync[databricks]'`, never the token."""
    with pytest.raises(WarehouseError) as caught:
        SqlAlchemySource("lake", WarehouseConfig(url=SecretStr(DATABRICKS)))
    assert "pip install 'mogulsync[databricks]'" in (caught.value.hint or "")
    assert "databricks://token:${DATABRICKS_TOKEN}@HOST" in (caught.value.hint or "")
    assert "secret-token" not in f"{caught.value} {caught.value.hint}"

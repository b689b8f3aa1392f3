"""Loading mogulsync.yml: ${ENV} secrets, every problem at once with its YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from mogulsync.config import ConfigValidationError, load_config, parse_config
from mogulsync.errors import ConfigError

GOOD = """
chartmogul:
  api_key: ${CHARTMOGUL_API_KEY}
  base_url: http://127.0.0.1:8780
warehouses:
  main: duckdb:///warehouse.duckdb
models:
  accounts:
    warehouse: main
    sql: select * from accounts
    primary_key: id
syncs:
  customers:
    model: accounts
    object: customer
    mode: upsert
    match: external_id
    data_source: Warehouse
    mapping: {external_id: id, name: company_name}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mogulsync.yml"
    path.write_text(text)
    return path


def test_good_file_loads_with_env_secret(tmp_path: Path) -> None:
    """A valid file loads; the key comes from the environment and stays secret."""
    config = load_config(_write(tmp_path, GOOD), env={"CHARTMOGUL_API_KEY": "k_live_1234"})
    assert config.chartmogul.api_key.get_secret_value() == "k_live_1234"
    assert "k_live_1234" not in repr(config)
    assert config.warehouses["main"].url.get_secret_value() == (
        f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    )
    assert config.syncs["customers"].mapping["name"] == "company_name"
    assert config.models["accounts"].primary_key_columns == ("id",)


def test_every_problem_reported_with_its_path(tmp_path: Path) -> None:
    """Unset env vars, bad enums, unknown keys and dangling references are listed together."""
    bad = (
        GOOD.replace("mode: upsert", "mode: merge").replace("model: accounts", "model: acounts")
        + "\nextra_section: 1\n"
    )
    with pytest.raises(ConfigValidationError) as caught:
        load_config(_write(tmp_path, bad), env={})
    problems = "\n".join(caught.value.problems)
    assert "chartmogul.api_key: environment variable CHARTMOGUL_API_KEY is not set" in problems
    assert "syncs.customers.mode" in problems
    assert "extra_section" in problems
    assert len(caught.value.problems) >= 3


def test_literal_api_key_refused() -> None:
    """A key written in clear in the file is an error that says to use ${ENV}."""
    raw = {"chartmogul": {"api_key": "k_live_in_clear"}}
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(raw, env={})
    assert "chartmogul.api_key: secrets must come from the environment" in caught.value.problems[0]
    assert "k_live_in_clear" not in str(caught.value)


def test_cross_references_checked() -> None:
    """A sync naming an unknown model and a model naming an unknown warehouse are errors."""
    raw = {
        "chartmogul": {"api_key": "${K}"},
        "models": {"m": {"warehouse": "nope", "table": "t", "primary_key": "id"}},
        "syncs": {"s": {"model": "missing", "object": "customer"}},
    }
    with pytest.raises(ConfigValidationError) as caught:
        parse_config(raw, env={"K": "key1"})
    text = str(caught.value)
    assert "models.m.warehouse: no warehouse named `nope`" in text
    assert "syncs.s.model: no model named `missing`" in text


@pytest.mark.parametrize(
    ("sync", "message"),
    [
        ({"object": "invoice", "mode": "upsert"}, "mode `upsert` is not available for invoices"),
        ({"object": "plan", "match": "email"}, "match `email` is not available for plans"),
        ({"object": "customer", "mode": "upsert", "match": "uuid"}, "use mode `update`"),
    ],
)
def test_mode_and_match_per_object(sync: dict[str, str], message: str) -> None:
    """Modes and match keys an object does not support are refused at load time."""
    raw = {
        "chartmogul": {"api_key": "${K}"},
        "warehouses": {"w": "duckdb:///:memory:"},
        "models": {"m": {"warehouse": "w", "table": "t", "primary_key": "id"}},
        "syncs": {"s": {"model": "m", **sync}},
    }
    with pytest.raises(ConfigValidationError, match=message):
        parse_config(raw, env={"K": "key1"})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing project file says how to create one."""
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yml")


def test_env_default_syntax() -> None:
    """${VAR:-default} falls back to the default."""
    config = parse_config(
        {"chartmogul": {"api_key": "${K}", "base_url": "${CM_URL:-http://127.0.0.1:8780}"}},
        env={"K": "key1"},
    )
    assert config.chartmogul.base_url == "http://127.0.0.1:8780"


def test_a_value_of_no_allowed_type_is_one_problem_at_its_key(tmp_path: Path) -> None:
    """pydantic reports a union once per member, under tags such as `list[str]`: the user
    gets one line at the YAML path, each accepted form named."""
    text = GOOD.replace("primary_key: id", "primary_key: 5").replace(
        "data_source: Warehouse", "data_source: Warehouse\n    custom_attributes: 7"
    )
    with pytest.raises(ConfigValidationError) as caught:
        load_config(_write(tmp_path, text), env={"CHARTMOGUL_API_KEY": "k" * 20})
    key = "models.accounts.primary_key: Input should be a valid string; or Input should be a"
    attributes = "syncs.customers.custom_attributes: Input should be 'auto' or 'none'; or Input"
    assert caught.value.problems == [f"{key} valid list", f"{attributes} should be a valid list"]

"""``max_deletes`` in the project file: its forms, its default and its errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from mogulsync.config import ConfigValidationError, load_config
from mogulsync.config.delete_limit import DEFAULT_DELETE_LIMIT, DeleteLimit

PROJECT = """
chartmogul: {{api_key: "${{CM_KEY}}"}}
warehouses: {{main: "duckdb:///w.duckdb"}}
models: {{accounts: {{warehouse: main, table: accounts, primary_key: id}}}}
syncs:
  customers:
    model: accounts
    object: customer
    on_delete: delete
{extra}
"""


def _load(tmp_path: Path, extra: str) -> DeleteLimit | None:
    path = tmp_path / "mogulsync.yml"
    path.write_text(PROJECT.format(extra=extra), encoding="utf-8")
    return load_config(path, env={"CM_KEY": "k"}).syncs["customers"].max_deletes


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("25", DeleteLimit(count=25)),
        ("0", DeleteLimit(count=0)),
        ('"25"', DeleteLimit(count=25)),
        ('"20%"', DeleteLimit(percent=Fraction(20))),
        ("12.5%", DeleteLimit(percent=Fraction(25, 2))),
        ("null", None),
        ("none", None),
        ("~", None),
        ("default", DEFAULT_DELETE_LIMIT),
    ],
)
def test_forms(tmp_path: Path, written: str, expected: DeleteLimit | None) -> None:
    assert _load(tmp_path, f"    max_deletes: {written}") == expected


def test_default_is_half_and_more_than_ten(tmp_path: Path) -> None:
    """Omitted: more than 10 records AND more than half of the managed ones is refused."""
    limit = _load(tmp_path, "")
    assert limit == DEFAULT_DELETE_LIMIT
    assert limit is not None
    assert not limit.exceeded(10, 10)  # a small project may lose all of 10 records
    assert limit.exceeded(11, 11)
    assert not limit.exceeded(50, 100)  # exactly half
    assert limit.exceeded(51, 100)
    assert not limit.exceeded(11, 22)


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("-1", "-1 is negative"),
        ("off", "false is not a limit"),  # YAML 1.1 reads `off` as false
        ("lots", "'lots' is not a limit"),
        ('"150%"', "'150%' is more than 100%"),
        ("2.5", "2.5 is not a limit"),
    ],
)
def test_bad_values_name_the_sync_the_key_and_the_fix(
    tmp_path: Path, written: str, problem: str
) -> None:
    with pytest.raises(ConfigValidationError) as caught:
        _load(tmp_path, f"    max_deletes: {written}")
    text = str(caught.value)
    assert f"syncs.customers.max_deletes: {problem}" in text
    assert 'a percentage (e.g. "20%"), null to turn it off or default' in text


def test_max_deletes_without_on_delete_delete_is_refused(tmp_path: Path) -> None:
    """A limit on a sync that never deletes would read as a safeguard that is not there."""
    path = tmp_path / "mogulsync.yml"
    text = PROJECT.format(extra="    max_deletes: 5").replace(
        "on_delete: delete", "on_delete: ignore"
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigValidationError) as caught:
        load_config(path, env={"CM_KEY": "k"})
    assert "syncs.customers: `max_deletes` only applies with `on_delete: delete`" in str(
        caught.value
    )


OTHER = """
  other:
    model: accounts
    object: customer
"""


@pytest.mark.parametrize(
    "written", ["", "    max_deletes: 7", '    max_deletes: "12.5%"', "    max_deletes: null"]
)
@pytest.mark.parametrize("mode", ["python", "json"])
def test_a_dumped_project_loads_back_the_same_limit(
    tmp_path: Path, written: str, mode: str
) -> None:
    """Tests and tools dump a project and validate it again: the default keeps its floor
    (a plain "50%" would lose it), and a sync without deletes (`other`) keeps loading."""
    path = tmp_path / "mogulsync.yml"
    path.write_text(PROJECT.format(extra=written) + OTHER, encoding="utf-8")
    config = load_config(path, env={"CM_KEY": "k"})
    dumped = config.model_dump(mode=mode, by_alias=True)
    dumped["chartmogul"]["api_key"] = "k"
    for warehouse in dumped["warehouses"].values():
        warehouse["url"] = "duckdb:///w.duckdb"
    again = type(config).model_validate(dumped)
    assert again.syncs["customers"].max_deletes == config.syncs["customers"].max_deletes
    assert again.syncs["other"].max_deletes == DEFAULT_DELETE_LIMIT

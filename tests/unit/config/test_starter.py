"""``mogulsync init``'s starter project: loads as written, holds no secret, fits the URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from mogulsync.config import load_config
from mogulsync.config.starter import starter_project, write_starter
from mogulsync.errors import ConfigError

ENV = {"CHARTMOGUL_API_KEY": "k-123456"}


def test_the_default_starter_loads_and_reads_a_duckdb_file_next_to_it(tmp_path: Path) -> None:
    """Without --warehouse: a DuckDB file beside the project file, one customers sync."""
    path = tmp_path / "mogulsync.yml"
    write_starter(path)
    config = load_config(path, env=ENV)
    url = config.warehouses["main"].url.get_secret_value()
    assert url == f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    assert config.syncs["customers"].data_source == "mogulsync"
    assert "# DuckDB:" in path.read_text()


def test_a_postgresql_url_keeps_its_credentials_out_of_the_file(tmp_path: Path) -> None:
    """The password and a credential parameter become ${VARIABLES} the user is told about."""
    url = "postgresql://bob:s3cret-pw@db:5432/prod?sslmode=require&sslpassword=k3y-pass"
    path = tmp_path / "mogulsync.yml"
    starter = write_starter(path, url)
    text = path.read_text()
    assert "s3cret-pw" not in text
    assert "k3y-pass" not in text
    assert "# PostgreSQL:" in text
    assert starter.variables == ("PGPASSWORD", "WAREHOUSE_SSLPASSWORD")
    env = {**ENV, "PGPASSWORD": "s3cret-pw", "WAREHOUSE_SSLPASSWORD": "k3y-pass"}
    config = load_config(path, env=env)
    assert config.warehouses["main"].url.get_secret_value() == url


@pytest.mark.parametrize(
    ("url", "note"),
    [
        ("duckdb:////data/w.duckdb", "# DuckDB:"),
        ("postgres://u@h/db", "# PostgreSQL:"),
        ("postgresql+psycopg://u:${PW}@h/db", "# PostgreSQL:"),
        ("snowflake://acct/db", "# Any SQLAlchemy URL"),
    ],
)
def test_the_warehouse_is_recognised_from_its_url(url: str, note: str) -> None:
    """Each dialect gets its own comment; a URL already using ${ENV} is kept as it is."""
    starter = starter_project(url)
    assert note in starter.text
    assert f'main: "{url}"' in starter.text
    assert starter.variables == ()


def test_an_existing_file_is_never_overwritten_without_force(tmp_path: Path) -> None:
    """init refuses to clobber a project; --force replaces it."""
    path = tmp_path / "mogulsync.yml"
    path.write_text("mine: true\n")
    with pytest.raises(ConfigError, match="already exists"):
        write_starter(path)
    assert path.read_text() == "mine: true\n"
    write_starter(path, force=True)
    assert "written by `mogulsync init`" in path.read_text()


def test_a_password_for_another_database_is_not_read_from_pgpassword(tmp_path: Path) -> None:
    """PGPASSWORD is libpq's variable: a MySQL password goes to WAREHOUSE_PASSWORD instead."""
    url = "mysql+pymysql://bob:s3cret-pw@db:3306/prod"
    path = tmp_path / "mogulsync.yml"
    starter = write_starter(path, url)
    assert starter.variables == ("WAREHOUSE_PASSWORD",)
    assert 'main: "mysql+pymysql://bob:${WAREHOUSE_PASSWORD}@db:3306/prod"' in path.read_text()
    config = load_config(path, env={**ENV, "WAREHOUSE_PASSWORD": "s3cret-pw"})
    assert config.warehouses["main"].url.get_secret_value() == url


def test_base_url_is_written_uncommented_and_loads(tmp_path: Path) -> None:
    """`init --base-url`: the project calls that API (the emulator) without a hand edit."""
    path = tmp_path / "mogulsync.yml"
    write_starter(path, base_url="http://127.0.0.1:8780")
    assert load_config(path, env=ENV).chartmogul.base_url == "http://127.0.0.1:8780"
    default = tmp_path / "default.yml"
    write_starter(default)
    assert load_config(default, env=ENV).chartmogul.base_url == "https://api.chartmogul.com"
    assert "# base_url: http://127.0.0.1:8780" in default.read_text()


def test_a_base_url_without_its_scheme_is_refused_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "mogulsync.yml"
    with pytest.raises(ConfigError, match="--base-url must start with http"):
        write_starter(path, base_url="127.0.0.1:8780")
    assert not path.exists()


def test_a_base_url_read_from_the_environment_is_kept_as_written(tmp_path: Path) -> None:
    """`--base-url '${CHARTMOGUL_BASE_URL:-http://127.0.0.1:8780}'`, as examples/ do."""
    path = tmp_path / "mogulsync.yml"
    write_starter(path, base_url="${CHARTMOGUL_BASE_URL:-http://127.0.0.1:8780}")
    assert load_config(path, env=ENV).chartmogul.base_url == "http://127.0.0.1:8780"
    env = {**ENV, "CHARTMOGUL_BASE_URL": "http://127.0.0.1:9999"}
    assert load_config(path, env=env).chartmogul.base_url == "http://127.0.0.1:9999"


@pytest.mark.parametrize(
    "url", ["postgresql://u@db/prod", "duckdb:///mine.duckdb", "snowflake://u@acct/db"]
)
def test_only_the_sample_warehouse_is_told_to_be_built_here(url: str) -> None:
    """`init --warehouse postgresql://...` said to build the sample warehouse "here", as a
    DuckDB file the starter's warehouse never reads."""
    assert "writes warehouse.duckdb here" in starter_project().text
    text = starter_project(url).text
    assert "writes warehouse.duckdb here" not in text
    assert "not yours: point it at your own table" in text

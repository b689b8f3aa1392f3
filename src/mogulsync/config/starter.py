"""``mogulsync init``: a commented starter project file, for a user without the examples.

Given a warehouse URL, the starter reads from it: DuckDB and PostgreSQL are recognised and
get their own comments; any credential in the URL is replaced by an ``${ENV}`` reference
(the loader refuses secrets written in clear), and the user is told what to export.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mogulsync._docs import CONFIGURATION, WAREHOUSES
from mogulsync._redact import USERINFO, url_credentials
from mogulsync.config.chartmogul import DEFAULT_BASE_URL
from mogulsync.errors import ConfigError

#: the file `python -m mogulsync.sample_warehouse` writes by default, which the starter reads
SAMPLE_FILE = "warehouse.duckdb"
DEFAULT_WAREHOUSE = f"duckdb:///{SAMPLE_FILE}"
#: where `mogulsync emulator serve` listens by default
EMULATOR_URL = "http://127.0.0.1:8780"
#: docs/errors.md: the configuration must be fixed
CONFIG_EXIT = 4
#: the variable a password in the user info is read from: libpq's own name for PostgreSQL,
#: a neutral one for every other database (a MySQL password in PGPASSWORD would mislead)
PASSWORD_VARIABLE = "PGPASSWORD"  # noqa: S105 (a variable name, not a password)
OTHER_PASSWORD_VARIABLE = "WAREHOUSE_PASSWORD"  # noqa: S105 (a variable name)
_USERINFO_PASSWORD = re.compile(r"^(?P<head>[^:/]+://[^:/@]*:)(?P<password>[^@]*)(?P<tail>@)")

_WAREHOUSE_NOTES = {
    "duckdb": ("# DuckDB: a relative path is relative to this file; mogulsync only reads it.",),
    "postgresql": (
        "# PostgreSQL: the password comes from the environment, never from this file.",
        "# Tables outside the connection's default schema: write the warehouse as",
        "# {url: ..., schema: analytics}.",
    ),
    "other": (
        "# Any SQLAlchemy URL; install the dialect's extra first, e.g.",
        "# `pip install 'mogulsync[snowflake]'`; the extras:",
        f"# {WAREHOUSES}",
    ),
}

#: what the model's comment says of the sample warehouse: the starter's own warehouse is the
#: sample file (True), or another database, where the sample's tables are not (False)
_SAMPLE_NOTES = {
    True: "  # are those of the sample warehouse, to try everything before pointing at your own:\n"
    "  #   python -m mogulsync.sample_warehouse     (writes warehouse.duckdb here)",
    False: "  # are those of mogulsync's sample warehouse (a DuckDB file that\n"
    "  # `python -m mogulsync.sample_warehouse` writes), not yours: point it at your own table.",
}

_TEMPLATE = """\
# mogulsync project file, written by `mogulsync init`.
# Every key: {docs}
# `mogulsync check` validates this file, reaches ChartMogul and compiles every model.
# Secrets are only read from the environment (${{VARIABLE}}); export them before running:
#   export CHARTMOGUL_API_KEY=...{exports}
version: 1

chartmogul:
  api_key: ${{CHARTMOGUL_API_KEY}}
{base_url}

state_dir: .mogulsync                 # sync state and run history (SQLite), next to this file;
                                      # keep it out of version control (.gitignore)

warehouses:
{notes}
  main: {url}

models:
  # A model is a table or a SQL query, and the column(s) identifying a row. These columns
{sample}
  accounts:
    warehouse: main
    sql: select id, company_name, billing_email from accounts
    primary_key: id

syncs:
  # One sync sends one model's rows to one kind of ChartMogul object.
  customers:
    model: accounts
    object: customer                  # customer, contact, plan, invoice or transaction
    mode: upsert                      # insert, update or upsert
    data_source: mogulsync            # created on the first run if missing
    mapping:                          # ChartMogul field: model column
      external_id: id
      name: company_name
      email: billing_email

# Next: `mogulsync check`, then `mogulsync sync plan customers` (no writes), then
# `mogulsync sync run customers`.
"""


@dataclass(frozen=True, slots=True)
class Starter:
    """The file's text and the variables the user must export."""

    text: str
    variables: tuple[str, ...]


def starter_project(warehouse_url: str | None = None, base_url: str | None = None) -> Starter:
    """The starter file for ``warehouse_url`` (default: a DuckDB file next to it), calling
    ChartMogul at ``base_url`` (default: the real API, the emulator's URL in a comment)."""
    url, variables = _without_credentials((warehouse_url or DEFAULT_WAREHOUSE).strip())
    notes = "\n".join(f"  {line}" for line in _WAREHOUSE_NOTES[dialect(url)])
    exports = "".join(f"\n#   export {name}=..." for name in variables)
    # JSON's double-quoted string is valid YAML: a `#` or `: ` in the URL stays in it
    text = _TEMPLATE.format(
        docs=CONFIGURATION,
        notes=notes,
        url=json.dumps(url),
        exports=exports,
        base_url=_base_url_line(base_url),
        sample=_SAMPLE_NOTES[url == DEFAULT_WAREHOUSE],
    )
    return Starter(text, variables)


def _base_url_line(base_url: str | None) -> str:
    """The ``base_url`` line: the emulator's as a comment unless one is given."""
    if base_url is None:
        return f"  # base_url: {EMULATOR_URL}   # the local emulator: `mogulsync emulator serve`"
    url = base_url.strip()
    if not url.startswith(("http://", "https://", "${")):  # or read from the environment
        raise ConfigError(
            f"--base-url must start with http:// or https://, not {url!r}",
            hint=f"The emulator's URL is the one `mogulsync emulator serve` prints,"
            f" e.g. {EMULATOR_URL}.",
        )
    return f"  base_url: {json.dumps(url)}   # leave out for {DEFAULT_BASE_URL}"


def dialect(url: str) -> str:
    """``duckdb``, ``postgresql`` or ``other``, from the URL's scheme."""
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme == "duckdb":
        return "duckdb"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    return "other"


def write_starter(
    path: Path,
    warehouse_url: str | None = None,
    *,
    force: bool = False,
    base_url: str | None = None,
) -> Starter:
    """Write the starter file at ``path``; an existing file is kept unless ``force``."""
    if path.exists() and not force:
        raise ConfigError(
            f"{path} already exists; nothing was written",
            hint="Edit it, pass another -c/--config path, or --force to overwrite it.",
        )
    starter = starter_project(warehouse_url, base_url)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(starter.text, encoding="utf-8")
    return starter


def _without_credentials(url: str) -> tuple[str, tuple[str, ...]]:
    """``url`` with each credential replaced by a ``${VARIABLE}``, and those variables."""
    variables: list[str] = []
    for part, value in url_credentials(url):
        if "${" in value:
            continue  # already read from the environment
        if part == USERINFO:
            name = PASSWORD_VARIABLE if dialect(url) == "postgresql" else OTHER_PASSWORD_VARIABLE
            url = _USERINFO_PASSWORD.sub(rf"\g<head>${{{name}}}\g<tail>", url, 1)
            variables.append(name)
        else:
            name = f"WAREHOUSE_{re.sub(r'[^A-Za-z0-9]', '_', part).upper()}"
            url = url.replace(f"{part}={value}", f"{part}=${{{name}}}", 1)
            variables.append(name)
    return url, tuple(variables)


def run_init(
    path: Path, warehouse_url: str | None, *, force: bool, base_url: str | None = None
) -> None:
    """The ``mogulsync init`` command: write the file, say what to do next."""
    import typer

    from mogulsync import output
    from mogulsync.messages import describe

    try:
        starter = write_starter(path, warehouse_url, force=force, base_url=base_url)
    except ConfigError as exc:
        output.error(describe(exc), exit_code=CONFIG_EXIT)
        raise typer.Exit(CONFIG_EXIT) from None
    # the export lines that follow are what to do next, not what was done: say so
    typer.echo(f"wrote {path}; before running it, export its secrets:")
    for name in ("CHARTMOGUL_API_KEY", *starter.variables):
        typer.echo(f"  export {name}=...")
    # the file calls the real API unless told otherwise: say so, and how to try the emulator
    if base_url is None:
        typer.echo(
            f"it calls ChartMogul at {DEFAULT_BASE_URL}; for the local emulator uncomment"
            f" base_url (or run init again with --base-url {EMULATOR_URL} --force)"
        )
    else:
        typer.echo(f"it calls ChartMogul at {base_url.strip()}")
    if (warehouse_url or DEFAULT_WAREHOUSE).strip() == DEFAULT_WAREHOUSE:
        # the starter's model fits the sample warehouse: try it before editing anything
        sample = path.parent / SAMPLE_FILE
        typer.echo(
            f"its model reads the sample warehouse (`python -m mogulsync.sample_warehouse"
            f" {sample}` writes it); run `mogulsync check -c {path}`, then edit its models"
            " and syncs for your own tables"
        )
    else:
        typer.echo(f"then edit its models and syncs and run `mogulsync check -c {path}`")

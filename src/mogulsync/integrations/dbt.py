"""dbt as dagster-dbt sees it: the asset key a dbt model gets by default.

Our sync assets depend on that key, so ``dagster-dbt`` assets and ours form one graph without
glue code. The rule mirrors dagster-dbt's default translator: an explicit
``meta.dagster.asset_key``; else a versioned model's alias; else the schema configured on the
model (``+schema: marts``) followed by its name; else its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mogulsync.config.dbt import DbtConfig, DbtNode, find_model, load_manifest, meta_asset_key


def default_asset_key(node: DbtNode) -> list[str]:
    """The key dagster-dbt's default translator gives ``node``."""
    if node.meta_asset_key:
        return list(node.meta_asset_key)
    if node.version is not None:
        return [node.alias]
    if node.configured_schema is not None:
        return [node.configured_schema, node.name]
    return [node.name]


@dataclass(frozen=True, slots=True)
class DbtKeys:
    """The dagster-dbt keys a project's asset graph needs, from one read of the manifest."""

    #: ``{our model name: dagster-dbt key}`` for each ``dbt:`` model
    models: dict[str, list[str]]
    #: ``{dagster-dbt key: "source.table"}`` for each source table
    sources: dict[tuple[str, ...], str]


def dbt_keys(dbt: DbtConfig | None, references: dict[str, str]) -> DbtKeys:
    """The keys of the ``dbt:`` models in ``references`` (``{our name: dbt reference}``) and
    of every source; nothing to read without a ``dbt:`` section, or without a manifest when
    no model needs one (a large project's manifest takes seconds to parse: read it once)."""
    if dbt is None or (not references and not dbt.manifest_path.is_file()):
        return DbtKeys({}, {})
    manifest = load_manifest(dbt)
    models = {
        name: default_asset_key(find_model(manifest, dbt, reference))
        for name, reference in references.items()
    }
    return DbtKeys(models, source_asset_keys(manifest))


def source_asset_keys(manifest: dict[str, Any]) -> dict[tuple[str, ...], str]:
    """``{dagster-dbt key: "source.table"}`` for every source table in the manifest.

    dagster-dbt keys a source table ``[source name, table name]`` unless its
    ``meta.dagster.asset_key`` says otherwise.
    """
    keys: dict[tuple[str, ...], str] = {}
    for node in (manifest.get("sources") or {}).values():
        keys[source_key(node)] = f"{node['source_name']}.{node['name']}"
    return keys


def source_key(node: dict[str, Any]) -> tuple[str, ...]:
    """The key dagster-dbt gives a source table's manifest ``node``."""
    return meta_asset_key(node) or (node["source_name"], node["name"])


@dataclass(frozen=True, slots=True)
class SourceTable:
    """A dbt source table and the key dagster-dbt gives it."""

    #: ``source.table`` as dbt names it
    name: str
    key: tuple[str, ...]


def tables_read_by_sources(dbt: DbtConfig | None, dataset: str) -> dict[str, list[SourceTable]]:
    """``{table: the dbt source tables reading it}`` for tables of schema ``dataset``.

    A source reads ``<dataset>.<table>`` when its schema is the dataset (dbt's default
    schema is the source's name) and its identifier the table (default: its name). Nothing
    without a ``dbt:`` section or before the manifest exists.
    """
    if dbt is None or not dbt.manifest_path.is_file():
        return {}
    readers: dict[str, list[SourceTable]] = {}
    for node in (load_manifest(dbt).get("sources") or {}).values():
        schema = str(node.get("schema") or node["source_name"])
        if schema.casefold() != dataset.casefold():
            continue
        table = str(node.get("identifier") or node["name"]).casefold()
        readers.setdefault(table, []).append(
            SourceTable(f"{node['source_name']}.{node['name']}", source_key(node))
        )
    return readers

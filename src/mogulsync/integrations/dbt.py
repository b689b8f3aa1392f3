"""dbt as dagster-dbt sees it: the asset key a dbt model gets by default.

Our sync assets depend on that key, so ``dagster-dbt`` assets and ours form one graph without
glue code. The rule mirrors dagster-dbt's default translator: an explicit
``meta.dagster.asset_key``; else a versioned model's alias; else the schema configured on the
model (``+schema: marts``) followed by its name; else its name.
"""

from __future__ import annotations

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


def model_asset_keys(dbt: DbtConfig, references: dict[str, str]) -> dict[str, list[str]]:
    """``{our model name: dagster-dbt key}`` for each ``dbt:`` reference (manifest read once)."""
    if not references:
        return {}
    manifest = load_manifest(dbt)
    return {
        name: default_asset_key(find_model(manifest, dbt, reference))
        for name, reference in references.items()
    }


def source_asset_keys(dbt: DbtConfig) -> dict[tuple[str, ...], str]:
    """``{dagster-dbt key: "source.table"}`` for every source table in the manifest.

    dagster-dbt keys a source table ``[source name, table name]`` unless its
    ``meta.dagster.asset_key`` says otherwise.
    """
    sources = load_manifest(dbt).get("sources") or {}
    keys: dict[tuple[str, ...], str] = {}
    for node in sources.values():
        key = meta_asset_key(node) or (node["source_name"], node["name"])
        keys[key] = f"{node['source_name']}.{node['name']}"
    return keys

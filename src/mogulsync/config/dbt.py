"""``dbt:`` — dbt models as sources, resolved through the project's ``target/manifest.json``.

A model written ``{warehouse: main, dbt: accounts}`` reads the relation dbt built: schema and
alias come from the manifest (a ``+schema: marts`` model lives in ``main_marts``, not in the
schema its name suggests), and ``primary_key`` may default from a ``unique`` test on one
column. Only the manifest's JSON is read: dbt itself need not be installed where syncs run.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any

from pydantic import Field

from mogulsync.config._base import ConfigModel
from mogulsync.config.warehouse import ModelConfig

MANIFEST_PATH = Path("target") / "manifest.json"


class DbtConfig(ConfigModel):
    """Where the dbt project lives, and which target its manifest was built for."""

    project_dir: str = Field(description="holds dbt_project.yml; relative to mogulsync.yml")
    target: str | None = Field(default=None, description="the dbt target (default: the manifest's)")

    @property
    def manifest_path(self) -> Path:
        """``<project_dir>/target/manifest.json``."""
        return Path(self.project_dir) / MANIFEST_PATH

    def parse_command(self) -> str:
        """The command that rebuilds the manifest, for hints."""
        target = f" --target {self.target}" if self.target else ""
        return f"dbt parse --project-dir {self.project_dir}{target}"


@dataclass(frozen=True, slots=True)
class DbtNode:
    """What mogulsync needs to know about one dbt model."""

    unique_id: str
    name: str
    package: str
    schema: str
    alias: str
    configured_schema: str | None
    version: str | None
    unique_columns: tuple[str, ...]
    #: ``meta: {dagster: {asset_key: [...]}}``, the override dagster-dbt honours
    meta_asset_key: tuple[str, ...] = ()

    @property
    def relation(self) -> str:
        """``schema.alias``, the form a model's ``table:`` takes."""
        return f"{self.schema}.{self.alias}"


class DbtManifestError(ValueError):
    """A ``dbt:`` model cannot be resolved; the message names the model and the fix."""


def load_manifest(dbt: DbtConfig) -> dict[str, Any]:
    """The parsed manifest, or a DbtManifestError saying how to produce it.

    Shared, not copied: callers read it and never modify it. A large project's manifest
    takes seconds to parse, and a code location reads it for the sync assets, the
    extract's and the config alike, so the last few parses are kept, keyed by the file's
    path and stat: a rewritten manifest (another size, mtime or inode) is parsed anew.
    """
    path = dbt.manifest_path
    try:
        stat = path.stat()
    except OSError:
        stat = None
    if stat is None or not S_ISREG(stat.st_mode):
        raise DbtManifestError(
            f"dbt manifest {path} not found: run `{dbt.parse_command()}` (or `dbt build`) first"
        )
    try:
        manifest = _parsed(path.resolve(), stat.st_mtime_ns, stat.st_size, stat.st_ino)
    except (OSError, ValueError) as exc:
        raise DbtManifestError(
            f"dbt manifest {path} is not readable JSON ({exc}): run `{dbt.parse_command()}`"
        ) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("nodes"), dict):
        raise DbtManifestError(f"dbt manifest {path} has no `nodes`: run `{dbt.parse_command()}`")
    return manifest


#: parsed manifests kept (two projects in one code location, each with its own manifest)
MANIFESTS_KEPT = 2


@functools.lru_cache(maxsize=MANIFESTS_KEPT)
def _parsed(path: Path, mtime_ns: int, size: int, inode: int) -> Any:  # noqa: ARG001
    """The manifest at ``path`` as it was at that stat (the stat is the cache's key only)."""
    return parse_json(path.read_bytes())


def parse_json(data: bytes) -> Any:
    """``json.loads``, named so that a test can count the manifest's parses."""
    return json.loads(data)


def find_model(manifest: dict[str, Any], dbt: DbtConfig, reference: str) -> DbtNode:
    """The model ``name`` or ``package.name``; errors for unknown, ambiguous, ephemeral, stale."""
    package, _, name = reference.rpartition(".")
    candidates = [
        node
        for node in manifest["nodes"].values()
        if node.get("resource_type") == "model"
        and node.get("name") == name
        and (not package or node.get("package_name") == package)
    ]
    if not candidates:
        known = sorted(
            node["name"]
            for node in manifest["nodes"].values()
            if node.get("resource_type") == "model"
        )
        listed = ", ".join(known) or "none"
        raise DbtManifestError(
            f"no dbt model `{reference}` in {dbt.manifest_path} (known: {listed})"
            f"; fix the name or run `{dbt.parse_command()}` if the model is new"
        )
    latest = [node for node in candidates if _is_latest(node)]
    if len(latest) > 1:
        packages = ", ".join(sorted(f"{node['package_name']}.{name}" for node in latest))
        raise DbtManifestError(
            f"dbt model `{reference}` is ambiguous ({packages}): write it as `package.model`"
        )
    node = latest[0] if latest else candidates[0]
    config = node.get("config") or {}
    if config.get("materialized") == "ephemeral":
        raise DbtManifestError(
            f"dbt model `{reference}` is ephemeral, so no table or view exists to read:"
            " materialize it as a view or table"
        )
    _check_fresh(dbt, node, reference)
    return DbtNode(
        unique_id=node["unique_id"],
        name=node["name"],
        package=node.get("package_name", ""),
        schema=node["schema"],
        alias=node.get("alias") or node["name"],
        configured_schema=config.get("schema"),
        version=None if node.get("version") is None else str(node["version"]),
        unique_columns=_unique_columns(manifest, node["unique_id"]),
        meta_asset_key=meta_asset_key(node),
    )


def resolve_model(model: ModelConfig, node: DbtNode, path: str) -> ModelConfig:
    """The model reading ``node``'s relation, its primary key defaulted from a unique test."""
    primary_key = model.primary_key
    if primary_key is None:
        if len(node.unique_columns) != 1:
            found = ", ".join(node.unique_columns) or "none"
            raise DbtManifestError(
                f"{path}.primary_key: not set, and dbt model `{node.name}` has no single column"
                f" with a `unique` test to default from (found: {found}); set `primary_key`"
            )
        primary_key = node.unique_columns[0]
    # No re-validation: `table` is filled in beside `dbt`, which a user may not write.
    return model.model_copy(update={"table": node.relation, "primary_key": primary_key})


def meta_asset_key(node: dict[str, Any]) -> tuple[str, ...]:
    """A node's ``meta: {dagster: {asset_key: ...}}``, the override dagster-dbt honours."""
    meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
    key = (meta.get("dagster") or {}).get("asset_key") or ()
    return (key,) if isinstance(key, str) else tuple(str(part) for part in key)


def _is_latest(node: dict[str, Any]) -> bool:
    version = node.get("version")
    return version is None or version == node.get("latest_version")


def _unique_columns(manifest: dict[str, Any], unique_id: str) -> tuple[str, ...]:
    """Columns of ``unique_id`` carrying a generic ``unique`` test, sorted."""
    columns: set[str] = set()
    for node in manifest["nodes"].values():
        if node.get("resource_type") != "test":
            continue
        metadata = node.get("test_metadata") or {}
        if metadata.get("name") != "unique" or metadata.get("namespace") not in (None, "dbt"):
            continue
        attached = node.get("attached_node") or next(
            iter((node.get("depends_on") or {}).get("nodes") or []), None
        )
        column = node.get("column_name") or (metadata.get("kwargs") or {}).get("column_name")
        if attached == unique_id and isinstance(column, str) and column.isidentifier():
            columns.add(column)
    return tuple(sorted(columns))


def _check_fresh(dbt: DbtConfig, node: dict[str, Any], reference: str) -> None:
    """A model's SQL edited after the manifest was written may name another relation."""
    source_file = node.get("original_file_path")
    if not source_file:
        return
    sql_path = Path(dbt.project_dir) / source_file
    try:
        edited = sql_path.stat().st_mtime
    except OSError:
        return  # e.g. a model from an installed package: nothing of ours to compare
    if edited > dbt.manifest_path.stat().st_mtime:
        raise DbtManifestError(
            f"dbt manifest {dbt.manifest_path} is older than {sql_path} (model `{reference}`):"
            f" run `{dbt.parse_command()}`"
        )

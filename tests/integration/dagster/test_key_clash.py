"""dbt sources over the extract's tables vs the sync keys: a clash is named, key_prefix ends it."""

from __future__ import annotations

import warnings

import dagster as dg
import pytest
from tests.integration.dagster.test_assets import MARTS_ACCOUNTS, MARTS_CONTACTS, _project_file
from tests.integration.dbt._project import copy_project, run_dbt

from mogulsync.integrations.dagster import (
    DbtSourceClashWarning,
    mogulsync_assets,
    mogulsync_extract_assets,
    mogulsync_reconcile_checks,
)

# The extract's tables as a dbt project declares them: source `chartmogul`. `contacts` carries
# the extract's default key for its table, as docs/dagster.md advises; `customers` does not
# (dagster-dbt keys it chartmogul/customers, the key of the sync `customers`); `plans` has a
# key of its own.
SOURCES = """\
version: 2
sources:
  - name: chartmogul
    tables:
      - name: customers
      - name: contacts
        meta: {dagster: {asset_key: [dlt_chartmogul_contacts]}}
      - name: plans
        meta: {dagster: {asset_key: [raw, chartmogul_plans]}}
"""


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("clash")
    dbt_dir = copy_project(root)
    (dbt_dir / "models" / "chartmogul_sources.yml").write_text(SOURCES, encoding="utf-8")
    run_dbt(dbt_dir, root / "warehouse.duckdb", "parse")
    return root, dbt_dir


def test_a_sync_keyed_like_a_dbt_source_is_warned_of(project_dir, tmp_path, dead_url):
    root, dbt_dir = project_dir
    path = _project_file(tmp_path, dbt_dir, root / "warehouse.duckdb", dead_url)
    with pytest.warns(DbtSourceClashWarning) as caught:
        mogulsync_assets(path)
    (warning,) = caught  # `contacts` is keyed by its meta: no clash
    text = str(warning.message)
    assert "sync `customers`'s asset key chartmogul/customers" in text
    assert "dbt source `chartmogul.customers`" in text
    assert "key_prefix" in text


def test_key_prefix_moves_the_syncs_their_parents_and_checks(project_dir, tmp_path, dead_url):
    root, dbt_dir = project_dir
    path = _project_file(tmp_path, dbt_dir, root / "warehouse.duckdb", dead_url)
    prefix = ["chartmogul", "syncs"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no clash left to warn of
        assets = mogulsync_assets(path, key_prefix=prefix)
    by_key = {asset.key: asset for asset in assets}
    customers = dg.AssetKey([*prefix, "customers"])
    contacts = dg.AssetKey([*prefix, "contacts"])
    assert set(by_key) == {customers, contacts}
    assert set(by_key[customers].dependency_keys) == {MARTS_ACCOUNTS}
    assert set(by_key[contacts].dependency_keys) == {MARTS_CONTACTS, customers}
    checks = mogulsync_reconcile_checks(path, key_prefix=prefix)
    assert {key.asset_key for check in checks for key in check.check_keys} == {customers, contacts}
    dg.Definitions.validate_loadable(dg.Definitions(assets=assets, asset_checks=checks))


def test_an_empty_key_prefix_is_refused(project_dir, tmp_path, dead_url):
    root, dbt_dir = project_dir
    path = _project_file(tmp_path, dbt_dir, root / "warehouse.duckdb", dead_url)
    with pytest.raises(ValueError, match="key_prefix must name at least one non-empty part"):
        mogulsync_assets(path, key_prefix=[])


def test_the_manifest_is_read_once_for_the_graph_however_many_syncs(
    project_dir, tmp_path, monkeypatch, dead_url
):
    """Once for every key, however many syncs (a big manifest parses for seconds)."""
    from mogulsync.config import dbt_models
    from mogulsync.integrations import dbt

    reads: list[str] = []

    def counting(site, read):
        def load(config):
            reads.append(site)
            return read(config)

        return load

    for site in (dbt_models, dbt):
        monkeypatch.setattr(site, "load_manifest", counting(site.__name__, site.load_manifest))
    root, dbt_dir = project_dir
    path = _project_file(tmp_path, dbt_dir, root / "warehouse.duckdb", dead_url)
    with pytest.warns(DbtSourceClashWarning):  # `customers`, as above
        assets = mogulsync_assets(path)
    assert len(assets) == 2  # two syncs, each reading a dbt model
    assert reads == ["mogulsync.integrations.dbt"]


def test_one_code_location_parses_the_manifest_once_until_it_changes(
    project_dir, tmp_path, monkeypatch, dead_url
):
    """The sync assets, the extract's and the checks share one parse of the manifest; a
    manifest rewritten since (driven here by its mtime) is parsed again."""
    import os

    from mogulsync.config import dbt

    parses: list[bytes] = []

    def counting(data: bytes) -> object:
        parses.append(data)
        return parse(data)

    parse = dbt.parse_json
    monkeypatch.setattr(dbt, "parse_json", counting)
    dbt._parsed.cache_clear()  # another test of this worker may have parsed it
    root, dbt_dir = project_dir
    path = _project_file(tmp_path, dbt_dir, root / "warehouse.duckdb", dead_url)
    with pytest.warns(DbtSourceClashWarning):  # `customers`, as above
        mogulsync_assets(path)
    mogulsync_extract_assets(path, streams=["customers", "plans"])
    mogulsync_reconcile_checks(path)
    mogulsync_extract_assets(path, streams=["contacts"])
    assert len(parses) == 1

    manifest = dbt_dir / "target" / "manifest.json"
    later = manifest.stat().st_mtime_ns + 1_000_000_000  # newer: the SQL stays older
    os.utime(manifest, ns=(later, later))
    (extract,) = mogulsync_extract_assets(path, streams=["contacts"])
    assert len(parses) == 2
    assert set(extract.keys) == {dg.AssetKey("dlt_chartmogul_contacts")}


def test_the_extract_tables_take_the_keys_dagster_dbt_gives_their_sources(project_dir, tmp_path):
    """dbt models reading a source depend on the extract's table: lineage with no glue."""
    root, dbt_dir = project_dir
    path = _project_file(tmp_path, dbt_dir, root / "warehouse.duckdb", "http://chartmogul.invalid")
    streams = ["customers", "contacts", "plans", "invoices"]
    (extract,) = mogulsync_extract_assets(path, streams=streams)
    tables = {spec.metadata["dagster/table_name"]: spec.key for spec in extract.specs}
    assert tables == {
        "chartmogul.customers": dg.AssetKey(["chartmogul", "customers"]),  # dagster-dbt's default
        "chartmogul.contacts": dg.AssetKey("dlt_chartmogul_contacts"),  # the source's meta
        "chartmogul.plans": dg.AssetKey(["raw", "chartmogul_plans"]),
        "chartmogul.invoices": dg.AssetKey("dlt_chartmogul_invoices"),  # no source reads it
    }
    # a dbt model over the source, keyed and wired as dagster-dbt would
    model = dg.AssetSpec("stg_customers", deps=[dg.AssetKey(["chartmogul", "customers"])])
    graph = dg.Definitions(assets=[extract, model]).resolve_asset_graph()
    (parent,) = graph.get(model.key).parent_keys
    assert graph.get(parent).is_materializable
    assert parent in extract.keys
    # key_prefix places only the tables no source reads
    (prefixed,) = mogulsync_extract_assets(path, streams=streams, key_prefix="cm")
    assert set(prefixed.keys) == {*set(tables.values()) - {tables["chartmogul.invoices"]},
                                  dg.AssetKey(["cm", "invoices"])}  # fmt: skip

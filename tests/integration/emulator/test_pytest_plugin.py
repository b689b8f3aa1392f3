"""The ``chartmogul_emulator`` pytest plugin, tested the way a user's suite would use it.

Each test writes a small test file into a pytester directory and runs pytest on it in
process; the plugin is found through its ``pytest11`` entry point, as in any project that
installs mogulsync.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

pytest_plugins = ("pytester",)

OFFICIAL_CLIENT_TEST = """
import chartmogul

def test_official_client(chartmogul_emulator):
    config = chartmogul.Config(chartmogul_emulator.api_key)
    config.uri = chartmogul_emulator.url
    ds = chartmogul.DataSource.create(config, data={"name": "Billing"}).get()
    customer = chartmogul.Customer.create(
        config, data={"data_source_uuid": ds.uuid, "external_id": "c1", "name": "Acme"}
    ).get()
    found = chartmogul.Customer.all(config, external_id="c1").get()
    assert [c.uuid for c in found.entries] == [customer.uuid]
    assert chartmogul_emulator.stats()["by_endpoint"]["POST /v1/customers"] == {"201": 1}
"""

OPTIONS_TEST = """
import httpx
import pytest

@pytest.mark.chartmogul_emulator(rate_limit=2, api_keys=["k1"])
def test_marker(chartmogul_emulator):
    assert chartmogul_emulator.api_key == "k1"
    # the bucket's clock stands still: no token comes back however slow the requests
    chartmogul_emulator.server.emulator.bucket.use_clock(lambda: 0.0)
    with httpx.Client(base_url=chartmogul_emulator.url, auth=("k1", "")) as api:
        statuses = [api.get("/ping").status_code for _ in range(6)]
    assert statuses == [200, 200, 429, 429, 429, 429]  # a burst of one second's worth

@pytest.mark.parametrize(
    "chartmogul_emulator", [{"faults": {"error_rate": 1, "error_statuses": [503]}}],
    indirect=True,
)
def test_indirect_faults(chartmogul_emulator):
    answer = httpx.get(f"{chartmogul_emulator.url}/ping", auth=(chartmogul_emulator.api_key, ""))
    assert answer.status_code == 503

def test_scripted_fault_then_normal(chartmogul_emulator):
    chartmogul_emulator.script_fault("error", status=502, path_pattern="^/v1/ping$")
    auth = (chartmogul_emulator.api_key, "")
    first = httpx.get(f"{chartmogul_emulator.url}/ping", auth=auth)
    second = httpx.get(f"{chartmogul_emulator.url}/ping", auth=auth)
    assert (first.status_code, second.status_code) == (502, 200)

def test_scripted_fault_on_a_query(chartmogul_emulator):
    chartmogul_emulator.script_fault("error", status=503, query_pattern="order=-date")
    auth = (chartmogul_emulator.api_key, "")
    url = f"{chartmogul_emulator.url}/activities"
    unmatched = httpx.get(url, params={"order": "date"}, auth=auth)
    matched = httpx.get(url, params={"order": "-date", "per_page": 1}, auth=auth)
    again = httpx.get(url, params={"order": "-date"}, auth=auth)
    assert [r.status_code for r in (unmatched, matched, again)] == [200, 503, 200]

def test_each_test_gets_a_fresh_emulator(chartmogul_emulator):
    auth = (chartmogul_emulator.api_key, "")
    sources = httpx.get(f"{chartmogul_emulator.url}/data_sources", auth=auth).json()
    assert sources == {"data_sources": []}
    assert httpx.get(f"{chartmogul_emulator.url}/ping", auth=auth).status_code == 200
"""

CLOCK_TEST = """
import datetime as dt

import chartmogul
import pytest

@pytest.mark.chartmogul_emulator(clock="2001-02-03T04:05:06Z")
def test_driven_clock(chartmogul_emulator):
    config = chartmogul.Config(chartmogul_emulator.api_key)
    config.uri = chartmogul_emulator.url
    start = dt.datetime(2001, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    assert chartmogul_emulator.now() == start
    first = chartmogul.DataSource.create(config, data={"name": "First"}).get()
    assert first.created_at == start
    assert chartmogul_emulator.advance_clock(days=1, hours=2) == start + dt.timedelta(hours=26)
    second = chartmogul.DataSource.create(config, data={"name": "Second"}).get()
    assert second.created_at == start + dt.timedelta(hours=26)
    assert chartmogul_emulator.drive_clock("1999-12-31T23:00:00-02:00") == dt.datetime(
        2000, 1, 1, 1, tzinfo=dt.UTC
    )
    chartmogul_emulator.drive_clock(None)  # real time again, which is after 2001
    assert chartmogul_emulator.now() > start + dt.timedelta(hours=26)
"""


def test_entry_point_is_registered() -> None:
    """Installing mogulsync registers the plugin under ``pytest11``."""
    names = {point.name: point.value for point in entry_points(group="pytest11")}
    assert names.get("chartmogul_emulator") == "mogulsync.testing.pytest_plugin"


BAD_OPTION_TEST = """
import pytest

@pytest.mark.chartmogul_emulator(rate_limt=5)
def test_typo(chartmogul_emulator):
    pass

@pytest.mark.chartmogul_emulator(clock="2001-02-03T04:05:06")
def test_clock_without_zone(chartmogul_emulator):
    pass
"""


def test_plugin_in_a_users_suite(pytester: pytest.Pytester) -> None:
    """One run of a small suite (one pytest start-up, the slow part on a loaded machine):

    - the documented example with the official client passes;
    - marker and indirect options set limits, keys and faults (scripted ones matched on the
      path and the query); tests do not share data;
    - the ``clock`` option starts the account's clock stopped; ``advance_clock``,
      ``drive_clock`` and ``now`` drive and read it, and the objects created carry it;
    - an unknown option, or a clock without a zone, is a usage error naming it, not a
      failure deep in the emulator.
    """
    pytester.makepyfile(
        test_official=OFFICIAL_CLIENT_TEST,
        test_options=OPTIONS_TEST,
        test_clock=CLOCK_TEST,
        test_bad=BAD_OPTION_TEST,
    )
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--strict-markers", "-W", "ignore::DeprecationWarning"
    )
    result.assert_outcomes(passed=7, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*invalid chartmogul_emulator option(s): rate_limt: Extra*",
            "*invalid chartmogul_emulator option(s): clock: Input should have timezone info*",
        ]
    )

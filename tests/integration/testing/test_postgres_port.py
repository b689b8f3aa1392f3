"""PostgresServer starts again on a new port when another process took its port first.

pg_ctl takes a port number, probed free a moment before: under load (parallel workers,
a second CI run) another process could bind it in between and the start failed.
"""

from __future__ import annotations

import psycopg
import pytest

from mogulsync._listen import bound_port, listening_socket
from mogulsync.testing import PostgresServer

pytestmark = pytest.mark.postgres


def test_a_taken_port_is_replaced_by_a_free_one() -> None:
    with listening_socket("127.0.0.1") as squatter:
        taken = bound_port(squatter)
        server = PostgresServer()
        server.port = taken  # as if another process had bound it since it was probed
        with server:
            assert server.port != taken
            with psycopg.connect(server.dsn) as con:
                assert con.execute("select 1").fetchone() == (1,)

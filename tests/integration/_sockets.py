"""The process's open file descriptors, its TCP sockets told apart by port and state.

A soak test compares the descriptors a long-running service holds early and late. Two
kinds of socket make a plain count depend on the machine's speed rather than on leaks:

* a server's side of a connection its client has closed stays open (CLOSE_WAIT) until the
  server's event loop gets round to it, later on a busy machine: :func:`closing` counts
  them, and a test waits (for a state, with a generous bound) until there are none;
* a client's keep-alive pool keeps as many connections as requests once overlapped, which
  timing decides: :func:`count` counts the connections to a pooled port apart, for the test
  to hold them to the pool's own bound instead.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

#: /proc/net/tcp's state code of a socket whose peer has closed and that we have not
_CLOSE_WAIT = "08"


@dataclass(frozen=True)
class Fds:
    """Open descriptors: those not on a pooled port, and client connections to one."""

    others: int
    pooled: int


def _tcp() -> dict[str, tuple[int, int, str]]:
    """Socket inode → (local port, remote port, state) for this network namespace."""
    sockets = {}
    for name in ("tcp", "tcp6"):
        table = Path("/proc/self/net") / name
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
            sockets[fields[9]] = (local, remote, fields[3])
    return sockets


def _mine() -> list[tuple[int, int, str] | None]:
    """Each open descriptor of this process: its TCP socket, or None for anything else."""
    sockets = _tcp()
    mine: list[tuple[int, int, str] | None] = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # the descriptor listing the directory, closed since
            continue
        inode = target.removeprefix("socket:[").removesuffix("]")
        mine.append(sockets.get(inode) if target.startswith("socket:[") else None)
    return mine


def closing(server_ports: Collection[int]) -> int:
    """Server-side connections on ``server_ports`` whose client has hung up."""
    return sum(
        1
        for socket in _mine()
        if socket is not None and socket[0] in server_ports and socket[2] == _CLOSE_WAIT
    )


def count(pooled_ports: Collection[int]) -> Fds:
    """Open descriptors, the sockets of connections to ``pooled_ports`` (either side) apart;
    ``pooled`` counts the client sides."""
    mine = _mine()
    on_pool = [s for s in mine if s is not None and (s[0] in pooled_ports or s[1] in pooled_ports)]
    clients = sum(1 for s in on_pool if s is not None and s[1] in pooled_ports)
    return Fds(others=len(mine) - len(on_pool), pooled=clients)

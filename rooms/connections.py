"""How many anonymous listeners one network address may hold open in this process.

Every anonymous socket or event stream is a listener: it opens a listening session and counts in
the room's listeners, the directory's sorts and the labels' unique listeners. A script could open
thousands and pose as a crowd; a signed-in fan is one listener however many tabs they open. The
count is per process and needs no lock (daphne runs these on one event loop): with N web processes
an address may hold up to N times the limit, which still bounds it. Behind a proxy the address is
the one the proxy passes on (daphne --proxy-headers, docs/operations.md). Loopback is not limited:
it is this machine (load tests, a proxy that passes no address), never a visitor.
"""

import ipaddress
from collections import Counter

from django.conf import settings

_open: Counter[str] = Counter()


def anon_connection_open(address: str) -> bool:
    """Count one more anonymous listener from ``address``; False (and nothing counted) when it
    holds the limit already."""
    if not anon_connection_allowed(address):
        return False
    if _limited(address):
        _open[address] += 1
    return True


def _limited(address: str) -> bool:
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # not an IP address: a Unix socket, a test client


def anon_connection_allowed(address: str) -> bool:
    """Whether ``address`` may open one more (nothing counted)."""
    limit = settings.ROOMTONE["ANON_CONNECTIONS_PER_ADDRESS"]
    return limit <= 0 or not _limited(address) or _open[address] < limit


def anon_connection_close(address: str) -> None:
    """One anonymous listener from ``address`` fewer (after ``anon_connection_open`` said yes)."""
    if _open.get(address, 0) > 1:
        _open[address] -= 1
    else:
        _open.pop(address, None)

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


def _key(address: str) -> str | None:
    """What an address is counted as, or None when it is not limited: loopback, or not an IP
    address at all (a Unix socket, a test client). An IPv6 address counts as its /64, which one
    household or host usually holds whole."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.is_loopback:
        return None
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def anon_connection_allowed(address: str) -> bool:
    """Whether ``address`` may open one more (nothing counted)."""
    limit = settings.ROOMTONE["ANON_CONNECTIONS_PER_ADDRESS"]
    key = _key(address)
    return limit <= 0 or key is None or _open[key] < limit


def anon_connection_open(address: str) -> bool:
    """Count one more anonymous listener from ``address``; False (and nothing counted) when it
    holds the limit already. Each True is given back with ``anon_connection_close``."""
    if not anon_connection_allowed(address):
        return False
    key = _key(address)
    if key is not None:
        _open[key] += 1
    return True


def anon_connection_close(address: str) -> None:
    """One anonymous listener from ``address`` fewer (after ``anon_connection_open`` said yes)."""
    key = _key(address)
    if key is None:
        return
    if _open.get(key, 0) > 1:
        _open[key] -= 1
    else:
        _open.pop(key, None)

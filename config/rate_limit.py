"""Per-fan (or per-address) rate limits kept in the cache, so every process shares one budget.

Each limit is a token bucket written as GCRA: one number per fan and action, the time at which
the bucket is full again. `burst` actions may come at once, then one per `every` seconds.
The read and the write are separate cache calls; two racing frames may both pass, which a
limit meant for people typing and clicking can afford.
"""

import time

from django.conf import settings
from django.core.cache import cache

# action: (burst, seconds per action after the burst)
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "chat": (5, 1.0),
    "vote": (10, 0.5),
    "add": (5, 3.0),
    "skip": (5, 2.0),
    "dj": (5, 2.0),
    "mod": (30, 0.5),
    "audio": (10, 0.5),
    "sync": (5, 1.0),
    # Failed sign-ins: per username from one address 10 at once, then one every 30 s; per username
    # from anywhere 100, then one every 10 s; per address 30, then one every 10 s.
    "login_user_address": (10, 30.0),
    "login_user": (100, 10.0),
    "login_ip": (30, 10.0),
    # New rooms per user: 10 at once, then one every 6 minutes (10 an hour).
    "room_create": (10, 360.0),
}


def limit_for(action: str) -> tuple[int, float]:
    overrides = settings.ROOMTONE.get("RATE_LIMITS", {})
    return overrides.get(action) or DEFAULT_LIMITS[action]


def _key(action: str, who: str) -> str:
    return f"rooms:rl:{action}:{who}"


def _decide(action: str, tat: float | None, now: float) -> tuple[bool, float]:
    burst, every = limit_for(action)
    tat = max(tat or now, now)
    if tat - now > (burst - 1) * every:
        return False, tat
    return True, tat + every


async def rate_limit_allow(*, action: str, who: str) -> bool:
    """Spend one `action` for `who` (a user id or a socket's name); False when over the limit."""
    now = time.time()
    key = _key(action, who)
    allowed, tat = _decide(action, await cache.aget(key), now)
    if allowed:
        burst, every = limit_for(action)
        await cache.aset(key, tat, timeout=int(burst * every) + 2)
    return allowed


def rate_limit_allow_sync(*, action: str, who: str) -> bool:
    now = time.time()
    key = _key(action, who)
    allowed, tat = _decide(action, cache.get(key), now)
    if allowed:
        burst, every = limit_for(action)
        cache.set(key, tat, timeout=int(burst * every) + 2)
    return allowed


def rate_limit_spent_sync(*, action: str, who: str) -> bool:
    """True when `who` has no `action` left right now; spends nothing. For actions that cost
    only when they fail, such as a sign-in: check first, spend on failure."""
    allowed, _tat = _decide(action, cache.get(_key(action, who)), time.time())
    return not allowed

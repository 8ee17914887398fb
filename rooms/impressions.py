"""OTS capture: displays of rooms, buffered in the cache and flushed to ImpressionCount by a task.

A directory page of 50 rooms is 50 impressions, so a page view only bumps counters (one
round trip); `impressions_flush` moves them into the database in bulk.
"""

from django.core.cache import cache
from django.utils import timezone

from rooms.models import ImpressionCount

Surface = ImpressionCount.Surface


def _hour_key(now=None) -> str:
    now = now or timezone.now()
    return now.strftime("%Y%m%d%H")


def impressions_record(*, room_ids: list[int], surface: str, viewer: str = "") -> None:
    """Count one display of each room to one viewer (a user id or session key)."""
    if not room_ids:
        return
    if surface not in Surface.values:
        raise ValueError(f"unknown surface {surface!r}")
    hour = _hour_key()
    keys = [f"ots:{hour}:{surface}:{room_id}" for room_id in room_ids]
    for key in keys:
        try:
            cache.incr(key)
        except ValueError:
            cache.add(key, 1, timeout=3 * 24 * 3600) or cache.incr(key)

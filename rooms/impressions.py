"""OTS capture: displays of rooms, buffered and flushed to ImpressionCount by a periodic task.

A directory page of 50 rooms is 50 impressions, so a page view costs one round trip and no
database write:

* With ``REDIS_URL``: one command per page, a Lua script that Redis runs whole — ``HINCRBY`` on
  the hour's live hash (field ``<room>:<surface>``), ``PFADD`` of the viewer into a HyperLogLog
  per room and hour (reach; Redis's HLL has a standard error of 0.81%), then ``SADD`` of the hour
  to the set of live hours. ``impressions_flush`` folds each live hash into the hour's running
  totals with one Lua script (read, add and delete in one indivisible step: an increment lands
  either before the fold and is carried, or after it in a fresh live hash), then writes those
  totals to the database as absolute values. A flush that dies before or after its database
  write is simply repeated: the totals are still in Redis and writing them twice gives the same
  rows.
* Without Redis: an in-process buffer under a lock. The flush swaps the buffer out (the same
  hand-off as a rename), adds it to the database in one transaction, and puts it back if that
  transaction fails; the recording process flushes its own buffer every
  ``IMPRESSIONS_FLUSH_SECONDS``. Reach is exact: the flush appends the viewer hashes to one file
  per hour under ``IMPRESSIONS_DIR``, which every process on the box reads.
"""

import hashlib
import os
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import connection, transaction
from django.utils import timezone

from rooms.models import ImpressionCount, Room

Surface = ImpressionCount.Surface

LIVE_TTL = 3 * 24 * 3600  # an unflushed live hash outlives any sane beat outage...
TOTALS_TTL = 40 * 24 * 3600  # ...and the totals outlive it, so a fold never restarts from zero.
REACH_TTL = 40 * 24 * 3600  # weeks of reach can be recomputed from the hourly sketches.
FLUSH_SECONDS = getattr(settings, "IMPRESSIONS_FLUSH_SECONDS", 30)
# The standard error of the reach estimate; the exact fallback has none.
REACH_ERROR = 0.0081

_FOLD = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[1])
  return 0
end
local vals = redis.call('HGETALL', KEYS[1])
for i = 1, #vals, 2 do redis.call('HINCRBY', KEYS[2], vals[i], vals[i + 1]) end
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
return #vals / 2
"""
# One page's impressions in one command, run whole by Redis: the increments, then the hour's mark
# (a fold that runs before the mark still finds the increments; after it, the hour stays marked).
_RECORD = """
local live, hours, reach, hour, surface, who = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
-- The page's room ids come as one comma-separated argument: packing fifty arguments costs the
-- client more than the script costs Redis.
for room in string.gmatch(ARGV[9], '%d+') do
  redis.call('HINCRBY', live, room .. ':' .. surface, 1)
  -- A sketch that did not change (a viewer already counted) needs no new expiry: its first
  -- PFADD created it and set one.
  if who ~= '' then
    local key = reach .. hour .. ':' .. room
    if redis.call('PFADD', key, who) == 1 then redis.call('EXPIRE', key, ARGV[8]) end
  end
end
redis.call('EXPIRE', live, ARGV[7])
redis.call('SADD', hours, hour)
return 0
"""
# Clear an hour's dirty mark only if no fold touched it since we read its totals.
_CLEAN = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_str(at: datetime) -> str:
    return _hour(at).strftime("%Y%m%d%H")


def _parse_hour(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H").replace(tzinfo=UTC)


def _reach_dir() -> Path:
    return Path(getattr(settings, "IMPRESSIONS_DIR", settings.VAR_DIR / "impressions"))


def _reach_write(reach: dict[tuple[str, int], set[str]]) -> None:
    by_hour: dict[str, list[str]] = defaultdict(list)
    for (hour, room), viewers in reach.items():
        by_hour[hour].extend(f"{room} {who}\n" for who in viewers)
    folder = _reach_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for hour, lines in by_hour.items():
        # One append per hour file: O_APPEND keeps writers from several processes whole.
        fd = os.open(folder / f"{hour}.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, "".join(lines).encode())
        finally:
            os.close(fd)


def _reach_read(hours: list[str]) -> dict[tuple[str, int], set[str]]:
    folder = _reach_dir()
    found: dict[tuple[str, int], set[str]] = defaultdict(set)
    for hour in hours:
        try:
            text = (folder / f"{hour}.txt").read_text()
        except FileNotFoundError:
            continue
        for line in text.splitlines():
            room, _, who = line.partition(" ")
            if who:
                found[(hour, int(room))].add(who)
    return found


def _viewer_hash(viewer: str) -> str:
    # Reach needs only identity, not the user id or session key itself.
    return hashlib.blake2b(viewer.encode(), digest_size=8).hexdigest()


# --- Redis --------------------------------------------------------------------------------------
_clients: dict[str, object] = {}


def _redis():
    url = settings.REDIS_URL
    if url not in _clients:
        import redis

        _clients[url] = redis.Redis.from_url(url)
    return _clients[url]


_scripts: dict[tuple[str, str], object] = {}


def _script(name: str, source: str):
    """A registered Lua script (EVALSHA, loaded once per client)."""
    key = (settings.REDIS_URL, name)
    if key not in _scripts:
        _scripts[key] = _redis().register_script(source)
    return _scripts[key]


def _prefix() -> str:
    return settings.CACHES["default"].get("KEY_PREFIX") or "roomtone"


def _keys():
    p = _prefix()
    return {
        "live": f"{p}:ots:live:",
        "totals": f"{p}:ots:totals:",
        "live_hours": f"{p}:ots:live-hours",
        "dirty": f"{p}:ots:dirty",
        "reach": f"{p}:reach:",
    }


# --- in-process fallback ------------------------------------------------------------------------
class _Buffer:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, int, str], int] = defaultdict(int)
        self.reach: dict[tuple[str, int], set[str]] = defaultdict(set)
        self.since = time.monotonic()


_buffer = _Buffer()


def impressions_record(*, room_ids: list[int], surface: str, viewer: str = "") -> None:
    """Count one display of each room to one viewer (a user id or session key; "" if unknown:
    counted as OTS, left out of reach)."""
    impressions_record_at(room_ids=room_ids, surface=surface, viewer=viewer, at=None)


def impressions_record_at(
    *, room_ids: list[int], surface: str, viewer: str = "", at: datetime | None
) -> None:
    """impressions_record at a given moment (demo data and tests); ``at=None`` means now."""
    if not room_ids:
        return
    if surface not in Surface.values:
        raise ValueError(f"unknown surface {surface!r}")
    hour = _hour_str(at or timezone.now())
    who = _viewer_hash(viewer) if viewer else ""
    if settings.REDIS_URL:
        k = _keys()
        args = [k["live"] + hour, k["live_hours"], k["reach"], hour, surface, who]
        rooms = ",".join(str(int(room)) for room in room_ids)
        _script("record", _RECORD)(args=[*args, LIVE_TTL, REACH_TTL, rooms])
        return
    with _buffer.lock:
        for room_id in room_ids:
            _buffer.counts[(hour, int(room_id), surface)] += 1
            if who:
                _buffer.reach[(hour, int(room_id))].add(who)
        due = time.monotonic() - _buffer.since > FLUSH_SECONDS
    if due:
        try:
            impressions_flush()
        except SynchronousOnlyOperation:
            pass  # called from async code: the periodic task flushes instead


def _existing_rooms(room_ids) -> set[int]:
    return set(Room.objects.filter(id__in=set(room_ids)).values_list("id", flat=True))


def _upsert(rows: list[tuple[int, datetime, str, int]], *, add: bool) -> None:
    """Write (room, hour, surface, count) rows: add to the stored counts, or replace them."""
    if not rows:
        return
    table = connection.ops.quote_name(ImpressionCount._meta.db_table)
    new = "excluded.count"
    value = f"{table}.count + {new}" if add else new
    # Only the model's own table name is interpolated; values go as parameters.
    insert = f"INSERT INTO {table} (room_id, hour, surface, count) VALUES (%s, %s, %s, %s) "  # noqa: S608
    sql = insert + f"ON CONFLICT (room_id, hour, surface) DO UPDATE SET count = {value}"
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.executemany(
            sql, [(room, adapt(hour), surface, n) for room, hour, surface, n in rows]
        )


def impressions_flush() -> list[datetime]:
    """Move buffered counts into ImpressionCount; returns the hours written. Safe to repeat."""
    if settings.REDIS_URL:
        return _flush_redis()
    return _flush_local()


def _flush_local() -> list[datetime]:
    with _buffer.lock:
        batch, _buffer.counts = _buffer.counts, defaultdict(int)
        reach, _buffer.reach = _buffer.reach, defaultdict(set)
        _buffer.since = time.monotonic()
    if reach:
        # Distinct viewers: writing a hash twice cannot inflate reach.
        _reach_write(reach)
    if not batch:
        return []
    try:
        alive = _existing_rooms(room for _, room, _ in batch)
        rows = [
            (room, _parse_hour(hour), surface, n)
            for (hour, room, surface), n in batch.items()
            if room in alive
        ]
        with transaction.atomic():
            _upsert(rows, add=True)
    except BaseException:
        # Nothing was written: hand the batch back so the next flush carries it.
        with _buffer.lock:
            for key, n in batch.items():
                _buffer.counts[key] += n
        raise
    return sorted({_parse_hour(hour) for hour, _, _ in batch})


def _flush_redis() -> list[datetime]:
    r = _redis()
    k = _keys()
    fold = _script("fold", _FOLD)
    for raw in r.smembers(k["live_hours"]):
        hour = raw.decode()
        fold(
            keys=[k["live"] + hour, k["totals"] + hour, k["live_hours"], k["dirty"]],
            args=[hour, TOTALS_TTL],
        )
    dirty = {h.decode(): v.decode() for h, v in r.hgetall(k["dirty"]).items()}
    if not dirty:
        return []
    pipe = r.pipeline(transaction=False)
    for hour in dirty:
        pipe.hgetall(k["totals"] + hour)
    totals = dict(zip(dirty, pipe.execute(), strict=True))
    parsed = []
    for hour, fields in totals.items():
        for field, n in fields.items():
            room, surface = field.decode().split(":", 1)
            parsed.append((int(room), _parse_hour(hour), surface, int(n)))
    alive = _existing_rooms(row[0] for row in parsed)
    with transaction.atomic():
        _upsert([row for row in parsed if row[0] in alive], add=False)
    clean = _script("clean", _CLEAN)
    for hour, version in dirty.items():
        clean(keys=[k["dirty"]], args=[hour, version])
    return sorted(_parse_hour(hour) for hour in dirty)


def impressions_reach(*, groups: dict, start: datetime, end: datetime) -> dict[object, int]:
    """Distinct viewers behind the displays of each group of rooms from start to end (whole hours).

    ``groups`` maps any key to a list of room ids; the answer maps the same keys to a count.
    """
    hours = []
    at = _hour(start)
    while at < end:
        hours.append(at.strftime("%Y%m%d%H"))
        at += timedelta(hours=1)
    if settings.REDIS_URL:
        k = _keys()
        pipe = _redis().pipeline(transaction=False)
        keys = list(groups)
        for key in keys:
            names = [f"{k['reach']}{h}:{room}" for h in hours for room in groups[key]]
            if names:
                pipe.pfcount(*names)
            else:
                pipe.echo("0")
        return {key: int(n) for key, n in zip(keys, pipe.execute(), strict=True)}
    found = _reach_read(hours)
    with _buffer.lock:
        for key, viewers in _buffer.reach.items():
            found[key] |= viewers
    return {
        key: len(set().union(*(found.get((h, room), ()) for h in hours for room in rooms)))
        for key, rooms in groups.items()
    }


def impressions_forget_reach(*, before: datetime) -> int:
    """Delete the fallback's reach files older than ``before`` (Redis expires its own keys)."""
    cutoff = _hour_str(before)
    removed = 0
    folder = _reach_dir()
    if folder.exists():
        for path in folder.glob("*.txt"):
            if path.stem < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
    return removed

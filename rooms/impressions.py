"""OTS capture: displays of rooms, buffered outside the database and flushed to ImpressionCount.

A directory page of 50 rooms is 50 impressions, so a page view costs no database write, and with
Redis no round trip of its own (a buffered entry), without it one file append. OTS counts
displays, with repeats capped: one viewer counts at most once per room, surface and half-hour
slot of the clock (``SLOT``); displays to an unidentified viewer ("") count at most
``IMPRESSIONS_UNIDENTIFIED_CAP`` times per room, surface and slot.

* With ``REDIS_URL``: a page view appends its page to a process-local buffer
  (``rooms.impressions_buffer``), sent as one Lua script call for up to
  ``IMPRESSIONS_BUFFER_PAGES`` (50) pages when that many wait or the oldest is
  ``IMPRESSIONS_BUFFER_SECONDS`` (0.1) old; a daemon thread sends stragglers, ``atexit`` and
  ``impressions_flush`` send the rest. The script, run whole by Redis, does per display ``SADD`` of
  ``room:surface:viewer`` to the slot's seen set (or ``HINCRBY`` of the slot's unidentified
  counter), and for the new displays ``HINCRBY`` on the hour's live hash and ``PFADD`` into a
  per-room-hour HyperLogLog (reach, standard error 0.81%), summed over the batch. A process
  killed with SIGKILL loses its unsent pages (docs/analytics.md). ``impressions_flush`` folds each
  live hash into the hour's running totals (read, add and delete in one step), writes the totals
  as absolute values, then marks the hours written; a flush that dies midway is simply repeated.
* Without Redis: the cap is kept in the Django cache (``add`` with expiry), and every process
  appends the new displays to its own spool file under ``IMPRESSIONS_DIR/spool/`` (one ``write``
  per page under ``flock``), so whichever process flushes (the Celery worker) sees what daphne
  recorded, and a stopped server loses nothing. The flush claims each spool file by renaming it,
  writes down the counts the rows must reach (database counts plus the batches) in a plan file,
  then writes them as absolute values and deletes the batches; a flush that dies after its plan
  is carried out again by the next one, so nothing doubles. Reach is exact: viewer hashes go to
  one file per hour.

Every flush records the hours it wrote with an increasing sequence number
(``impressions_written_since``), so the rollup recomputes them whatever their age.
"""

import atexit
import fcntl
import hashlib
import json
import logging
import os
import threading
import uuid
from collections import defaultdict
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from rooms.impressions_buffer import PageBuffer
from rooms.models import ImpressionCount, Room

Surface = ImpressionCount.Surface

LIVE_TTL = 3 * 24 * 3600  # an unflushed live hash outlives any sane beat outage...
TOTALS_TTL = 40 * 24 * 3600  # ...and the totals outlive it, so a fold never restarts from zero.
REACH_TTL = 40 * 24 * 3600  # weeks of reach can be recomputed from the hourly sketches.
# Repeats of one viewer, room and surface within a slot are one display.
SLOT = 30 * 60
# The standard error of the reach estimate; the exact fallback has none.
REACH_ERROR = 0.0081
# The local flush reads stored counts this many hours at a time, by room when they are this few.
PLAN_HOURS = 50
PLAN_ROOMS = 500


def _unidentified_cap() -> int:
    return int(getattr(settings, "IMPRESSIONS_UNIDENTIFIED_CAP", 10))


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
# The pages of one batch (from the process's buffer) in one command, run whole by Redis: per
# display the dedupe (``SADD`` to the slot's seen set, or ``HINCRBY`` of its unidentified
# counter), then per hour and field one ``HINCRBY`` of the new displays, per sketch one ``PFADD``
# of the new viewers, and the hours' marks (a fold that runs before the marks still finds the
# increments; after them, the hours stay marked). ARGV: the key prefixes and limits, then five
# per page: hour, slot, surface, viewer, the room ids comma-separated.
_RECORD = """
local live, hours, reach, seenp = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local live_ttl, reach_ttl, cap = ARGV[5], ARGV[6], tonumber(ARGV[7])
local slot_len, now = tonumber(ARGV[8]), tonumber(ARGV[9])
local counts, sketches, expiry = {}, {}, {}
for i = 10, #ARGV, 5 do
  local hour, slot, surface, who = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local seen = seenp .. slot
  local set = who ~= '' and seen or seen .. ':anon'
  -- The seen set lives until its slot is over (an hour more for clocks that disagree).
  local until_ = math.max((tonumber(slot) + 1) * slot_len, now) + 3600
  if (expiry[set] or 0) < until_ then expiry[set] = until_ end
  local fields = counts[hour]
  if not fields then fields = {}; counts[hour] = fields end
  for room in string.gmatch(ARGV[i + 4], '%d+') do
    local field = room .. ':' .. surface
    local new
    if who ~= '' then
      new = redis.call('SADD', seen, field .. ':' .. who) == 1
    else
      new = redis.call('HINCRBY', set, field, 1) <= cap
    end
    if new then
      fields[field] = (fields[field] or 0) + 1
      if who ~= '' then
        local key = reach .. hour .. ':' .. room
        local viewers = sketches[key]
        if not viewers then viewers = {}; sketches[key] = viewers end
        viewers[#viewers + 1] = who
      end
    end
  end
end
for hour, fields in pairs(counts) do
  local key = live .. hour
  local any = false
  for field, n in pairs(fields) do
    redis.call('HINCRBY', key, field, n)
    any = true
  end
  if any then redis.call('EXPIRE', key, live_ttl) end
  redis.call('SADD', hours, hour)
end
for key, viewers in pairs(sketches) do
  local changed = 0
  for j = 1, #viewers, 500 do
    changed = changed + redis.call('PFADD', key, unpack(viewers, j, math.min(j + 499, #viewers)))
  end
  if changed > 0 then redis.call('EXPIRE', key, reach_ttl) end
end
for key, at in pairs(expiry) do redis.call('EXPIREAT', key, string.format('%d', at)) end
return 0
"""
# Clear an hour's dirty mark only if no fold touched it since we read its totals.
_CLEAN = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""
# The hours a flush wrote, under one new sequence number (taken after the database commit, so a
# reader that saw number n has every write marked up to n).
_MARK = """
local seq = redis.call('INCR', KEYS[1])
for _, hour in ipairs(ARGV) do redis.call('ZADD', KEYS[2], seq, hour) end
return seq
"""


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _hour_str(at: datetime) -> str:
    return _hour(at).strftime("%Y%m%d%H")


def _parse_hour(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H").replace(tzinfo=UTC)


def _dir() -> Path:
    return Path(getattr(settings, "IMPRESSIONS_DIR", settings.VAR_DIR / "impressions"))


def _append(path: Path, data: bytes) -> None:
    # One write per call: O_APPEND keeps the lines of several processes whole.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _reach_write(reach: dict[tuple[str, int], set[str]]) -> None:
    by_hour: dict[str, list[str]] = defaultdict(list)
    for (hour, room), viewers in reach.items():
        by_hour[hour].extend(f"{room} {who}\n" for who in viewers)
    folder = _dir()
    folder.mkdir(parents=True, exist_ok=True)
    for hour, lines in by_hour.items():
        _append(folder / f"{hour}.txt", "".join(lines).encode())


def _reach_read(hours: list[str]) -> dict[tuple[str, int], set[str]]:
    folder = _dir()
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
    # Reach and dedupe need only identity, not the user id or session key itself.
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
        "seen": f"{p}:ots:seen:",
        "seq": f"{p}:ots:seq",
        "written": f"{p}:ots:written",
    }


# --- recording ----------------------------------------------------------------------------------
def impressions_record(*, room_ids: list[int], surface: str, viewer: str = "") -> None:
    """Count one display of each room to one viewer (a user id or session key; "" if unknown:
    counted as OTS under its own cap, left out of reach)."""
    impressions_record_at(room_ids=room_ids, surface=surface, viewer=viewer, at=None)


def impressions_record_at(
    *, room_ids: list[int], surface: str, viewer: str = "", at: datetime | None
) -> None:
    """impressions_record at a given moment (demo data and tests); ``at=None`` means now."""
    if not room_ids:
        return
    if surface not in Surface.values:
        raise ValueError(f"unknown surface {surface!r}")
    now = timezone.now()
    at = at or now
    hour = _hour_str(at)
    slot = int(at.timestamp()) // SLOT
    who = _viewer_hash(viewer) if viewer else ""
    rooms = [int(room) for room in room_ids]
    if settings.REDIS_URL:
        # Buffered: sent with other pages in one call, within IMPRESSIONS_BUFFER_SECONDS.
        _page_buffer().add((hour, str(slot), surface, who, ",".join(map(str, rooms))))
        return
    _spool_new(rooms, surface, slot, who, hour, now)


def _spool_new(rooms: list[int], surface: str, slot: int, who: str, hour: str, now) -> None:
    rooms = _local_new(rooms, surface, slot, who, now)
    if rooms:
        line = "".join(f"{hour} {room} {surface} {slot} {who}\n" for room in rooms)
        _spool_append(line.encode())


# --- the page buffer (Redis) --------------------------------------------------------------------
_buffer: PageBuffer | None = None
_buffer_lock = threading.Lock()


def _page_buffer() -> PageBuffer:
    global _buffer
    buffer = _buffer
    if buffer is None:
        with _buffer_lock:
            if _buffer is None:
                _buffer = PageBuffer(_send_pages)
            buffer = _buffer
    buffer.max_age = float(getattr(settings, "IMPRESSIONS_BUFFER_SECONDS", 0.1))
    buffer.max_pages = int(getattr(settings, "IMPRESSIONS_BUFFER_PAGES", 50))
    return buffer


def impressions_send() -> int:
    """Send this process's buffered pages to Redis now; returns how many."""
    return _buffer.flush() if _buffer is not None else 0


def impressions_discard() -> int:
    """Drop this process's buffered pages (tests, between one test's settings and the next)."""
    return _buffer.discard() if _buffer is not None else 0


def _send_at_exit() -> None:
    try:
        impressions_send()
    except Exception:
        logging.getLogger(__name__).exception("impressions: the last send at exit failed")


def _forget_parent_buffer() -> None:
    # A forked child must not send its parent's pages again, nor wait on its locks.
    global _buffer, _buffer_lock
    _buffer = None
    _buffer_lock = threading.Lock()


atexit.register(_send_at_exit)
os.register_at_fork(after_in_child=_forget_parent_buffer)


def _send_pages(pages: list[tuple[str, str, str, str, str]]) -> None:
    """One batch of buffered pages: one script call with Redis (the spool if it is gone)."""
    now = timezone.now()
    if not settings.REDIS_URL:
        for hour, slot, surface, who, packed in pages:
            rooms = [int(room) for room in packed.split(",")]
            _spool_new(rooms, surface, int(slot), who, hour, now)
        return
    k = _keys()
    args = [
        k["live"],
        k["live_hours"],
        k["reach"],
        k["seen"],
        LIVE_TTL,
        REACH_TTL,
        _unidentified_cap(),
        SLOT,
        int(now.timestamp()),
    ]
    for page in pages:
        args.extend(page)
    _script("record", _RECORD)(args=args)


def _local_new(rooms: list[int], surface: str, slot: int, who: str, now: datetime) -> list[int]:
    """The rooms whose display is new for the cap, through the Django cache (``add`` is a set-if-
    absent with expiry). Its default, a per-process memory, serves one server process per box."""
    timeout = max((slot + 1) * SLOT - int(now.timestamp()), 0) + 3600
    new = []
    for room in rooms:
        key = f"ots:seen:{slot}:{room}:{surface}:{who}"
        if who:
            if cache.add(key, 1, timeout):
                new.append(room)
            continue
        cache.add(key, 0, timeout)
        try:
            if cache.incr(key) <= _unidentified_cap():
                new.append(room)
        except ValueError:  # expired between add and incr: a new slot's first display
            new.append(room)
    return new


# --- the spool (no Redis) -----------------------------------------------------------------------
def _spool_dir() -> Path:
    folder = _dir() / "spool"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _spool_append(data: bytes) -> None:
    path = _spool_dir() / f"{os.getpid()}.log"
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # A flush may have claimed (renamed) the file between our open and our lock: then
            # this descriptor is the claimed batch, and the line belongs in a fresh file.
            try:
                current = os.stat(path)
            except FileNotFoundError:
                continue
            mine = os.fstat(fd)
            if (mine.st_ino, mine.st_dev) != (current.st_ino, current.st_dev):
                continue
            os.write(fd, data)
            return
        finally:
            os.close(fd)


@contextmanager
def _flush_lock():
    fd = os.open(_spool_dir() / "flush.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _claim() -> list[Path]:
    """Rename every spool file to a batch; wait out a writer holding the old file."""
    folder = _spool_dir()
    for path in folder.glob("*.log"):
        batch = folder / f"{path.stem}.{uuid.uuid4().hex}.batch"
        try:
            os.rename(path, batch)
        except FileNotFoundError:
            continue
        fd = os.open(batch, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        finally:
            os.close(fd)
    # Batches left by a flush that died are claimed already: only one flush runs at a time.
    return sorted(folder.glob("*.batch"))


def _pending_path() -> Path:
    return _spool_dir() / "pending.json"


def _read_batches(batches: list[Path]) -> list[dict]:
    """Counts per (room, hour, surface), and the viewers behind them (reach)."""
    counts: dict[tuple[int, str, str], int] = defaultdict(int)
    reach: dict[tuple[str, int], set[str]] = defaultdict(set)
    for batch in batches:
        for line in batch.read_text().splitlines():
            parts = line.split(" ", 4)
            if len(parts) != 5:
                continue  # a line cut short by a crash mid-write
            hour, room, surface, _slot, who = parts
            counts[(int(room), hour, surface)] += 1
            if who:
                reach[(hour, int(room))].add(who)
    # Distinct viewers: writing a hash twice cannot inflate reach.
    _reach_write(reach)
    return [{"room": r, "hour": h, "surface": s, "n": n} for (r, h, s), n in counts.items()]


def _stored_counts(keys: set[tuple[int, str, str]]) -> dict[tuple[int, str, str], int]:
    """The stored count of each (room, hour, surface), read a few hours at a time: a condition
    per key would pass SQLite's limit on an expression's depth (1,000) on a busy spool."""
    rooms_by_hour: dict[str, set[int]] = defaultdict(set)
    for room, hour, _surface in keys:
        rooms_by_hour[hour].add(room)
    hours = sorted(rooms_by_hour)
    found = {}
    for i in range(0, len(hours), PLAN_HOURS):
        chunk = hours[i : i + PLAN_HOURS]
        rooms = set().union(*(rooms_by_hour[h] for h in chunk))
        stored = ImpressionCount.objects.filter(hour__in=[_parse_hour(h) for h in chunk])
        if len(rooms) <= PLAN_ROOMS:
            stored = stored.filter(room_id__in=rooms)
        for room, hour, surface, n in stored.values_list("room_id", "hour", "surface", "count"):
            key = (room, _hour_str(hour), surface)
            if key in keys:
                found[key] = n
    return found


def _plan(batches: list[Path]) -> dict:
    """The rows as they must be after adding the batches: the database's counts plus theirs."""
    deltas = _read_batches(batches)
    now = _stored_counts({(d["room"], d["hour"], d["surface"]) for d in deltas})
    rows = [
        [
            d["room"],
            d["hour"],
            d["surface"],
            now.get((d["room"], d["hour"], d["surface"]), 0) + d["n"],
        ]
        for d in deltas
    ]
    return {"rows": rows, "batches": [b.name for b in batches]}


def _apply(plan: dict) -> list[str]:
    """Write a plan's absolute counts, mark its hours, drop its batches. Safe to repeat."""
    rows = [(room, _parse_hour(hour), surface, n) for room, hour, surface, n in plan["rows"]]
    alive = _existing_rooms(row[0] for row in rows)
    with transaction.atomic():
        _upsert([row for row in rows if row[0] in alive], add=False)
    hours = sorted({hour for _, hour, _, _ in plan["rows"]})
    if hours:
        _mark_local(hours)
    for name in plan["batches"]:
        (_spool_dir() / name).unlink(missing_ok=True)
    _pending_path().unlink(missing_ok=True)
    return hours


def _flush_local() -> list[datetime]:
    """Claim the spool, write down what the rows must become (the plan), then carry it out.

    A flush that dies after writing its plan leaves it behind, and the next flush carries out the
    same plan again (absolute counts: nothing doubles) before it claims anything new.
    """
    with _flush_lock():
        hours: set[str] = set()
        try:
            plan = json.loads(_pending_path().read_text())
        except FileNotFoundError:
            plan = None
        if plan is not None:
            hours.update(_apply(plan))
        batches = _claim()
        if batches:
            with transaction.atomic():
                plan = _plan(batches)
            tmp = _pending_path().with_suffix(".tmp")
            tmp.write_text(json.dumps(plan))
            os.replace(tmp, _pending_path())
            hours.update(_apply(plan))
    return sorted(_parse_hour(hour) for hour in hours)


def _written_path() -> Path:
    return _dir() / "written.log"


def _written_read() -> list[tuple[int, str]]:
    try:
        text = _written_path().read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines(keepends=True):
        if line.endswith("\n") and " " in line:
            seq, hour = line.split()
            out.append((int(seq), hour))
    return out


def _mark_local(hours: list[str]) -> None:
    # Under the flush lock: one marker at a time, so the numbers only grow.
    marks = _written_read()
    seq = (marks[-1][0] if marks else 0) + 1
    _append(_written_path(), "".join(f"{seq} {hour}\n" for hour in hours).encode())


# --- flushing -----------------------------------------------------------------------------------
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
    """Move buffered counts into ImpressionCount; returns the hours written. Safe to repeat.

    This process's own waiting pages are sent to Redis first; other processes send theirs
    within IMPRESSIONS_BUFFER_SECONDS."""
    if settings.REDIS_URL:
        impressions_send()
        return _flush_redis()
    return _flush_local()


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
    _script("mark", _MARK)(keys=[k["seq"], k["written"]], args=sorted(dirty))
    clean = _script("clean", _CLEAN)
    for hour, version in dirty.items():
        clean(keys=[k["dirty"]], args=[hour, version])
    return sorted(_parse_hour(hour) for hour in dirty)


def impressions_written_since(seq: int) -> tuple[set[datetime], int]:
    """The hours flushes wrote after sequence number ``seq``, and the number to pass next time."""
    if settings.REDIS_URL:
        k = _keys()
        marks = [
            (int(score), member.decode())
            for member, score in _redis().zrangebyscore(
                k["written"], f"({seq}", "+inf", withscores=True
            )
        ]
    else:
        marks = [(s, hour) for s, hour in _written_read() if s > seq]
    hours = {_parse_hour(hour) for _, hour in marks}
    return hours, max((s for s, _ in marks), default=seq)


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
    return {
        key: len(set().union(*(found.get((h, room), ()) for h in hours for room in rooms)))
        for key, rooms in groups.items()
    }


def impressions_forget_reach(*, before: datetime) -> int:
    """Delete the fallback's reach files older than ``before``, and the flush marks of those
    hours (Redis expires its own keys; its marks are trimmed here too)."""
    cutoff = _hour_str(before)
    if settings.REDIS_URL:
        k = _keys()
        old = [m for m in _redis().zrange(k["written"], 0, -1) if m.decode() < cutoff]
        if old:
            _redis().zrem(k["written"], *old)
        return 0
    removed = 0
    folder = _dir()
    if folder.exists():
        for path in folder.glob("*.txt"):
            if path.stem < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        with _flush_lock():
            marks = _written_read()
            kept = [(s, hour) for s, hour in marks if hour >= cutoff]
            if len(kept) < len(marks):
                # The last number stays, so the next mark still takes a larger one.
                kept = kept or marks[-1:]
                tmp = _written_path().with_suffix(".tmp")
                tmp.write_text("".join(f"{s} {hour}\n" for s, hour in kept))
                os.replace(tmp, _written_path())
    return removed

"""From samples and a recording to the figures: claimed and heard spread, time to lock.

Times are bench seconds (time.time()); the room's server runs on this machine, so its clock is
the bench's and `started_at` is directly comparable. Spreads compare pages with each other
and need no clock at all for the heard part.
"""

import numpy as np

from bench.sync.locate import assign, decode, find_marks

LOCK_MS = 20.0  # a page is locked once its error stays under this ...
LOCK_HOLD_S = 5.0  # ... for this long
GRID_S = 0.1  # claimed positions are compared on this grid
MAX_GAP_S = 0.6  # no interpolation across a hole in a page's samples wider than this


def _startup(sample: dict):
    sync = sample.get("sync") or {}
    return sync.get("startup")


def stats(values) -> dict:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if not len(v):
        return {"n": 0, "p50": None, "p95": None, "max": None}
    return {
        "n": int(len(v)),
        "p50": round(float(np.percentile(v, 50)), 2),
        "p95": round(float(np.percentile(v, 95)), 2),
        "max": round(float(v.max()), 2),
    }


def page_clock_offset(samples: list[dict]) -> tuple[float, float]:
    """(page ms - bench ms, its error bound in ms) from the five tightest brackets."""
    tight = sorted(samples, key=lambda s: s["after"] - s["before"])[:5]
    offsets = [s["page_ms"] - 500 * (s["before"] + s["after"]) for s in tight]
    bound = max(500 * (s["after"] - s["before"]) for s in tight)
    return float(np.median(offsets)), bound


def claimed_series(samples: list[dict], started_at: float) -> dict:
    """Per sample: bench time and the claimed position's error against the room, in ms."""
    if not samples:
        return {"t": [], "err_ms": [], "drift_ms": [], "clock": None}
    offset_ms, bound_ms = page_clock_offset(samples)
    t, err, drift = [], [], []
    for s in samples:
        sync = s["sync"]
        if not sync or not sync.get("playing") or sync.get("actual_s") is None:
            continue
        at = (s["page_ms"] - offset_ms) / 1000
        t.append(at)
        err.append(1000 * (sync["actual_s"] - (at - started_at)))
        drift.append(sync.get("drift_ms"))
    return {
        "t": t,
        "err_ms": err,
        "drift_ms": drift,
        "clock": {"offset_ms": round(offset_ms, 2), "bound_ms": round(bound_ms, 2)},
    }


def lock_time(t: list[float], err: list[float | None]) -> float | None:
    """First time from which every sample stays within LOCK_MS for LOCK_HOLD_S (None: never).

    Holding for a while, rather than to the end of the run, keeps one later hiccup (a stall of
    the whole machine) from being read as a page that took a minute to lock; later excursions
    show in the spreads and in `within_pct`.
    """
    start = None
    for at, e in zip(t, err, strict=True):
        if e is None or abs(e) >= LOCK_MS:
            start = None
            continue
        if start is None:
            start = at
        if at - start >= LOCK_HOLD_S:
            return start
    return None


def within_pct(t: list[float], err: list[float | None], since: float | None) -> float | None:
    """Share of samples from `since` on whose error is within LOCK_MS."""
    if since is None:
        return None
    vals = [e for at, e in zip(t, err, strict=True) if at >= since and e is not None]
    return round(100 * sum(abs(e) < LOCK_MS for e in vals) / len(vals), 1) if vals else None


def _interp(series: dict, grid: np.ndarray) -> np.ndarray:
    t = np.asarray(series["t"])
    e = np.asarray(series["err_ms"])
    out = np.full(len(grid), np.nan)
    if len(t) < 2:
        return out
    idx = np.searchsorted(t, grid)
    ok = (idx > 0) & (idx < len(t))
    i = idx[ok]
    t0, t1 = t[i - 1], t[i]
    close = (t1 - t0) <= MAX_GAP_S
    w = (grid[ok] - t0) / np.where(t1 > t0, t1 - t0, 1)
    vals = e[i - 1] + w * (e[i] - e[i - 1])
    vals[~close] = np.nan
    out[ok] = vals
    return out


def analyze(
    *,
    listeners,
    raw: bytes,
    capture_t0: float,
    rate: int,
    started_at: float,
    marks_s: list[float],
    end: float,
) -> dict:
    n = len(listeners)
    pages = []
    series = []
    for lst in listeners:
        s = claimed_series(lst.samples, started_at)
        series.append(s)
        lock = lock_time(s["t"], s["err_ms"])
        own = lock_time(s["t"], s["drift_ms"])
        pages.append(
            {
                "page": lst.index,
                "joined_at": lst.joined_at,
                "api_ready_after_s": _after(lst.loaded_at, lst.joined_at),
                "listen_clicked": lst.listen_clicked_at is not None,
                "samples": len(lst.samples),
                "playing_samples": len(s["t"]),
                "page_clock": s["clock"],
                "lock_after_join_s": _after(lock, lst.joined_at),
                "own_drift_lock_after_join_s": _after(own, lst.joined_at),
                "claimed_err_ms": stats(abs(e) for e in s["err_ms"]),
                "within_20ms_after_lock_pct": within_pct(s["t"], s["err_ms"], lock),
                "errors": lst.errors[:5],
                # When the page's Web Audio engine got its context, a running output, a settled
                # mapping, the decoded track and its first sound (ms after navigation).
                "startup_ms": next(
                    (x["sync"]["startup"] for x in reversed(lst.samples) if _startup(x)), None
                ),
                "series": [
                    [round(t - lst.joined_at, 3), round(e, 2), d]
                    for t, e, d in zip(s["t"], s["err_ms"], s["drift_ms"], strict=True)
                ],
            }
        )

    # Steady state: from the moment the last page is locked (or, for a page that never locks,
    # the lock goal's deadline after its join) to the end.
    ends_of_join = []
    for p, lst in zip(pages, listeners, strict=True):
        lock = p["lock_after_join_s"]
        ends_of_join.append(lst.joined_at + (lock if lock is not None else 2.0))
    steady_from = max(ends_of_join) if ends_of_join else end

    grid = np.arange(steady_from, end, GRID_S)
    claimed = np.vstack([_interp(s, grid) for s in series]) if len(grid) else np.empty((n, 0))
    full = ~np.isnan(claimed).any(axis=0) if claimed.size else np.zeros(0, bool)
    claimed_spread = (claimed[:, full].max(axis=0) - claimed[:, full].min(axis=0)).tolist()

    channels = decode(raw, n)
    heard = []
    for k in range(n):
        found = find_marks(channels[k], rate)
        named = assign(found, t0=capture_t0, started_at=started_at, marks_s=marks_s)
        heard.append(named)
        pages[k]["marks_found"] = len(found)
        pages[k]["marks_named"] = len(named)
        pages[k]["heard_minus_room_ms"] = stats(
            1000 * (t - started_at - marks_s[i]) for i, (t, _) in named.items()
        )
        # What currentTime hides: how much later a mark is heard than the claimed position says
        # (a position ahead of the room means the mark comes early, hence the sum). Every page
        # shares the recording path, so differences between pages are the pages' own.
        heard_at = np.array([t for t, _ in named.values()])
        claimed_at = _interp(series[k], heard_at) if len(heard_at) else np.array([])
        room_err = np.array([1000 * (t - started_at - marks_s[i]) for i, (t, _) in named.items()])
        gap = [float(x) for x in room_err + claimed_at if not np.isnan(x)]
        pages[k]["heard_minus_claimed_ms"] = {
            **stats(gap),
            "p05": round(float(np.percentile(gap, 5)), 2) if gap else None,
        }
    marks = []
    for i, m in enumerate(marks_s):
        at = started_at + m
        times = {k: heard[k][i][0] for k in range(n) if i in heard[k]}
        if not times:
            continue
        vals = list(times.values())
        marks.append(
            {
                "mark_s": m,
                "at": at,
                "steady": at >= steady_from and at <= end and len(times) == n,
                "pages": len(times),
                "spread_ms": round(1000 * (max(vals) - min(vals)), 2),
                "heard_minus_room_ms": {k: round(1000 * (t - at), 2) for k, t in times.items()},
            }
        )
    steady = [m for m in marks if m["steady"]]
    locks = [p["lock_after_join_s"] for p in pages]
    heard_stats = stats(m["spread_ms"] for m in steady)
    deviations = []
    for m in steady:
        vals = list(m["heard_minus_room_ms"].values())
        mid = float(np.median(vals))
        deviations += [abs(v - mid) for v in vals]
    claimed_stats = stats(claimed_spread)
    goals = {
        "heard_p95_le_20ms": heard_stats["p95"] is not None and heard_stats["p95"] <= 20,
        "heard_max_lt_100ms": heard_stats["max"] is not None and heard_stats["max"] < 100,
        "lock_le_2s": all(x is not None and x <= 2.0 for x in locks),
    }
    return {
        "steady_from": steady_from,
        "steady_s": round(end - steady_from, 1),
        "heard_spread_ms": heard_stats,
        "heard_deviation_ms": stats(deviations),
        "claimed_spread_ms": claimed_stats,
        "lock_after_join_s": stats(locks) if all(x is not None for x in locks) else None,
        "pages_never_locked": [p["page"] for p in pages if p["lock_after_join_s"] is None],
        "goals": goals,
        "pages": pages,
        "marks": marks,
    }


def _after(t: float | None, since: float | None) -> float | None:
    return None if t is None or since is None else round(t - since, 3)

"""The sync bench's table, its JSON file and its section of docs/benchmarks.md."""

import json
import os
import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\nResults measured on the project's own machine, with the command for each.\n"
)


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _fmt(v, digits=1):
    return "–" if v is None else f"{v:.{digits}f}"


def _row(name, s, unit="ms"):
    if not s or not s.get("n"):
        return f"{name:<28} {'no data':>30}"
    return (
        f"{name:<28} {_fmt(s['p50']):>8} {_fmt(s['p95']):>8} {_fmt(s['max']):>8}"
        f"   {unit}, n={s['n']}"
    )


def table(result: dict) -> str:
    r = result["results"]
    lines = [
        f"sync bench: {result['pages']} pages, target {result['target']}, "
        f"{r['steady_s']} s steady, load {result['load_before']} -> {result['load_after']}",
        "",
        f"{'page':>4} {'join s':>7} {'lock s':>7} {'own lock':>8} {'|claimed err| p95':>18}"
        f" {'heard-room p50':>15} {'marks':>6}",
    ]
    t0 = min(p["joined_at"] for p in r["pages"] if p["joined_at"])
    for p in r["pages"]:
        lines.append(
            f"{p['page']:>4} {_fmt(p['joined_at'] - t0):>7} {_fmt(p['lock_after_join_s'], 2):>7}"
            f" {_fmt(p['own_drift_lock_after_join_s'], 2):>8}"
            f" {_fmt(p['claimed_err_ms']['p95']):>18}"
            f" {_fmt(p['heard_minus_room_ms']['p50']):>15}"
            f" {_fmt(p['heard_minus_claimed_ms']['p50']):>18} {p['marks_named']:>6}"
        )
    lines += [
        "",
        f"{'':<28} {'p50':>8} {'p95':>8} {'max':>8}",
        _row("heard spread", r["heard_spread_ms"]),
        _row("heard deviation from median", r.get("heard_deviation_ms")),
        _row("claimed spread", r["claimed_spread_ms"]),
        _row("lock after join", r["lock_after_join_s"], "s"),
    ]
    if r["pages_never_locked"]:
        lines.append(f"never locked: pages {r['pages_never_locked']}")
    g = r["goals"]
    lines.append(
        "goals: heard p95 <= 20 ms "
        + ("OK" if g["heard_p95_le_20ms"] else "MISSED")
        + ", heard max < 100 ms "
        + ("OK" if g["heard_max_lt_100ms"] else "MISSED")
        + ", lock <= 2 s after join "
        + ("OK" if g["lock_le_2s"] else "MISSED")
    )
    return "\n".join(lines)


def write_json(result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"sync-{result['target']}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    return path


def write_docs(result: dict, command: str) -> None:
    r = result["results"]

    def cell(s, key):
        return "–" if not s or s.get(key) is None else f"{s[key]:.1f}"

    rows = [
        ("heard spread (ms)", r["heard_spread_ms"]),
        ("heard deviation from the pages' median (ms)", r.get("heard_deviation_ms")),
        ("claimed spread (ms)", r["claimed_spread_ms"]),
        ("lock after join (s)", r["lock_after_join_s"]),
    ]
    g = r["goals"]
    body = [
        "## Sync",
        "",
        f"Command: `{command}` ({result['pages']} pages joining {result['stagger_s']} s apart, "
        f"{r['steady_s']} s of steady state, target `{result['target']}`; "
        f"{time.strftime('%Y-%m-%d', time.localtime(result['started']))}).",
        "",
        "Each page is its own headless Chromium playing into one channel of a PulseAudio null "
        "sink; one recording of all channels gives what each page actually played on one clock, "
        "and the 3 kHz marks of the track (catalog/synth.py) are located in each channel. "
        "*Heard spread* is, per mark, the latest page minus the earliest; *claimed spread* "
        "compares the pages' `audio.currentTime` (from `window.roomtone.sync()`) on the bench's "
        "clock, every 100 ms; *heard deviation* is each page's distance from the pages' median "
        "at each mark (more samples than the spread: marks come every 5 s). *Lock* is the first "
        "moment from which a page's claimed position, measured on the bench's clock, stays "
        "within 20 ms of the room for 5 s. Steady state starts when the last page has locked "
        "(a page that never locks counts from 2 s after its join).",
        "",
        "| | n | p50 | p95 | max |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, s in rows:
        n = s.get("n", 0) if s else 0
        body.append(f"| {name} | {n} | {cell(s, 'p50')} | {cell(s, 'p95')} | {cell(s, 'max')} |")
    body += [
        "",
        f"Goals: heard p95 ≤ 20 ms: **{'met' if g['heard_p95_le_20ms'] else 'missed'}**; "
        f"heard max < 100 ms: **{'met' if g['heard_max_lt_100ms'] else 'missed'}**; "
        f"every page locked ≤ 2 s after joining: **{'met' if g['lock_le_2s'] else 'missed'}**"
        + (f" (never locked: pages {r['pages_never_locked']})" if r["pages_never_locked"] else "")
        + ".",
        "",
        f"Machine: {os.cpu_count()} cores shared with other work; load average "
        f"{result['load_before']} before, {result['load_after']} after the run.",
    ]
    for note in result.get("notes", []):
        body += ["", note]
    section = "\n".join(body) + "\n"
    text = DOCS.read_text() if DOCS.exists() else HEADER
    pattern = re.compile(r"^## Sync\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text)

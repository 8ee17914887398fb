"""Targets of the fan-out bench, machine notes, and the results table (terminal and docs)."""

import os
import platform
import subprocess
from importlib.metadata import version
from pathlib import Path

from bench.fanout.common import REAL_SLUG

TARGETS = {
    "raw": {"kind": "raw", "path": "/listen", "pub": "raw"},
    "stock-core": {"kind": "daphne", "layer": "core", "path": "/ws/stock/", "pub": "stock"},
    "stock-pubsub": {"kind": "daphne", "layer": "pubsub", "path": "/ws/stock/", "pub": "stock"},
    "hub-asgi": {"kind": "daphne", "path": "/ws/hub/", "pub": "hub", "direct": "0", "lazy": "1"},
    "hub": {"kind": "daphne", "path": "/ws/hub/", "pub": "hub", "lazy": "1"},
    # `--app real`: the product (config.asgi, the real room consumer, room_event publishing).
    "real": {"kind": "real", "server": "daphne", "path": f"/ws/rooms/{REAL_SLUG}/", "pub": "real"},
    "real-uvicorn": {
        "kind": "real",
        "server": "uvicorn",
        "ws": "websockets-sansio",
        "path": f"/ws/rooms/{REAL_SLUG}/",
        "pub": "real",
    },
    "real-uvicorn-wsproto": {
        "kind": "real",
        "server": "uvicorn",
        "ws": "wsproto",
        "path": f"/ws/rooms/{REAL_SLUG}/",
        "pub": "real",
    },
}
# What each --app runs by default, side by side with the raw server.
APP_TARGETS = {
    "bench": ["raw", "stock-core", "stock-pubsub", "hub-asgi", "hub"],
    "real": ["raw", "real"],
}


def machine_notes() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    try:
        redis_v = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=False
        ).stdout.split()[2]
    except (OSError, IndexError):
        redis_v = "?"
    versions = ["daphne", "channels", "channels-redis", "websockets"]
    for extra in ("uvicorn", "wsproto", "httptools"):
        try:
            version(extra)
            versions.append(extra)
        except Exception:  # noqa: S110 - not installed: nothing to report
            pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "versions": ", ".join(f"{p} {version(p)}" for p in versions) + f", redis-server {redis_v}",
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _fmt(value, digits=0):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def render(results, args, command, notes) -> str:
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {notes['cpus']} CPUs ({notes['cpu']}), Python {notes['python']}, "
        f"{notes['versions']}. Load average (1/5/15 min) before {notes['load_before']}, "
        f"after {notes.get('load_after', '?')}.",
        "",
        f"{args.listeners} listeners, {args.rate:g} events/s of ~200 bytes for {args.seconds:g} s "
        f"per phase; slow phase: {args.slow} listeners stop reading; saturation: "
        f"{args.sat_rate:g} events/s for {args.sat_seconds:g} s. Latency is publish → "
        "client receipt; CPU is utime+stime of the server processes (not Redis) per delivery; "
        f"'undelivered' counts events not received {args.drain:g} s after the publisher stopped "
        "(lost or later than that).",
        "",
        "| target | procs | joined (storm s, first frame p99 ms) | RSS KB/listener | "
        "steady p50 / p99 ms | undelivered | deliveries/s | CPU µs/delivery | slow: others' p99 ms "
        "(Δ) | 4008 | saturation deliveries/s | sat. CPU µs/delivery | sat. undelivered |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        ph = {p["phase"]: p for p in r["phases"] if not p.get("failed")}
        st, sl, sa = ph.get("steady", {}), ph.get("slow"), ph.get("saturation")
        slow = "—"
        if sl and st.get("p99_ms") and sl.get("p99_ms"):
            slow = f"{_fmt(sl['p99_ms'], 1)} ({(sl['p99_ms'] / st['p99_ms'] - 1) * 100:+.0f}%)"
        lines.append(
            f"| {r['target']} | {r['servers']} | {r['joined']}/{args.listeners} "
            f"({r['storm_s']:.1f} s, {_fmt(r['first_frame_p99_ms'])}) | "
            f"{_fmt(r['rss_kb_per_listener'], 1)} | "
            f"{_fmt(st.get('p50_ms'), 1)} / {_fmt(st.get('p99_ms'), 1)} | "
            f"{_fmt(st.get('lost'))} of {_fmt(st.get('expected'))} | "
            f"{_fmt(st.get('deliveries_per_s'))} | {_fmt(st.get('cpu_us_per_delivery'), 1)} | "
            f"{slow} | {sl['closed_4008'] if sl else '—'} | "
            f"{_fmt(sa and sa['deliveries_per_s'])} | "
            f"{_fmt(sa and sa['cpu_us_per_delivery'], 1)} | "
            f"{_fmt(sa and sa['lost'])} of {_fmt(sa and sa['expected'])} |"
        )
    return "\n".join(lines) + "\n"


SECTION = "## Fan-out"


def write_docs(path: Path, label: str, table: str) -> None:
    """Replace (or add) this run's block, keyed by label, inside the Fan-out section only."""
    start, end = f"<!-- fanout-results: {label} -->", f"<!-- /fanout-results: {label} -->"
    block = f"{start}\n### {label}\n\n{table}{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    elif SECTION in text:
        head, rest = text.split(SECTION, 1)
        cut = rest.find("\n## ")
        body, tail = (rest, "") if cut < 0 else (rest[:cut], rest[cut:])
        text = head + SECTION + body.rstrip("\n") + "\n\n" + block + "\n" + tail
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{block}\n"
    path.write_text(text)

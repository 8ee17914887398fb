"""Sync bench: N Chromium pages join one room at different moments; what do they play, and hear?

    python bench/sync/run.py                     # the app: 8 pages, 1 s apart, 60 s steady
    python bench/sync/run.py --target standalone --offset 3:50   # the pipeline, known answer

Each page runs in its own headless Chromium, as each fan has their own browser (`--browsers
shared`: one for all, lighter), and each page's audio goes to its own channel of one PulseAudio
null sink; one `parec` records all channels, so every page is heard on one clock. The track's
marks (catalog/synth.py) are located in each channel; the pages' claimed positions are sampled
from `window.roomtone.sync()`. Loopback only, bounded in time. Needs Debian's `pulseaudio` and
`pulseaudio-utils`. Results go to bench/results/ and, with --docs, into the "Sync" section of
docs/benchmarks.md. `--target standalone` serves a tiny page of its own instead of the app.
"""

import argparse
import asyncio
import io
import os
import sys
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.sync import audio, pages  # noqa: E402
from bench.sync.report import load, table, write_docs, write_json  # noqa: E402

LEAD_S = 2.0  # standalone: the shared start this far after the first join is scheduled


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--target", choices=("app", "standalone"), default="app")
    p.add_argument("--pages", type=int, default=8)
    p.add_argument("--stagger", type=float, default=1.0, help="seconds between joins")
    p.add_argument("--seconds", type=float, default=60, help="steady state after the last join")
    p.add_argument("--sample-every", type=float, default=0.25, help="seconds between sync samples")
    p.add_argument(
        "--offset",
        action="append",
        default=[],
        metavar="PAGE:MS",
        help="standalone only: play page PAGE this many ms ahead (checks the bench)",
    )
    p.add_argument(
        "--browsers",
        choices=("shared", "per-page"),
        default="per-page",
        help="one Chromium per page (as fans have), or one for all pages with each page's "
        "stream routed to its channel (lighter; Chromium's shared audio output starts late)",
    )
    p.add_argument(
        "--engine",
        choices=("auto", "htmlaudio"),
        default="auto",
        help="app: the page's playback engine (htmlaudio adds ?engine=htmlaudio)",
    )
    p.add_argument("--keep-audio", action="store_true", help="save the recording as a WAV")
    p.add_argument("--no-seed", action="store_true", help="app: skip seed_demo")
    p.add_argument("--docs", action="store_true", help="write the Sync section of benchmarks.md")
    p.add_argument("--note", action="append", default=[], help="a line to add under the figures")
    return p.parse_args(argv)


def app_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/roomtone_sy")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/8")
    env.setdefault("CHANNEL_PREFIX", "sy")
    env.setdefault("CACHE_PREFIX", "sy")
    env.setdefault("MEDIA_ROOT", str(Path("/tmp") / "roomtone-sync-bench-media"))
    env.setdefault("DEBUG", "false")
    return env


def ensure_database(url: str) -> None:
    """Create the bench's PostgreSQL database if it is missing (migrate does not)."""
    if not url.startswith("postgres"):
        return
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


async def drive(listeners, pulse, setup, track_s, run_s, args):
    """Launch the browsers, start the track, join the pages on schedule; sample until the end."""
    from playwright.async_api import async_playwright

    n = len(listeners)
    router = joins = shared = None
    async with async_playwright() as pw:
        if args.browsers == "shared":
            print(f"launching one browser for {n} pages ...", flush=True)
            shared = await pages.launch_shared(pw, pulse)
            await asyncio.gather(*(pages.open_in(shared, lst) for lst in listeners))
            router, joins = audio.Router(pulse), asyncio.Lock()
        else:
            print(f"launching {n} browsers ...", flush=True)
            await asyncio.gather(*(pages.launch(pw, pulse, lst) for lst in listeners))
        try:
            room = setup(seconds=track_s)
            for lst in listeners:
                lst.url = room["urls"][lst.index] if "urls" in room else room["url"]
                if args.engine == "htmlaudio" and "urls" not in room:
                    lst.url += ("&" if "?" in lst.url else "?") + "engine=htmlaudio"
            first = time.time()
            end = first + run_s
            print(
                f"joining {n} pages {args.stagger} s apart, then {args.seconds} s ...", flush=True
            )
            await asyncio.gather(
                *(
                    pages.listen(
                        lst,
                        join_at=first + lst.index * args.stagger,
                        end=end,
                        every=args.sample_every,
                        router=router,
                        joins=joins,
                    )
                    for lst in listeners
                )
            )
            if router is not None:
                room["unclaimed_streams"] = await asyncio.to_thread(router.unclaimed)
                room["streams_moved"] = router.moved
        finally:
            await asyncio.gather(*(pages.close(lst) for lst in listeners))
            if shared is not None:
                await shared.close()
    return room, end


def command_line(argv: list[str]) -> str:
    """The command as given, less the notes (they are printed under the figures anyway)."""
    kept, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--note":
            skip = True
        elif not a.startswith("--note="):
            kept.append(a)
    return " ".join(["python bench/sync/run.py", *kept])


def main(argv=None) -> int:
    args = parse_args(argv)
    missing = audio.missing_tools()
    if missing:
        print(
            "The sync bench records what each page plays through PulseAudio; missing: "
            + ", ".join(missing)
            + f"\nInstall with: apt-get install -y {' '.join(missing)}",
            file=sys.stderr,
        )
        return 2
    if not Path(pages.CHROMIUM).exists():
        print(f"The sync bench needs Debian's Chromium at {pages.CHROMIUM}", file=sys.stderr)
        return 2
    offsets = {}
    for spec in args.offset:
        k, ms = spec.split(":")
        offsets[int(k)] = float(ms)
    if offsets and args.target != "standalone":
        print("--offset only applies to --target standalone", file=sys.stderr)
        return 2

    from bench.sync.analyze import analyze

    n = args.pages
    run_s = args.stagger * (n - 1) + 2.0 + args.seconds
    track_s = int(run_s + LEAD_S + 15)
    result = {
        "target": args.target,
        "pages": n,
        "stagger_s": args.stagger,
        "seconds": args.seconds,
        "offsets_ms": offsets,
        "browsers": args.browsers,
        "engine": args.engine,
        "started": time.time(),
        "load_before": load(),
        "notes": args.note,
    }
    pulse = audio.Pulse(n)
    capture = audio.Capture(pulse)
    server = app = None
    listeners = [pages.Listener(index=k, url="") for k in range(n)]
    try:
        if args.target == "app":
            env = app_env()
            ensure_database(env["DATABASE_URL"])
            log = ROOT / "bench" / "results" / "sync-daphne.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            app = App(env, seed=not args.no_seed, log=log)
            print("app: migrate" + ("" if args.no_seed else " + seed_demo") + " ...", flush=True)
            app.setup()
            app.start()
        else:
            from bench.sync.standalone import Standalone
            from catalog import synth

            piece = synth.render(seed=4242, style="electronic", seconds=track_s)
            server = Standalone(piece.wav)
            server.start()
            with wave.open(io.BytesIO(piece.wav)) as w:
                duration_ms = w.getnframes() * 1000 // w.getframerate()
            marks_ms = synth.mark_times_ms(duration_ms)

        pulse.start()
        capture.start()
        if app:
            setup = app.start_track
        else:

            def setup(seconds):
                at = time.time() + LEAD_S
                urls = {
                    k: server.url(start_ms=round(at * 1000), offset_ms=offsets.get(k, 0))
                    for k in range(n)
                }
                return {"started_at_ms": round(at * 1000), "marks_ms": marks_ms, "urls": urls}

        room, end = asyncio.run(drive(listeners, pulse, setup, track_s, run_s, args))
        raw = capture.stop()
        started_at = room["started_at_ms"] / 1000
        marks_ms = room["marks_ms"]
        result["room"] = {k: v for k, v in room.items() if k != "urls"}
    finally:
        capture.stop()
        pulse.stop()
        if app:
            app.stop()
        if server:
            server.stop()

    print("locating marks ...", flush=True)
    result["load_after"] = load()
    result["capture"] = {"t0": capture.t0, "seconds": len(raw) / (2 * n * audio.RATE)}
    result["results"] = analyze(
        listeners=listeners,
        raw=raw,
        capture_t0=capture.t0,
        rate=audio.RATE,
        started_at=started_at,
        marks_s=[m / 1000 for m in marks_ms],
        end=end,
    )
    print(table(result))
    path = write_json(result)
    if args.keep_audio:
        with wave.open(str(path.with_suffix(".wav")), "wb") as w:
            w.setnchannels(n)
            w.setsampwidth(2)
            w.setframerate(audio.RATE)
            w.writeframes(raw)
    print(f"\nresults: {path.relative_to(ROOT)}")
    if args.docs:
        write_docs(result, command_line(argv if argv is not None else sys.argv[1:]))
        print("docs/benchmarks.md: Sync section written")
    return 0


from bench.sync.app import App  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

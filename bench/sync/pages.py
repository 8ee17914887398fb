"""Listener pages, in one Chromium (each page's stream routed to its channel) or one Chromium
each (its own PulseAudio sink), and their sync samples.

A sample is `[performance.timeOrigin + performance.now(), window.roomtone.sync()]` taken in one
evaluation, bracketed by the bench's time.time() before and after; the page clock is later mapped
to the bench clock from the tightest brackets, so no page's own clock offset is trusted.
"""

import asyncio
import time
from dataclasses import dataclass, field

from bench.sync.audio import Pulse, Router, with_tempdir_env

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    # Hidden, headless pages must not have their timers throttled: the player ticks on them.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
SAMPLE_JS = """() => {
  const t = performance.timeOrigin + performance.now();
  const api = window.roomtone;
  return [t, api && api.sync ? api.sync() : null];
}"""
ROUTE_WAIT_S = 10
ROUTE_SETTLE_S = 0.3
LISTEN_JS = """() => {
  const b = document.getElementById("listen-btn");
  if (!b || b.getAttribute("aria-pressed") === "true") return false;
  b.click();
  return true;
}"""


@dataclass
class Listener:
    index: int
    url: str
    browser: object = None  # its own browser (one per page), or None
    context: object = None
    page: object = None
    joined_at: float | None = None  # bench time navigation started
    loaded_at: float | None = None
    listen_clicked_at: float | None = None
    samples: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def launch(playwright, pulse: Pulse, listener: Listener) -> None:
    """A browser of the page's own, playing into the page's channel."""
    listener.browser = await playwright.chromium.launch(
        executable_path=CHROMIUM,
        ignore_default_args=["--mute-audio"],
        args=FLAGS,
        env=with_tempdir_env(pulse, listener.index),
    )
    listener.page = await listener.browser.new_page()
    listener.page.on("pageerror", lambda exc: listener.errors.append(str(exc)[:300]))


async def launch_shared(playwright, pulse: Pulse):
    """One browser for every page; the Router gives each page's stream its channel."""
    env = with_tempdir_env(pulse, 0)
    del env["PULSE_SINK"]  # unclaimed streams go to the default (unrecorded) sink
    return await playwright.chromium.launch(
        executable_path=CHROMIUM, ignore_default_args=["--mute-audio"], args=FLAGS, env=env
    )


async def open_in(browser, listener: Listener) -> None:
    """A page in its own context (its own cookies: another fan) of the shared browser."""
    listener.context = await browser.new_context()
    listener.page = await listener.context.new_page()
    listener.page.on("pageerror", lambda exc: listener.errors.append(str(exc)[:300]))


async def sample(listener: Listener) -> None:
    before = time.time()
    try:
        page_ms, sync = await listener.page.evaluate(SAMPLE_JS)
    except Exception as exc:
        listener.errors.append(f"sample: {exc}"[:300])
        return
    after = time.time()
    if sync is not None and listener.loaded_at is None:
        listener.loaded_at = after
    listener.samples.append({"before": before, "after": after, "page_ms": page_ms, "sync": sync})


async def listen(
    listener: Listener,
    *,
    join_at: float,
    end: float,
    every: float,
    router: Router | None = None,
    joins: asyncio.Lock | None = None,
) -> None:
    """Join at `join_at`, press Listen if the page is not playing by itself, sample until `end`.

    With a `router` (pages sharing a browser), the join holds `joins` until the page's audio
    stream has appeared and moved to its channel."""
    await asyncio.sleep(max(0.0, join_at - time.time()))
    if router is None:
        if not await _join(listener):
            return
    else:
        async with joins:
            known = await asyncio.to_thread(router.streams)
            if not await _join(listener):
                return
            deadline = time.time() + ROUTE_WAIT_S
            while not (await asyncio.to_thread(router.streams)) - known:
                if time.time() > deadline:
                    listener.errors.append("route: no audio stream appeared")
                    return
                await sample(listener)
                await asyncio.sleep(0.02)
            # Let the stream start before moving it (see bench/sync/audio.py).
            await asyncio.sleep(ROUTE_SETTLE_S)
            await asyncio.to_thread(router.claim, known, listener.index)
    checked = False
    while time.time() < end:
        started = time.time()
        await sample(listener)
        if not checked and started - listener.joined_at > 1.5:
            # The room page starts playing by itself when autoplay is allowed.
            checked = True
            last = listener.samples[-1]["sync"] if listener.samples else None
            if not (last and last.get("playing")):
                try:
                    if await listener.page.evaluate(LISTEN_JS):
                        listener.listen_clicked_at = time.time()
                except Exception as exc:
                    listener.errors.append(f"listen: {exc}"[:300])
        await asyncio.sleep(max(0.0, every - (time.time() - started)))


async def _join(listener: Listener) -> bool:
    listener.joined_at = time.time()
    try:
        await listener.page.goto(listener.url, wait_until="domcontentloaded", timeout=30000)
    except Exception as exc:
        listener.errors.append(f"join: {exc}"[:300])
        return False
    return True


async def close(listener: Listener) -> None:
    if listener.context:
        try:
            await listener.context.close()
        except Exception as exc:
            listener.errors.append(f"close: {exc}"[:300])
    if listener.browser:
        try:
            await listener.browser.close()
        except Exception as exc:
            listener.errors.append(f"close: {exc}"[:300])

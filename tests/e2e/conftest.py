"""Browser tests: a real daphne process serving the test database, driven by Chromium.

The server is a separate process, so it must see what the test writes: tests commit
(`transactional_db`) to the test database pytest-django created, and the server is pointed at
that database by name. An in-memory SQLite test database cannot be shared, so these tests need
PostgreSQL (CI runs them there).
"""

import math
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import wave
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def daphne_server(transactional_db, _media_root):
    """A daphne process on a port the OS chose, serving the test database; its base URL."""
    if not settings.IS_POSTGRES:
        pytest.skip("browser tests need PostgreSQL: set DATABASE_URL=postgres://...")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=_database_url(),
        MEDIA_ROOT=str(_media_root),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DEBUG="false",
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    daphne = str(Path(sys.executable).parent / "daphne")
    cmd = [daphne, "--fd", str(sock.fileno()), "-v", "0", "config.asgi:application"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, pass_fds=(sock.fileno(),))
    try:
        deadline = time.monotonic() + 30
        while not _up(url):
            assert proc.poll() is None, "daphne exited at start"
            assert time.monotonic() < deadline, "daphne did not start"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        sock.close()
        _wait_for_server_connections_to_close()


def _wait_for_server_connections_to_close(timeout: float = 10) -> None:
    """PostgreSQL notices a killed client's backend a moment later; the test database can only
    be flushed and dropped once it has."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.1)


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls stay
    # synchronous and sequential, so Django's guard against async misuse does not apply.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, ignore_default_args=["--mute-audio"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def signed_in(browser, daphne_server):
    """A new browser context signed in as `user` (a real session in the test database)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    contexts = []

    def make(user=None, viewport=None):
        context = browser.new_context(
            base_url=daphne_server, viewport=viewport or {"width": 1280, "height": 900}
        )
        contexts.append(context)
        if user is not None:
            store = SessionStore()
            store[SESSION_KEY] = str(user.pk)
            store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            store[HASH_SESSION_KEY] = user.get_session_auth_hash()
            store.save()
            context.add_cookies(
                [
                    {
                        "name": settings.SESSION_COOKIE_NAME,
                        "value": store.session_key,
                        "url": daphne_server,
                    }
                ]
            )
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def write_wav(path: Path, seconds: float, freq: float = 440.0, rate: int = 8000) -> int:
    """A quiet sine tone as 8 kHz mono WAV (seeks land exactly); returns its duration in ms."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = int(seconds * rate)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(
            b"".join(
                struct.pack("<h", int(3000 * math.sin(2 * math.pi * freq * i / rate)))
                for i in range(frames)
            )
        )
    return int(seconds * 1000)

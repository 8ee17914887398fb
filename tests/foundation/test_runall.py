"""The one-box stack `make run` starts: daphne, a Celery worker and beat on the filesystem broker.

Real processes on a free port with their own SQLite file and var/ folder: the server answers,
beat's playback sweep reaches the worker through the filesystem broker and advances a room whose
track has ended, and SIGINT (Ctrl-C) stops every process.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.foundation.helpers import BASE_DIR, clean_env, closed_port, run_manage

SETUP = """
from catalog.models import Track
from rooms.models import Playback, QueueEntry, Room
import time
now = int(time.time() * 1000)
track = Track.objects.create(title="Probe", audio="audio/probe.wav", duration_ms=60_000)
room = Room.objects.create(slug="probe", name="Probe")
start = now - 70_000
ended = QueueEntry.objects.create(room=room, track=track, status="playing", started_at_ms=start)
nxt = QueueEntry.objects.create(room=room, track=track)
Playback.objects.create(
    room=room, current_entry=ended, started_at_ms=start, ends_at_ms=start + 60_000
)
print(nxt.id)
"""


def processes_with(marker: str) -> list[int]:
    """Pids whose environment carries the marker: the stack's processes and nobody else's."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.timeout(300)
def test_runall_serves_runs_beat_and_worker_and_stops_on_ctrl_c(tmp_path):
    var = tmp_path / "var"
    env = {"VAR_DIR": str(var), "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}", "DEBUG": "true"}
    assert run_manage("migrate", "--noinput", **env).returncode == 0
    setup = run_manage("shell", "-c", SETUP, **env)
    assert setup.returncode == 0, setup.stderr
    next_entry = int(setup.stdout.strip().splitlines()[-1])

    port = closed_port()
    log = open(tmp_path / "runall.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "config.runall", "--port", str(port)],
        cwd=BASE_DIR,
        env=clean_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        body = None
        while time.monotonic() < deadline and body is None:
            assert proc.poll() is None, (tmp_path / "runall.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
        assert body and body["ok"], (tmp_path / "runall.log").read_text()

        # Beat sends rooms.playback_sweep every 2 s; only a working worker advances the room.
        current = None
        while time.monotonic() < deadline and current != next_entry:
            with sqlite3.connect(var / "db.sqlite3") as db:
                current = db.execute("SELECT current_entry_id FROM rooms_playback").fetchone()[0]
            time.sleep(0.5)
        assert current == next_entry, (tmp_path / "runall.log").read_text()
        assert "Demo logins" in (tmp_path / "runall.log").read_text()
        assert len(processes_with(f"VAR_DIR={var}")) >= 4  # runall, daphne, worker(s), beat
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        finally:
            for pid in processes_with(f"VAR_DIR={var}"):
                os.kill(pid, signal.SIGKILL)
            log.close()
    assert code == 0
    assert processes_with(f"VAR_DIR={var}") == []
    output = (tmp_path / "runall.log").read_text()
    assert "stopped" in output
    assert "signal 15" not in output  # the worker's pool stopped cleanly, not killed under it

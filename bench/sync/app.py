"""The real app for the bench: migrate, demo data, one daphne on a free port, a playing room."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    def __init__(self, env: dict[str, str], *, seed: bool = True, log: Path | None = None):
        self.env = env
        self.seed = seed
        self.port = free_port()
        self.proc = None
        self.log = log or Path(os.devnull)
        self.base = f"http://127.0.0.1:{self.port}"

    def _manage(self, *args: str) -> str:
        out = subprocess.run(  # noqa: S603
            [PY, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if out.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stderr[-2000:]}")
        return out.stdout

    def setup(self) -> None:
        self._manage("migrate", "--noinput")
        if self.seed:
            self._manage("seed_demo", "--force")

    def start(self) -> None:
        daphne = str(Path(PY).parent / "daphne")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                [daphne, "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("daphne did not answer /healthz in 30 s")

    def start_track(self, *, seconds: int) -> dict:
        """A fresh track in the bench room; started_at is START_LEAD_MS ahead of now."""
        out = subprocess.run(  # noqa: S603
            [PY, "-m", "bench.sync.prepare", "--seconds", str(seconds)],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise RuntimeError(f"preparing the room failed:\n{out.stderr[-2000:]}")
        room = json.loads(out.stdout.strip().splitlines()[-1])
        room["url"] = self.base + room["path"]
        return room

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

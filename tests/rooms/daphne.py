"""Real daphne processes serving config.asgi against the test's PostgreSQL and Redis."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daphne on {port} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"daphne on {port} did not start")


@contextmanager
def daphne_servers(count: int = 2, **env_extra: str):
    """`count` daphne processes on free ports; yields the ports, stops the processes after."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # The servers read and write the test database the test's data is committed to.
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CHANNEL_PREFIX": os.environ.get("CHANNEL_PREFIX", "roomtone"),
        "CACHE_PREFIX": os.environ.get("CACHE_PREFIX", "roomtone"),
        "LOG_LEVEL": "WARNING",
        **env_extra,
    }
    procs, ports = [], []
    try:
        for _ in range(count):
            port = free_port()
            cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
            cmd.append("config.asgi:application")
            procs.append(subprocess.Popen(cmd, cwd=BASE_DIR, env=env, stderr=subprocess.PIPE))
            ports.append(port)
        for port, proc in zip(ports, procs, strict=True):
            wait_listening(port, proc)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

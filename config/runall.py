"""Run the whole one-box stack in the foreground: daphne, a Celery worker and Celery beat.

`make run` calls this. Ctrl-C (or SIGTERM) stops all three; if one of them dies, the others are
stopped too, so a broken setup never looks half alive.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from config.demo_logins import demo_logins

BASE_DIR = Path(__file__).resolve().parent.parent


def _banner(host: str, port: int) -> str:
    url = f"http://{host}:{port}"
    lines = [
        "",
        f"  Roomtone is running at {url}/",
        f"  Label portal {url}/label/   Operators {url}/admin/   Health {url}/healthz",
        "",
        "  Demo logins:",
        *(f"    {who:<34} {user:<10} {password}" for who, user, password in demo_logins()),
        "",
        "  Ctrl-C stops the server, the worker and beat.",
    ]
    return "\n".join(lines)


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

    bin_dir = Path(sys.executable).parent
    commands = {
        "web": [
            str(bin_dir / "daphne"),
            "-b",
            args.host,
            "-p",
            str(args.port),
            "config.asgi:application",
        ],
        "worker": [
            str(bin_dir / "celery"),
            "-A",
            "config",
            "--quiet",
            "worker",
            "--loglevel=WARNING",
            "--concurrency=2",
        ],
        "beat": [str(bin_dir / "celery"), "-A", "config", "--quiet", "beat", "--loglevel=WARNING"],
    }
    if _port_in_use(args.host, args.port):
        print(f"{args.host}:{args.port} is already in use; stop that server or set PORT=...")
        return 1
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    # Handlers first: a Ctrl-C during start-up must still stop what was started.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # Each child gets its own process group: Ctrl-C reaches only this process, which then
    # stops the children in order instead of leaving a half-stopped set behind.
    procs = {
        name: subprocess.Popen(cmd, cwd=BASE_DIR, start_new_session=True)  # noqa: S603
        for name, cmd in commands.items()
    }
    deadline = time.monotonic() + 60
    while not stopping and not _port_in_use(args.host, args.port) and time.monotonic() < deadline:
        if procs["web"].poll() is not None:
            break
        time.sleep(0.2)
    if not stopping and procs["web"].poll() is None:
        print(_banner(args.host, args.port), flush=True)

    exit_code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; stopping the rest", flush=True)
                exit_code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.3)

    # SIGTERM to each main process only: the Celery worker then stops its own pool (a warm
    # shutdown); signalling the whole group would kill the pool under it. Groups are only
    # killed when a process outlives the grace period.
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 10
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    print("stopped", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

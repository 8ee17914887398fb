"""Run the whole one-box stack in the foreground: daphne, a Celery worker and Celery beat.

`make run` calls this. Ctrl-C (or SIGTERM) stops all three; if one of them dies, the others are
stopped too, so a broken setup never looks half alive.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _banner(host: str, port: int) -> str:
    lines = [
        "",
        f"  Roomtone is running at http://{host}:{port}/",
        f"  Label portal: http://{host}:{port}/label/   Operators: http://{host}:{port}/admin/",
        "",
    ]
    try:
        from config.demo_logins import demo_logins

        lines.append("  Demo logins (password for all: see below):")
        for who, username, password in demo_logins():
            lines.append(f"    {who:<28} {username:<14} {password}")
        lines.append("")
    except ImportError:
        pass
    lines.append("  Ctrl-C stops the server, the worker and beat.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    for folder in ("var/broker/queue", "var/broker/processed"):
        (BASE_DIR / folder).mkdir(parents=True, exist_ok=True)

    bin_dir = Path(sys.executable).parent
    commands = {
        "web": [
            str(bin_dir / "daphne"),
            "-b",
            args.host,
            "-p",
            str(args.port),
            "--proxy-headers",
            "config.asgi:application",
        ],
        "worker": [
            str(bin_dir / "celery"),
            "-A",
            "config",
            "worker",
            "--loglevel=WARNING",
            "--concurrency=2",
        ],
        "beat": [str(bin_dir / "celery"), "-A", "config", "beat", "--loglevel=WARNING"],
    }
    procs = {
        name: subprocess.Popen(cmd, cwd=BASE_DIR, start_new_session=True)  # noqa: S603
        for name, cmd in commands.items()
    }
    print(_banner(args.host, args.port), flush=True)

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; stopping the rest", flush=True)
                exit_code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.3)

    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
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

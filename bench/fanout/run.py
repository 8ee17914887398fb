"""Fan-out bench: one room, N listeners, R events a second, side by side on this machine.

    python bench/fanout/run.py --listeners 1000 --rate 20 --seconds 10
    DATABASE_URL=postgres://... python bench/fanout/run.py --app real --listeners 1000

Targets (each in turn, same clients and publisher): `raw` (a `websockets` server relaying with
broadcast(), the baseline), `stock-core` and `stock-pubsub` (two daphne processes, Channels
consumers in a group, one group_send per event, RedisChannelLayer / RedisPubSubChannelLayer),
`hub` (two daphne processes, consumers registered on rooms.hub). `--app real` runs `raw` and
`real`: two daphne processes serving Roomtone itself (config.asgi, the room consumer, events
through rooms.broadcast.room_event; bench/fanout/real.py); `real-uvicorn` and
`real-uvicorn-wsproto` serve the same under uvicorn. Loopback only, bounded in time.
Results go to bench/results/ and, with --docs, into the Fan-out section of docs/benchmarks.md.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.fanout.common import raise_fd_limit  # noqa: E402
from bench.fanout.report import APP_TARGETS, TARGETS, machine_notes, render, write_docs  # noqa: E402

HERE = Path(__file__).resolve().parent
PY = sys.executable
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def rss_kb(pids):
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def listening_socket():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    s.set_inheritable(True)
    return s


class Servers:
    def __init__(self, target, args, env):
        spec = TARGETS[target]
        self.socks, self.procs, self.urls = [], [], []
        for _ in range(1 if spec["kind"] == "raw" else args.servers):
            s = listening_socket()
            self.socks.append(s)
            port = s.getsockname()[1]
            if spec["kind"] == "raw":
                cmd = [PY, str(HERE / "raw_server.py"), "--fd", str(s.fileno())]
            elif spec.get("server") == "uvicorn":
                cmd = [PY, "-m", "uvicorn", "--fd", str(s.fileno()), "--ws", spec["ws"]]
                cmd += ["--http", "httptools", "--lifespan", "off", "--log-level", "warning"]
                cmd += ["--no-access-log", "--ws-ping-interval", "600"]
                cmd += ["config.asgi:application"]
            elif spec["kind"] == "real":
                cmd = [str(Path(PY).parent / "daphne"), "--fd", str(s.fileno()), "-v", "0"]
                cmd += ["--ping-interval", "600", "config.asgi:application"]
            else:
                cmd = [str(Path(PY).parent / "daphne"), "--fd", str(s.fileno()), "-v", "0"]
                cmd += ["--ping-interval", "600", "bench.fanout.asgi:application"]
            # Servers under overload log a traceback per failed socket: keep them in a file.
            log = open(Path(args.out) / f"server-{target}-{len(self.procs)}.log", "w")  # noqa: SIM115
            self.procs.append(
                subprocess.Popen(  # noqa: S603
                    cmd, cwd=ROOT, env=env, pass_fds=(s.fileno(),), stdout=log, stderr=log
                )
            )
            log.close()
            self.urls.append(f"ws://127.0.0.1:{port}{spec['path']}")
        port = self.socks[0].getsockname()[1]
        self.pub_url = f"ws://127.0.0.1:{port}/pub" if spec["kind"] == "raw" else ""

    @property
    def pids(self):
        return [p.pid for p in self.procs]

    def wait_ready(self, timeout=30):
        from websockets.sync.client import connect

        deadline = time.monotonic() + timeout
        for url in self.urls:
            while True:
                origin = "http://" + url.removeprefix("ws://").split("/", 1)[0]
                try:
                    with connect(url, open_timeout=2, origin=origin) as ws:
                        ws.recv(timeout=5)
                    break
                except Exception:
                    if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                        raise RuntimeError(f"server at {url} did not start") from None
                    time.sleep(0.2)

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for s in self.socks:
            s.close()


class Clients:
    def __init__(self, urls, listeners, procs, storm_seconds, env):
        self.procs = []
        share = [listeners // procs + (i < listeners % procs) for i in range(procs)]
        for n in share:
            cmd = [PY, str(HERE / "clients.py"), "--urls", ",".join(urls), "--count", str(n)]
            cmd += ["--storm-seconds", str(storm_seconds)]
            self.procs.append(
                subprocess.Popen(  # noqa: S603
                    cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
                )
            )

    def ask(self, line, only=None):
        procs = self.procs if only is None else [self.procs[only]]
        for p in procs:
            if line:
                p.stdin.write(line + "\n")
                p.stdin.flush()
        return [json.loads(p.stdout.readline()) for p in procs]

    def stop(self):
        for p in self.procs:
            try:
                p.stdin.write("quit\n")
                p.stdin.flush()
                p.wait(10)
            except Exception:
                p.kill()
                p.wait()


def pct(sorted_values, q):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1000


def run_phase(name, servers, clients, spec, args, env, seq, rate, seconds, drain):
    # The real room numbers its events itself: earlier phases' frames are told by send time.
    clients.ask(f"phase {0 if spec['pub'] == 'real' else seq} {time.time():.6f}")
    client_pids = [p.pid for p in clients.procs]
    cpu0, ccpu0, t0 = cpu_seconds(servers.pids), cpu_seconds(client_pids), time.monotonic()
    cmd = [PY, str(HERE / "publisher.py"), "--mode", spec["pub"], "--url", servers.pub_url]
    cmd += ["--rate", str(rate), "--seconds", str(seconds), "--first-seq", str(seq)]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)  # noqa: S603
    if out.returncode:
        raise RuntimeError(f"publisher failed: {out.stderr[-2000:]}")
    pub = json.loads(out.stdout.strip().splitlines()[-1])
    time.sleep(drain)
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds(servers.pids) - cpu0
    client_cpu = cpu_seconds(client_pids) - ccpu0
    latencies, reports = array("f"), []
    for i in range(len(clients.procs)):
        path = Path(args.out) / f".lat-{os.getpid()}-{i}.bin"
        reports += clients.ask(f"report {path}", only=i)
        with open(path, "rb") as fh:
            latencies.frombytes(fh.read())
        path.unlink()
    lat = sorted(latencies)
    delivered = sum(r["delivered"] for r in reports)
    reading = sum(r["kept_reading"] for r in reports)
    expected = pub["sent"] * reading
    return {
        "phase": name,
        "sent": pub["sent"],
        "publisher_late_s": pub["publisher_late_s"],
        "expected": expected,
        "delivered_reading": len(lat),
        "lost": expected - len(lat),
        "deliveries_per_s": round(delivered / min(elapsed, seconds + drain), 0),
        "p50_ms": pct(lat, 0.50),
        "p99_ms": pct(lat, 0.99),
        "max_ms": lat[-1] * 1000 if lat else None,
        "cpu_us_per_delivery": round(cpu / delivered * 1e6, 1) if delivered else None,
        "server_cpu_s": round(cpu, 2),
        "client_cpu_s": round(client_cpu, 2),
        "load_1min": round(os.getloadavg()[0], 2),
        "closed_4008": sum(r["closed_4008"] for r in reports),
        "out_of_order": sum(r["out_of_order"] for r in reports),
        "late_from_earlier_phase": sum(r.get("stale", 0) for r in reports),
    }, pub["sent"]


def run_target(target, args, base_env):
    spec = TARGETS[target]
    env = dict(base_env, BENCH_LAYER=spec.get("layer", "pubsub"))
    env["BENCH_HUB_DIRECT"] = spec.get("direct", "1")
    env["BENCH_AUTOBAHN_LAZY"] = spec.get("lazy", "0")
    env["CHANNEL_PREFIX"] = f"{base_env.get('CHANNEL_PREFIX', 'fo')}bench{target}"
    if spec["kind"] == "real":
        env = real_env(env, args, spec)
        out = subprocess.run(  # noqa: S603
            [PY, str(HERE / "real.py"), "prepare"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise RuntimeError(f"preparing the real room failed: {out.stderr[-2000:]}")
    servers = Servers(target, args, env)
    clients = None
    try:
        servers.wait_ready()
        time.sleep(0.5)
        rss0 = rss_kb(servers.pids)
        clients = Clients(servers.urls, args.listeners, args.client_procs, args.storm_seconds, env)
        joins = clients.ask("")
        joined = sum(j["joined"] for j in joins)
        time.sleep(1.5)
        rss1 = rss_kb(servers.pids)
        result = {
            "target": target,
            "servers": len(servers.procs),
            "joined": joined,
            "join_failed": sum(j["failed"] for j in joins),
            "storm_s": max(j["storm_s"] for j in joins),
            "first_frame_p99_ms": max(j["first_frame_p99_ms"] or 0 for j in joins),
            "rss_kb_per_listener": round((rss1 - rss0) / max(joined, 1), 1),
            "phases": [],
        }
        seq = 1
        plan = [("steady", args.rate, args.seconds)]
        if args.slow:
            plan.append(("slow", args.rate, args.seconds))
        if args.sat_rate:
            plan.append(("saturation", args.sat_rate, args.sat_seconds))
        for name, rate, seconds in plan:
            if name == "slow":
                clients.ask(f"slow {args.slow}", only=0)
            try:
                phase, sent = run_phase(
                    name, servers, clients, spec, args, env, seq, rate, seconds, args.drain
                )
            except RuntimeError as exc:
                # A target that cannot keep up is a result too; record it and go on.
                print(f"  {target} {name}: failed: {str(exc)[-300:]}", flush=True)
                result["phases"].append({"phase": name, "failed": True})
                break
            seq += sent
            result["phases"].append(phase)
            print(f"  {target} {name}: {phase}", flush=True)
        return result
    finally:
        if clients is not None:
            clients.stop()
            if spec["kind"] == "real":
                time.sleep(2)  # let the servers close the listening sessions before they stop
        servers.stop()


def real_env(env, args, spec):
    """The product's settings, on the bench's PostgreSQL database and Redis."""
    if not env.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("--app real needs DATABASE_URL=postgres://... (both servers share it)")
    env = dict(env, DJANGO_SETTINGS_MODULE="config.settings", ROOM_EVENTS_VIA_HUB="1")
    env["CACHE_PREFIX"] = env["CHANNEL_PREFIX"]
    env.setdefault("LOG_LEVEL", "WARNING")
    # As docs/operations.md advises without PgBouncer: with 0, every database hop of a join
    # opens a new PostgreSQL connection (a 1,000-socket storm took 7 s instead of 1.4 s).
    env.setdefault("CONN_MAX_AGE", "60")
    if spec.get("server") == "uvicorn" and args.uvicorn_path:
        env["PYTHONPATH"] = f"{args.uvicorn_path}:{env['PYTHONPATH']}"
    return env


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--listeners", type=int, default=1000)
    p.add_argument("--rate", type=float, default=20, help="events a second")
    p.add_argument("--seconds", type=float, default=10, help="length of each measured phase")
    p.add_argument(
        "--app",
        choices=sorted(APP_TARGETS),
        default="bench",
        help="bench: the bench's own small app (raw, stock-*, hub*); real: Roomtone's room "
        "consumer (raw, real) -- needs DATABASE_URL=postgres://... and REDIS_URL",
    )
    p.add_argument("--targets", default="", help=f"comma-separated, from {', '.join(TARGETS)}")
    p.add_argument("--uvicorn-path", default="", help="extra PYTHONPATH for real-uvicorn*")
    p.add_argument("--servers", type=int, default=2, help="daphne processes per Channels target")
    p.add_argument("--client-procs", type=int, default=2)
    p.add_argument("--slow", type=int, default=10, help="listeners that stop reading (0: skip)")
    p.add_argument("--sat-rate", type=float, default=100, help="saturation phase rate (0: skip)")
    p.add_argument("--sat-seconds", type=float, default=5)
    p.add_argument("--drain", type=float, default=3, help="seconds to wait after publishing")
    p.add_argument("--storm-seconds", type=float, default=10)
    p.add_argument("--snapshot-ms", type=float, default=2, help="simulated snapshot build time")
    p.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/7"))
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    p.add_argument("--docs", action="store_true", help="write the table into docs/benchmarks.md")
    args = p.parse_args()
    args.targets = args.targets or ",".join(APP_TARGETS[args.app])
    if args.uvicorn_path:
        sys.path.insert(0, args.uvicorn_path)  # for the versions in the machine notes
    raise_fd_limit()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, REDIS_URL=args.redis, BENCH_SNAPSHOT_MS=str(args.snapshot_ms))
    env["PYTHONPATH"] = str(ROOT)
    env["DJANGO_SETTINGS_MODULE"] = "bench.fanout.settings"
    command = "python bench/fanout/run.py " + " ".join(sys.argv[1:])
    notes = machine_notes()
    results = []
    for target in args.targets.split(","):
        print(f"{target}: {args.listeners} listeners ...", flush=True)
        results.append(run_target(target, args, env))
    notes["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    table = render(results, args, command, notes)
    print(table)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) / f"fanout-{args.listeners}-{stamp}"
    out.with_suffix(".json").write_text(
        json.dumps({"args": vars(args), "notes": notes, "results": results}, indent=1)
    )
    out.with_suffix(".md").write_text(table)
    if args.docs:
        label = f"{args.listeners} listeners" + (
            ", Roomtone room consumer" if args.app == "real" else ""
        )
        write_docs(ROOT / "docs" / "benchmarks.md", label, table)
    print(f"written: {out}.json, {out}.md" + (", docs/benchmarks.md" if args.docs else ""))


if __name__ == "__main__":
    main()
